"""Claims API for accounting software. Routes validate, call a service, and commit the scope."""

from __future__ import annotations

import base64
import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from gateway.api import views
from gateway.api.deps import AUTH_RESPONSES, DatabaseDep, PrincipalDep, RawBody, SettingsDep
from gateway.api.errors import invalid_input_from, problem_body
from gateway.api.payloads import BatchIn, CancelIn, ClaimIn, CreditNoteIn, DebtorPatch, IsoDate, PaymentIn, line_to_domain
from gateway.domain.identifiers import IdentifierError, normalize_ogm
from gateway.errors import GatewayError, InvalidInput, NotFound
from gateway.kit.time import utc_now
from gateway.services import audit, documents
from gateway.services import claims as claim_service
from gateway.services import idempotency
from gateway.store.models import Document
from gateway.store.repositories.claims import ClaimRepository

router = APIRouter(prefix="/v1", tags=["claims"])

IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200, description="replays the first response for the same body")]
PROBLEM = {"model": None, "content": {"application/problem+json": {}}}
ERRORS = {400: {"description": "malformed body"}, **AUTH_RESPONSES, 404: {"description": "not found"}, 409: {"description": "conflict"}, 413: {"description": "body too large"}, 422: {"description": "a field breaks a rule"}}


def _parse(model, body: bytes, prefix: str = ""):
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise invalid_input_from(exc, prefix) from exc


def _with_idempotency(database, principal, key: str | None, method_path: str, body: bytes, work) -> JSONResponse:
    """Run `work(session) -> StoredResponse` once per (creditor, key); replay it afterwards."""
    with database.session_scope() as session:
        if key is not None and (stored := idempotency.replay(session, principal.creditor_id, key, method_path, body)) is not None:
            return JSONResponse(stored.body, status_code=stored.status_code, headers={"Idempotent-Replayed": "true"})
        response = work(session)
        if key is not None:
            idempotency.remember(session, principal.creditor_id, key, method_path, body, response, now=utc_now())
    return JSONResponse(response.body, status_code=response.status_code)


def _created_view(intake: claim_service.Intake, creditor_code: str) -> dict:
    return {**views.claim_summary(intake.claim, creditor_code), "warnings": views.warnings_view(intake.warnings)}


@router.post(
    "/claims",
    status_code=201,
    summary="Post one claim with its debtor and lines",
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ClaimIn"}, "examples": {"retribution": {"value": ClaimIn.model_config["json_schema_extra"]["examples"][0]}}}}}},
    responses=ERRORS,
)
def create_claim(database: DatabaseDep, principal: PrincipalDep, body: RawBody, idempotency_key: IdempotencyKey = None) -> JSONResponse:
    payload = _parse(ClaimIn, body)

    def work(session):
        intake = claim_service.create_claim(session, principal, payload, now=utc_now())
        creditor = ClaimRepository(session).creditor(intake.claim.creditor_id)
        return idempotency.StoredResponse(201, _created_view(intake, creditor.code))

    return _with_idempotency(database, principal, idempotency_key, "POST /v1/claims", body, work)


