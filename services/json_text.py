"""JSON text for the database's JSON columns and for log lines, made by orjson.

Why: ``json.dumps`` (the standard library's, which SQLAlchemy uses for a JSON column
and our log formatter used) is Python code around a C core; a new case made six such
texts (its major reasons, its history entry's and audit row's details, its log line,
...). With orjson the case costs 4.0% fewer instructions (``bench.instructions``,
2026-12-05: ~2,564,800 -> ~2,461,000; the columns about 3.0% of it, the log line 0.7%).

What differs from ``json.dumps``, and why that is fine here:

- compact (``{"a":1}``): Postgres's ``jsonb`` keeps no spacing, and log readers parse;
- non-ASCII characters as UTF-8, not ``\\u`` escapes (as the log formatter already did);
- NaN and infinities become ``null`` (``json.dumps`` wrote ``NaN``, which is not JSON
  and which ``jsonb`` refuses);
- dict keys that are not strings are written as strings (``OPT_NON_STR_KEYS``), as
  ``json.dumps`` did;
- dates, times and UUIDs are written as ISO 8601 and canonical text, where
  ``json.dumps`` raised: for a column nothing relied on that error;
- integers beyond 64 bits are refused (a ``TypeError``); no column holds one.
"""

from __future__ import annotations

from typing import Any

import orjson

_OPTIONS = orjson.OPT_NON_STR_KEYS


def dumps(value: Any) -> str:
    """``value`` as JSON text; a value with no JSON form is a ``TypeError``."""
    return orjson.dumps(value, option=_OPTIONS).decode()


def dumps_any(value: Any) -> str:
    """``value`` as JSON text, anything without a JSON form written as its ``str``: a
    log line is never lost to a value it carries."""
    return orjson.dumps(value, default=str, option=_OPTIONS).decode()
