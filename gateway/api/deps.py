"""Request-scoped dependencies: the database, the caller, the raw body.

Failed API-key authentication is rate limited per client address: more than
API_KEY_FAILURES_PER_ADDRESS failures (a key presented and refused) in
API_KEY_FAILURE_WINDOW_SECONDS, and every request from that address gets 429 with Retry-After
until the oldest failure leaves the window; while limited, the presented key is not looked up
(even a valid one), so guessing gains nothing. Successful requests and requests without any key
are not counted, and a success does not clear earlier failures (one valid key must not buy
unlimited guesses at others). The window lives in process memory, per API process (as for the
admin sign-in); behind a reverse proxy every client shares the proxy's address.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from gateway.config import Settings
from gateway.errors import GatewayError
from gateway.kit.ratelimit import RateLimiter
from gateway.services import auth
from gateway.store.session import Database

_bearer = HTTPBearer(auto_error=False, description="API key of a creditor entity: `Authorization: Bearer gw_...`")
_header = APIKeyHeader(name="X-API-Key", auto_error=False)


def database(request: Request) -> Database:
    return request.app.state.database


def settings(request: Request) -> Settings:
    return request.app.state.settings


API_KEY_FAILURES_PER_ADDRESS = 30
API_KEY_FAILURE_WINDOW_SECONDS = 15 * 60
# For the OpenAPI document of every route that takes an API key.
AUTH_RESPONSES = {
    401: {"description": "missing or invalid API key"},
    429: {"description": f"more than {API_KEY_FAILURES_PER_ADDRESS} failed API-key authentications from this address in {API_KEY_FAILURE_WINDOW_SECONDS // 60} minutes; see Retry-After"},
}


class TooManyFailedAuthentications(GatewayError):
    status_code = 429
    problem_type = "https://gateway.example/problems/too-many-failed-authentications"
    title = "Too many failed API-key authentications"

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(
            f"more than {API_KEY_FAILURES_PER_ADDRESS} failed API-key authentications from this address in "
            f"{API_KEY_FAILURE_WINDOW_SECONDS // 60} minutes; the key is not checked for {retry_after_seconds} s"
        )
        self.headers = {"Retry-After": str(retry_after_seconds)}


def api_key_failure_limiter(clock: Callable[[], float] = time.monotonic) -> RateLimiter:
    return RateLimiter(API_KEY_FAILURES_PER_ADDRESS, API_KEY_FAILURE_WINDOW_SECONDS, clock=clock)


_limiter_lock = threading.Lock()


def api_key_failures(app) -> RateLimiter:
    """One limiter per application (tests build many apps in one process and may set their own)."""
    with _limiter_lock:
        if not hasattr(app.state, "api_key_failures"):
            app.state.api_key_failures = api_key_failure_limiter()
        return app.state.api_key_failures


def principal(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header_key: Annotated[str | None, Depends(_header)],
) -> auth.Principal:
    presented = bearer.credentials if bearer else header_key
    failures = api_key_failures(request.app)
    address = request.client.host if request.client else "unknown"
    verdict = failures.peek(address)
    if not verdict.allowed:
        raise TooManyFailedAuthentications(verdict.retry_after_seconds)
    try:
        with request.app.state.database.session_scope() as session:
            return auth.authenticate(session, presented)
    except auth.Unauthorized:
        if presented:  # a key was tried and refused; a request without one guesses nothing
            failures.hit(address)
        raise


async def raw_body(request: Request) -> bytes:
    return await request.body()


DatabaseDep = Annotated[Database, Depends(database)]
SettingsDep = Annotated[Settings, Depends(settings)]
PrincipalDep = Annotated[auth.Principal, Depends(principal)]
RawBody = Annotated[bytes, Depends(raw_body)]
