"""Refuse oversized request bodies before they are read into memory."""

from __future__ import annotations

import json

from gateway.api.errors import PROBLEM_JSON, problem_body


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
