"""Request-scoped dependencies: the database, the caller, the raw body."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from gateway.config import Settings
from gateway.services import auth
from gateway.store.session import Database

_bearer = HTTPBearer(auto_error=False, description="API key of a creditor entity: `Authorization: Bearer gw_...`")
_header = APIKeyHeader(name="X-API-Key", auto_error=False)


def database(request: Request) -> Database:
    return request.app.state.database


def settings(request: Request) -> Settings:
    return request.app.state.settings


def principal(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header_key: Annotated[str | None, Depends(_header)],
) -> auth.Principal:
    presented = bearer.credentials if bearer else header_key
    with request.app.state.database.session_scope() as session:
        return auth.authenticate(session, presented)


async def raw_body(request: Request) -> bytes:
    return await request.body()


DatabaseDep = Annotated[Database, Depends(database)]
SettingsDep = Annotated[Settings, Depends(settings)]
PrincipalDep = Annotated[auth.Principal, Depends(principal)]
RawBody = Annotated[bytes, Depends(raw_body)]