@router.post(
    "/claims/batch",
    summary="Post up to 1,000 claims; each is accepted or refused on its own",
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object", "required": ["claims"], "additionalProperties": False, "properties": {"claims": {"type": "array", "minItems": 1, "maxItems": 1000, "items": {"$ref": "#/components/schemas/ClaimIn"}}}}}}}},
    responses=ERRORS,
)
def create_claims_batch(database: DatabaseDep, settings: SettingsDep, principal: PrincipalDep, body: RawBody, idempotency_key: IdempotencyKey = None) -> JSONResponse:
    batch = _parse(BatchIn, body)
    limit = settings.max_batch_items
    if len(batch.claims) > limit:
        raise InvalidInput.single("claims", "batch.too_many_items", f"a batch holds at most {limit} claims, got {len(batch.claims)}")

    def work(session):
        results: list[dict | None] = [None] * len(batch.claims)
        valid: list[tuple[int, ClaimIn]] = []
        for index, item in enumerate(batch.claims):
            try:
                valid.append((index, ClaimIn.model_validate(item)))
            except ValidationError as exc:
                results[index] = _refused(index, invalid_input_from(exc, f"claims.{index}"))
        outcomes = claim_service.create_claims(session, principal, [payload for _, payload in valid], now=utc_now())
        codes = {creditor.id: creditor.code for creditor in ClaimRepository(session).creditors(principal.visible_creditor_ids).values()}
        for (index, _), outcome in zip(valid, outcomes):
            if isinstance(outcome, GatewayError):
                results[index] = _refused(index, outcome)
            else:
                results[index] = {"index": index, "status": "accepted", "claim": _created_view(outcome, codes[outcome.claim.creditor_id])}
        accepted = sum(1 for result in results if result["status"] == "accepted")
        return idempotency.StoredResponse(200, {"accepted": accepted, "refused": len(results) - accepted, "results": results})

    return _with_idempotency(database, principal, idempotency_key, "POST /v1/claims/batch", body, work)


def _refused(index: int, error: GatewayError) -> dict:
    return {"index": index, "status": "refused", "problem": problem_body(error.status_code, error.title, error.message, problem_type=error.problem_type, problems=error.problems)}


