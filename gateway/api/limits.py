"""Request limits: oversized bodies refused before they are read into memory, and NUL characters
refused in what reaches the database as text.

PostgreSQL text cannot hold U+0000 (SQLite can): a query parameter, path segment or JSON string
carrying one made psycopg raise DataError, a 500, on PostgreSQL only (found by schemathesis on
PostgreSQL, tests/security/test_api_fuzz.py). `refuse_nul` answers 422 with the field and rule
`text.nul` on both stores instead: query and path everywhere, JSON bodies of the API (`/v1/`,
whose write routes all read their body anyway). Form bodies of the admin and personal pages are
not read here (some routes deliberately read none); a NUL that reaches PostgreSQL from one is
answered 422 `text.nul` by the error handler (gateway/api/errors.py), the transaction rolled back.
Provider callbacks are left alone: their body is kept as bytes and only read after its signature
verifies.
"""

from __future__ import annotations

import json
import re

from fastapi import Request

from gateway.api.errors import PROBLEM_JSON, problem_body
from gateway.errors import InvalidInput

NUL = "\x00"
# A JSON string escape for U+0000: an odd number of backslashes before u0000 (an even number is an
# escaped backslash followed by the text "u0000"). A raw NUL byte is not valid JSON at all.
_JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


def _refused(field: str) -> InvalidInput:
    return InvalidInput.single(field, "text.nul", f"{field} contains the NUL character (U+0000), which no text field may hold")


async def refuse_nul(request: Request) -> None:
    """An application-wide dependency: 422 `text.nul` for a NUL in the query, the path or an API JSON body."""
    if request.url.path.startswith("/v1/callbacks/"):
        return  # signed raw bodies, stored as bytes; an unknown endpoint name is a 404 before any query
    for name, value in request.query_params.multi_items():
        if NUL in name or NUL in value:
            raise _refused(f"query.{name.replace(NUL, '?')}")
    for name, value in request.path_params.items():
        if isinstance(value, str) and NUL in value:
            raise _refused(f"path.{name}")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if request.url.path.startswith("/v1/") and (content_type == "application/json" or content_type.endswith("+json")):
        body = await request.body()  # cached by Starlette: the route reads the same bytes
        if _JSON_NUL.search(body):
            raise _refused(_json_path(body))


def _json_path(body: bytes) -> str:
    """The dotted path of the first string holding a NUL (`debtor.name`, `lines.0.description`)."""
    try:
        document = json.loads(body)
    except ValueError:
        return "body"
    stack: list[tuple[str, object]] = [("", document)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str) and NUL in value:
            return path or "body"
        if isinstance(value, dict):
            for key, item in reversed(list(value.items())):
                if NUL in key:
                    return f"{path}.{key.replace(NUL, '?')}".lstrip(".")
                stack.append((f"{path}.{key}".lstrip("."), item))
        elif isinstance(value, list):
            stack.extend((f"{path}.{index}".lstrip("."), item) for index, item in reversed(list(enumerate(value))))
    return "body"


class BodySizeLimit:
    """Pure ASGI middleware: 413 when Content-Length or the streamed body exceeds `max_bytes`."""

    def __init__(self, app, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await self._refuse(scope, send)
        received = 0
        too_large = False

        async def limited_receive():
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    too_large = True
                    raise BodyTooLarge()
            return message

        response_started = False

        async def guarded_send(message):
            nonlocal response_started
            # FastAPI reads a pydantic body itself and turns any error while reading, ours
            # included, into a 400 "error parsing the body": once the limit is crossed, the
            # app's own answer is dropped and the 413 goes out instead.
            if too_large:
                return
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except BodyTooLarge:
            pass
        if too_large and not response_started:
            await self._refuse(scope, send)

    async def _refuse(self, scope, send) -> None:
        body = json.dumps(
            problem_body(413, "Request body too large", f"the limit is {self.max_bytes} bytes", problem_type="https://gateway.example/problems/too-large", instance=scope.get("path"))
        ).encode()
        await send({"type": "http.response.start", "status": 413, "headers": [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class BodyTooLarge(Exception):
    pass
