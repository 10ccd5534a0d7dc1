"""Provider callbacks: verify on the raw body, store in the inbox, answer 2xx. No business logic."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from gateway.api.deps import RawBody
from gateway.channels.base import CallbackRejected
from gateway.delivery import inbox
from gateway.errors import GatewayError, NotFound
from gateway.kit.time import utc_now

router = APIRouter(prefix="/v1/callbacks", tags=["callbacks"])


class CallbackRefused(GatewayError):
    status_code = 401
    problem_type = "https://gateway.example/problems/callback-refused"
    title = "Callback signature or timestamp does not verify"


# A provider's answer is one of these (besides 202); documented so clients and fuzzers know them.
RESPONSES = {401: {"description": "signature or timestamp does not verify; nothing stored"}, 404: {"description": "no callback endpoint of that name"}, 413: {"description": "body too large"}}


@router.post("/{source}", status_code=202, summary="A provider's delivery report (verified, stored once, applied by a worker)", responses=RESPONSES)
def receive_callback(source: str, request: Request, body: RawBody) -> JSONResponse:
    return _receive(source, request, body)


@router.post("/{channel}/{topic}", status_code=202, summary="A provider's report on a topic, e.g. /v1/callbacks/email/bounce (source `email/bounce`)", responses=RESPONSES)
def receive_topic_callback(channel: str, topic: str, request: Request, body: RawBody) -> JSONResponse:
    return _receive(f"{channel}/{topic}", request, body)


def _receive(source: str, request: Request, body: bytes) -> JSONResponse:
    verifier = request.app.state.providers.verifiers.get(source)
    if verifier is None:
        raise NotFound(f"no callback endpoint {source!r}")
    headers = {name.lower(): value for name, value in request.headers.items()}
    now = utc_now()
    try:
        events = verifier.verify_callback(headers, body, now)
    except CallbackRejected as exc:
        raise CallbackRefused(str(exc)) from exc
    created = request.app.state.inbox_writer.store(inbox.Arrival(source, tuple(events), headers, body, now))
    return JSONResponse({"stored": created, "duplicates": len(events) - created}, status_code=202)
