"""Key rotation of personal data at rest, in the background.

To rotate: put the new key first in ``FIELD_ENCRYPTION_KEY`` (``new,old``) and
restart. New values are written with the new key at once; this worker re-encrypts
what was written before, page by page, each page in its own transaction, while
the service serves (reads decrypt with either key). ``/readyz`` shows the progress
(``key_rotation``); when it says ``done``, the old key can be removed.

Each service names its encrypted columns (``ServiceSpec.encrypted``). Two replicas
rotating at once are harmless: both write a value under the newest key.
The keyed hash (``FIELD_HASH_KEY``) is not rotated this way: the stored hashes are
the index the lookups use; changing it needs a re-hash from the decrypted values
during a maintenance window (not built yet).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from services.crypto import FieldCipher
from services.runtime import Runtime

log = logging.getLogger(__name__)
PAGE = 500


async def key_rotation_worker(runtime: Runtime) -> None:
    cipher = runtime.cipher
    if cipher is None or cipher.key_count < 2 or not runtime.spec.encrypted:
        return
    status: dict[str, Any] = {"state": "running", "rows_rotated": 0}
    runtime.key_rotation = status
    for table, key, columns in runtime.spec.encrypted:
        status["rows_rotated"] += await _rotate_table(runtime, cipher, table, key, columns)
    status["state"] = "done"
    log.info("key rotation done; the old key can be removed", extra={"rows": status["rows_rotated"]})


async def _rotate_table(runtime: Runtime, cipher: FieldCipher, table: Any, key: str, columns: list[str]) -> int:
    rotated, after = 0, None
    pk = table.c[key]
    while True:
        async with runtime.db.session() as session:
            query = select(pk, *(table.c[c] for c in columns)).order_by(pk).limit(PAGE)
            if after is not None:
                query = query.where(pk > after)
            rows = (await session.execute(query)).all()
            for row in rows:
                values = {
                    c: cipher.rotate(getattr(row, c))
                    for c in columns
                    if getattr(row, c) and not cipher.is_current(getattr(row, c))
                }
                if values:
                    await session.execute(table.update().where(pk == getattr(row, key)).values(**values))
                    rotated += 1
            await session.commit()
        if len(rows) < PAGE:
            return rotated
        after = getattr(rows[-1], key)
