"""`Idempotency-Key`: the same key and body replay the first response; another body is a 409."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.errors import Conflict, FieldProblem
from gateway.store.models import IdempotencyRecord


@dataclass(frozen=True)
class StoredResponse:
    status_code: int
    body: dict


def body_hash(method_path: str, body: bytes) -> str:
    return hashlib.sha256(method_path.encode() + b"\n" + body).hexdigest()


def replay(session: Session, creditor_id: uuid.UUID, key: str, method_path: str, body: bytes) -> StoredResponse | None:
    record = session.scalar(select(IdempotencyRecord).where(IdempotencyRecord.creditor_id == creditor_id, IdempotencyRecord.key == key))
    if record is None:
        return None
    if record.method_path != method_path or record.request_hash != body_hash(method_path, body):
        raise Conflict(
            "this Idempotency-Key was used with another request",
            problems=[FieldProblem("Idempotency-Key", "idempotency.key_reused", "use a new key for a different request body")],
        )
    return StoredResponse(record.status_code, record.response_body)


def remember(session: Session, creditor_id: uuid.UUID, key: str, method_path: str, body: bytes, response: StoredResponse, *, now) -> None:
    session.add(
        IdempotencyRecord(
            creditor_id=creditor_id, key=key, method_path=method_path, request_hash=body_hash(method_path, body),
            status_code=response.status_code, response_body=response.body, created_at=now,
        )
    )
