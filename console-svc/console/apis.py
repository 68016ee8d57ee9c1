"""The four services' APIs, called with the signed-in person's own token.

The console has no rights of its own: every read and every action goes to the service
that owns it, as the person, so a page never shows what the API would refuse. An
answer the page cannot use becomes an ``ApiRefused`` (401, 403, 404, 409, 422) or an
``ApiUnavailable`` (the service did not answer, or answered 5xx), which the pages turn
into the matching page or notice.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any, TypeVar

import httpx

from services.logging import correlation_id

T = TypeVar("T")


async def answered(value: T) -> T:
    """A part of a page the person's roles leave out, in place of its API call in a gather."""
    return value


def _what_is_wrong(answer: httpx.Response) -> Any:
    """From an API's problem (``services.problems``), what a page shows: the bad fields of
    a 422, or the sentence with the actions allowed now of a lifecycle 409, or the sentence."""
    try:
        problem = answer.json()
    except ValueError:
        return answer.text[:200]
    if problem.get("errors"):
        return problem["errors"]
    if problem.get("allowed_actions") is not None:
        return {"message": problem.get("detail"), "allowed_actions": problem["allowed_actions"]}
    return problem.get("detail")


class ApiRefused(Exception):
    def __init__(self, service: str, status: int, detail: Any) -> None:
        super().__init__(f"{service} answered {status}")
        self.service, self.status, self.detail = service, status, detail


class ApiUnavailable(Exception):
    def __init__(self, service: str, reason: str) -> None:
        super().__init__(f"{service} unavailable: {reason}")
        self.service = service


class Apis:
    def __init__(self, urls: dict[str, str], timeout: float) -> None:
        self.urls = urls
        self.client = httpx.AsyncClient(timeout=timeout, follow_redirects=False)

    async def close(self) -> None:
        await self.client.aclose()

    async def call(
        self,
        service: str,
        method: str,
        path: str,
        token: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        headers = {"Authorization": f"Bearer {token}", **_correlation(), **(headers or {})}
        try:
            answer = await self.client.request(
                method, self.urls[service] + path, params=params, json=body, headers=headers
            )
        except httpx.HTTPError as exc:
            raise ApiUnavailable(service, type(exc).__name__) from exc
        if answer.status_code >= 500:
            raise ApiUnavailable(service, str(answer.status_code))
        if answer.status_code >= 400:
            raise ApiRefused(service, answer.status_code, _what_is_wrong(answer))
        return answer.json() if answer.content else None

    async def get(self, service: str, path: str, token: str, **params: Any) -> Any:
        return await self.call(service, "GET", path, token, params={k: v for k, v in params.items() if v is not None})

    async def optional(self, service: str, path: str, token: str, **params: Any) -> Any:
        """A part of a page the person's roles may not see: None instead of the 403."""
        try:
            return await self.get(service, path, token, **params)
        except ApiRefused as refused:
            if refused.status in (403, 404):
                return None
            raise

    async def gather(self, *calls: Any) -> list[Any]:
        return list(await asyncio.gather(*calls))

    async def feed(self, token: str, after: int | None) -> AsyncIterator[str]:
        """notify's live feed, re-sent as plain messages: each event's name goes into its
        data, so the page needs one listener (``onmessage``) for every kind of event."""
        headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
        params = {"after": after} if after else None
        async with self.client.stream(
            "GET", self.urls["notify"] + "/v1/feed", headers=headers, params=params, timeout=None
        ) as answer:
            if answer.status_code != 200:
                raise ApiRefused("notify", answer.status_code, None)
            event: dict[str, str] = {}
            async for line in answer.aiter_lines():
                if line == "":
                    if "data" in event:
                        yield _message(event)
                    event = {}
                elif line.startswith(":"):
                    yield ": keep-alive\n\n"
                elif ":" in line:
                    name, _, value = line.partition(":")
                    event[name] = value.removeprefix(" ")


def _correlation() -> dict[str, str]:
    """The request's correlation id goes on to the API, so one id follows a click."""
    cid = correlation_id.get()
    return {"X-Correlation-Id": cid} if cid else {}


def _message(event: dict[str, str]) -> str:
    data = json.loads(event["data"])
    data["event"] = event.get("event", "message")
    head = f"id: {event['id']}\n" if "id" in event else ""
    return head + "data: " + json.dumps(data, ensure_ascii=False) + "\n\n"
