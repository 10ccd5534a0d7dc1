"""`gateway import claims`: JSON lines or CSV into the same intake as the API.

CSV has one row per claim line; consecutive rows with the same `number` form one claim. Each
claim is validated and stored on its own (a savepoint), so a refused row never blocks the rest.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy import select

from gateway.api.errors import invalid_input_from
from gateway.api.payloads import ClaimIn
from gateway.config import Settings
from gateway.errors import GatewayError, NotFound
from gateway.kit.time import utc_now
from gateway.services.auth import Principal
from gateway.services.claims import create_claims
from gateway.store.models import CreditorEntity
from gateway.store.session import Database

COMMIT_EVERY = 200  # rows per transaction: bounded lock time on SQLite, few commits on large files

CLAIM_COLUMNS = ("number", "type", "fiscal", "currency", "issue_date", "due_date", "structured_communication", "buyer_reference", "order_reference", "note")
DEBTOR_COLUMNS = ("external_id", "kind", "name", "enterprise_number", "vat_number", "peppol_id", "national_register_number", "language")
ADDRESS_COLUMNS = ("street", "postal_code", "city", "country")
LINE_COLUMNS = ("description", "quantity", "unit_code", "unit_price", "vat_category", "vat_rate", "exemption_reason_code", "exemption_reason")


@dataclass(frozen=True)
class Refused:
    row: int
    reason: str


@dataclass
class ImportSummary:
    accepted: int = 0
    refused: list[Refused] = field(default_factory=list)


def read_rows(path: Path, file_format: str = "auto") -> list[tuple[int, dict]]:
    """(first line number, claim payload) pairs."""
    if file_format == "auto":
        file_format = "csv" if path.suffix.lower() == ".csv" else "jsonl"
    if file_format == "jsonl":
        rows = []
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if line.strip():
                try:
                    rows.append((number, json.loads(line)))
                except json.JSONDecodeError as exc:
                    rows.append((number, {"__error__": f"not valid JSON: {exc.msg}"}))
        return rows
    return _csv_claims(path)


def _csv_claims(path: Path) -> list[tuple[int, dict]]:
    claims: list[tuple[int, dict]] = []
    with path.open(newline="", encoding="utf-8-sig") as handle:
        for number, row in enumerate(csv.DictReader(handle), start=2):
            row = {key: (value.strip() if isinstance(value, str) else value) for key, value in row.items() if key}
            line = {column: row[f"line_{column}"] for column in LINE_COLUMNS if row.get(f"line_{column}")}
            if claims and claims[-1][1].get("number") == row.get("number"):
                claims[-1][1]["lines"].append(line)
                continue
            claim = {column: row[column] for column in CLAIM_COLUMNS if row.get(column)}
            if "fiscal" in claim:
                claim["fiscal"] = claim["fiscal"].lower() in ("1", "true", "yes", "ja", "oui")
            debtor = {column: row[f"debtor_{column}"] for column in DEBTOR_COLUMNS if row.get(f"debtor_{column}")}
            debtor["address"] = {column: row[f"debtor_{column}"] for column in ADDRESS_COLUMNS if row.get(f"debtor_{column}")}
            debtor["contacts"] = [{"kind": kind, "value": row[f"debtor_{kind}"]} for kind in ("email", "phone") if row.get(f"debtor_{kind}")]
            if row.get("debtor_email_consent_date"):
                debtor["consents"] = [{"channel": "email", "given": True, "date": row["debtor_email_consent_date"], "source": row.get("debtor_email_consent_source") or "import"}]
            claim["debtor"] = debtor
            claim["lines"] = [line]
            claims.append((number, claim))
    return claims


def import_rows(settings: Settings, creditor_code: str, rows: list[tuple[int, dict]], *, progress: Callable[[int], None] = lambda n: None) -> ImportSummary:
    database = Database(settings.database_url)
    summary = ImportSummary()
    try:
        with database.session_scope() as session:
            creditor = session.scalar(select(CreditorEntity).where(CreditorEntity.code == creditor_code))
            if creditor is None:
                raise NotFound(f"no creditor entity with code {creditor_code!r}")
            principal = Principal(key_id=creditor.id, creditor_id=creditor.id, visible_creditor_ids=frozenset({creditor.id}), actor="cli:import")
        for start in range(0, len(rows), COMMIT_EVERY):
            chunk = rows[start : start + COMMIT_EVERY]
            with database.session_scope() as session:
                for (row_number, _), reason in zip(chunk, _import_chunk(session, principal, chunk)):
                    if reason is None:
                        summary.accepted += 1
                    else:
                        summary.refused.append(Refused(row_number, reason))
            progress(len(chunk))
    finally:
        database.dispose()
    return summary


def _import_chunk(session, principal: Principal, chunk: list[tuple[int, dict]]) -> list[str | None]:
    """The refusal reason per row (None when stored), through the same intake as the API."""
    reasons: list[str | None] = [None] * len(chunk)
    valid: list[tuple[int, ClaimIn]] = []
    for position, (_, payload) in enumerate(chunk):
        if "__error__" in payload:
            reasons[position] = payload["__error__"]
            continue
        try:
            valid.append((position, ClaimIn.model_validate(payload)))
        except ValidationError as exc:
            reasons[position] = "; ".join(f"{p.field}: {p.rule}: {p.message}" for p in invalid_input_from(exc).problems)
    outcomes = create_claims(session, principal, [claim for _, claim in valid], now=utc_now())
    for (position, _), outcome in zip(valid, outcomes):
        if isinstance(outcome, GatewayError):
            details = "; ".join(f"{p.field}: {p.rule}" for p in outcome.problems)
            reasons[position] = outcome.message + (f" ({details})" if details else "")
    return reasons
