"""Webhook endpoints of the key's own creditor entities: `GET/POST /v1/webhook-endpoints`,
`DELETE /v1/webhook-endpoints/{id}`, `POST .../{id}/disable` and `.../{id}/enable`.

A key sees and changes only endpoints of the entities it may see (its own, and its children with
`includes_children`); another creditor's endpoint is a 404, another creditor named in a POST is
refused as `creditor.unknown`, exactly as for claims. The secret is in the POST answer only.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from gateway.api.deps import DatabaseDep, PrincipalDep
from gateway.errors import InvalidInput
from gateway.kit.time import utc_now
from gateway.services import webhook_endpoints
from gateway.services.auth import Principal
from gateway.store.models import CreditorEntity

router = APIRouter(prefix="/v1", tags=["webhooks"])
ERRORS = {400: {"description": "malformed body"}, 401: {"description": "missing or invalid API key"}, 404: {"description": "not found"}, 422: {"description": "a field breaks a rule"}}


class EndpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    url: Annotated[str, Field(min_length=1, max_length=webhook_endpoints.MAX_URL_CHARS, description="where events are POSTed, http(s)")]
    creditor: str | None = Field(default=None, description="code of the creditor entity (default: the key's own)")


def _codes(session, principal: Principal) -> dict[uuid.UUID, str]:
    rows = session.execute(select(CreditorEntity.id, CreditorEntity.code).where(CreditorEntity.id.in_(list(principal.visible_creditor_ids))))
    return dict(rows.all())


def _creditor(session, principal: Principal, code: str | None) -> CreditorEntity:
    creditor = session.get(CreditorEntity, principal.creditor_id) if code is None else session.scalar(select(CreditorEntity).where(CreditorEntity.code == code))
    if creditor is None or creditor.id not in principal.visible_creditor_ids:
        # Unknown and not-yours look the same: a key learns nothing about other creditors.
        raise InvalidInput.single("creditor", "creditor.unknown", f"no creditor entity {code!r} for this API key")
    return creditor


@router.get("/webhook-endpoints", summary="Webhook endpoints of the key's creditor entities (never their secrets)", responses=ERRORS)
def list_endpoints(database: DatabaseDep, principal: PrincipalDep) -> dict:
    with database.session_scope() as session:
        codes = _codes(session, principal)
        return {"items": [webhook_endpoints.view(e, codes[e.creditor_id]) for e in webhook_endpoints.listed(session, principal.visible_creditor_ids)]}


@router.post("/webhook-endpoints", status_code=201, summary="Add a webhook endpoint; the answer carries its signing secret, once", responses=ERRORS)
def add_endpoint(body: EndpointIn, database: DatabaseDep, principal: PrincipalDep) -> JSONResponse:
    with database.session_scope() as session:
        creditor = _creditor(session, principal, body.creditor)
        endpoint = webhook_endpoints.add(session, creditor, body.url, actor=principal.actor, now=utc_now())
        payload = {**webhook_endpoints.view(endpoint, creditor.code), "secret": endpoint.secret}
    return JSONResponse(payload, status_code=201)


def _change(database, principal: Principal, endpoint_id: uuid.UUID, change) -> dict:
    with database.session_scope() as session:
        endpoint = webhook_endpoints.visible(session, endpoint_id, principal.visible_creditor_ids)
        change(session, endpoint)
        return webhook_endpoints.view(endpoint, _codes(session, principal)[endpoint.creditor_id])


@router.post("/webhook-endpoints/{endpoint_id}/disable", summary="Stop sending to an endpoint (waiting deliveries are cancelled)", responses=ERRORS)
def disable_endpoint(endpoint_id: uuid.UUID, database: DatabaseDep, principal: PrincipalDep) -> dict:
    return _change(database, principal, endpoint_id, lambda s, e: webhook_endpoints.set_active(s, e, False, actor=principal.actor, now=utc_now()))


@router.post("/webhook-endpoints/{endpoint_id}/enable", summary="Send to an endpoint again, from the next event on", responses=ERRORS)
def enable_endpoint(endpoint_id: uuid.UUID, database: DatabaseDep, principal: PrincipalDep) -> dict:
    return _change(database, principal, endpoint_id, lambda s, e: webhook_endpoints.set_active(s, e, True, actor=principal.actor, now=utc_now()))


@router.delete("/webhook-endpoints/{endpoint_id}", status_code=204, summary="Remove an endpoint for good (its delivery history stays)", responses=ERRORS)
def remove_endpoint(endpoint_id: uuid.UUID, database: DatabaseDep, principal: PrincipalDep) -> Response:
    _change(database, principal, endpoint_id, lambda s, e: webhook_endpoints.remove(s, e, actor=principal.actor, now=utc_now()))
    return Response(status_code=204)
