"""Rendering: one Jinja2 environment, and the headers every page carries.

Pages are rendered on the server (decision 0015): no build step, no framework in
the browser, one small script for the live board. The Content-Security-Policy allows
nothing but this origin's own files: no inline script or style, no other origin, no
framing, forms posting only here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.responses import HTMLResponse

from console import words
from console.sessions import Person
from shared.auth import permissions_of

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
#: Pages show case data: never cached, never framed, and said to be what they are.
PAGE_HEADERS = {"Content-Security-Policy": CSP, "Cache-Control": "no-store"}

ENV = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,  # a name a page forgot to pass fails its test, not silently
    trim_blocks=True,
    lstrip_blocks=True,
)
ENV.globals.update(left_words=words.left_words, used_words=words.used_words, local_time=words.local_time)


def render(template: str, person: Person | None, locale: str, status: int = 200, **context: Any) -> HTMLResponse:
    def t(name: str) -> str:
        return words.translate(locale, name)

    may = permissions_of(person.roles) if person else frozenset()
    html = ENV.get_template(template).render(t=t, person=person, person_may=may, locale=locale, **context)
    return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)