def _encode_cursor(claim_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(claim_id.bytes).decode().rstrip("=")


def _decode_cursor(cursor: str) -> uuid.UUID:
    try:
        return uuid.UUID(bytes=base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except ValueError as exc:
        raise InvalidInput.single("cursor", "cursor.invalid", "use the next_cursor value of a previous page") from exc


@router.get("/claims", summary="List claims with filters and cursor pagination", responses=ERRORS)
def list_claims(
    database: DatabaseDep,
    principal: PrincipalDep,
    status: Literal["open", "partially_paid", "paid", "disputed", "on_hold", "in_payment_plan", "escalated", "cancelled", "written_off"] | None = None,
    type: Literal["invoice", "rent", "lease", "retribution", "tax_assessment"] | None = None,
    debtor_id: uuid.UUID | None = None,
    number: str | None = None,
    structured_communication: str | None = None,
    due_before: IsoDate | None = None,
    due_after: IsoDate | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict:
    ogm = None
    if structured_communication is not None:
        try:
            ogm = normalize_ogm(structured_communication)
        except IdentifierError as exc:
            raise InvalidInput.single("structured_communication", exc.rule, exc.message) from exc
    with database.session_scope() as session:
        repo = ClaimRepository(session)
        rows = repo.list_claims(
            principal.visible_creditor_ids, after=_decode_cursor(cursor) if cursor else None, limit=limit + 1, status=status,
            debtor_id=debtor_id, due_before=due_before, due_after=due_after, number=number, structured_communication=ogm, claim_type=type,
        )
        page = rows[:limit]
        codes = {cid: c.code for cid, c in repo.creditors({row.creditor_id for row in page}).items()}
        return {
            "items": [views.claim_summary(row, codes[row.creditor_id]) for row in page],
            "next_cursor": _encode_cursor(page[-1].id) if len(rows) > limit else None,
        }


@router.get("/claims/{claim_id}", summary="A claim with its documents, dispatches, payments and history", responses=ERRORS)
def get_claim(claim_id: uuid.UUID, database: DatabaseDep, principal: PrincipalDep) -> dict:
    with database.session_scope() as session:
        return _detail(session, claim_service.get_claim(session, principal, claim_id))


def _detail(session, claim) -> dict:
    repo = ClaimRepository(session)
    dispatches = repo.dispatches(claim.id)
    return views.claim_detail(
        claim, repo.creditor(claim.creditor_id).code,
        debtor=repo.debtor_for(claim.debtor_id, frozenset({claim.creditor_id})),
        documents=repo.documents(claim.id), dispatches=dispatches, attempts=repo.attempts([d.id for d in dispatches]),
        payments=repo.payments(claim.id), history=repo.history([claim.id]),
    )


@router.post("/claims/{claim_id}/payments", status_code=201, summary="Book a payment on a claim", responses=ERRORS)
def add_payment(claim_id: uuid.UUID, payment: PaymentIn, database: DatabaseDep, principal: PrincipalDep) -> JSONResponse:
    with database.session_scope() as session:
        claim, row, created = claim_service.record_payment(session, principal, claim_id, payment, now=utc_now())
        body = {"payment": views.payment_view(row), "claim": views.claim_summary(claim, ClaimRepository(session).creditor(claim.creditor_id).code)}
    return JSONResponse(body, status_code=201 if created else 200)


@router.post("/claims/{claim_id}/cancel", summary="Cancel a claim (issued documents are corrected by credit notes)", responses=ERRORS)
def cancel_claim(claim_id: uuid.UUID, cancel: CancelIn, database: DatabaseDep, principal: PrincipalDep) -> dict:
    with database.session_scope() as session:
        claim = claim_service.cancel_claim(session, principal, claim_id, cancel.reason, now=utc_now())
        return views.claim_summary(claim, ClaimRepository(session).creditor(claim.creditor_id).code)


@router.get("/debtors/{debtor_id}", summary="A debtor with contacts and consents", tags=["debtors"], responses=ERRORS)
def get_debtor(debtor_id: uuid.UUID, database: DatabaseDep, principal: PrincipalDep) -> dict:
    with database.session_scope() as session:
        return views.debtor_view(claim_service.get_debtor(session, principal, debtor_id))


@router.patch("/debtors/{debtor_id}", summary="Update a debtor's contacts, consents, language or address", tags=["debtors"], responses=ERRORS)
def patch_debtor(debtor_id: uuid.UUID, patch: DebtorPatch, database: DatabaseDep, principal: PrincipalDep) -> dict:
    with database.session_scope() as session:
        debtor, warnings = claim_service.patch_debtor(session, principal, debtor_id, patch, now=utc_now())
        return {**views.debtor_view(debtor), "warnings": views.warnings_view(warnings)}


@router.post("/claims/{claim_id}/credit-notes", status_code=201, summary="Issue a credit note correcting the claim's invoice (in full, or for the given lines)", responses=ERRORS)
def credit_claim(claim_id: uuid.UUID, credit: CreditNoteIn, database: DatabaseDep, settings: SettingsDep, principal: PrincipalDep) -> JSONResponse:
    with database.session_scope() as session:
        claim = claim_service.get_claim(session, principal, claim_id)
        lines = [line_to_domain(line) for line in credit.lines] if credit.lines is not None else None
        issued = documents.issue_credit_note(session, claim, reason=credit.reason, lines=lines, now=utc_now(), standards_dir=settings.standards_dir)
        audit.record(
            session, actor=principal.actor, creditor_id=claim.creditor_id, entity_type="claim", entity_id=claim.id, action="credit_note.issued",
            data={"number": issued.document.number, "amount": issued.document.meta["payable"], "reason": credit.reason, "validation": issued.validation_status}, at=utc_now(),
        )
        body = {"document": views.document_view(issued.document), "validation": issued.document.meta["validation"], "claim": views.claim_summary(claim, ClaimRepository(session).creditor(claim.creditor_id).code)}
    return JSONResponse(body, status_code=201)


@router.get("/documents/{document_id}", summary="Download an issued document (UBL XML)", tags=["documents"], responses=ERRORS)
def download_document(document_id: uuid.UUID, database: DatabaseDep, principal: PrincipalDep) -> Response:
    with database.session_scope() as session:
        document = session.get(Document, document_id)
        if document is None or document.creditor_id not in principal.visible_creditor_ids:
            raise NotFound(f"no document {document_id}")
        return Response(document.content, media_type=document.media_type, headers={"Content-Disposition": f'attachment; filename="{document.number}.xml"', "X-Document-SHA256": document.sha256})
