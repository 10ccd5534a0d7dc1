"""The claim page's timeline: every event of a claim, each shown once, in time order.

Pure: stored rows in, entries out. Each entry names its kind (claim, document, dispatch,
attempt, callback, dunning, hold, payment, audit), a message key of `gateway.web.i18n` with its
arguments (the page translates), the facts (title, state, detail) and its downloads.

What a row of its own already shows is not repeated from the audit trail: a payment is its
payment row (not also `payment.recorded`), an issued document its document row (not also
`document.issued`), the claim its claim row (not also `claim.created`). Callbacks (`dispatch.reported`), dunning decisions with their reason, and
holds come from the audit trail; a dunning escalation takes its reason from the recorded step.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from gateway.store.models import AuditEvent, Claim, Dispatch, DispatchAttempt, Document, DunningStep, Payment

SUPERSEDED = "dispatch.superseded"
SHOWN_BY_THEIR_OWN_ROW = frozenset({"claim.created", "payment.recorded", "document.issued"})
CALLBACK_ACTIONS = frozenset({"dispatch.reported"})
DUNNING_ACTIONS = frozenset({
    "dunning.step_decided", "dunning.escalated", "dunning.step_ready", "dunning.step_cancelled", "dunning.dispatch_attached", "dunning.refused",
    "escalation.approved", "payment_plan.granted",
})
HOLD_ACTIONS = frozenset({"hold.added", "hold.ended", "hold.lapsed"})
# Ties at one instant keep this order: the claim, its documents, dispatches, tries, then the trail and payments.
RANK = {"claim": 0, "document": 1, "dispatch": 2, "attempt": 3, "callback": 4, "dunning": 4, "hold": 4, "audit": 4, "payment": 5}
# The worker routes a claim, then issues its document, in one transaction (one instant): routing first.
BEFORE_DOCUMENTS = frozenset({"claim.routed"})
# Audit data keys shown as "label: value" under an event of the trail; ids are left out (the page links what matters).
CLAIM_STATUSES = frozenset({"open", "partially_paid", "paid", "disputed", "on_hold", "in_payment_plan", "escalated", "cancelled", "written_off"})
HIDDEN_KEYS = frozenset({"dedup_key", "entry_id", "hold_id", "plan_id", "step_id", "document_id", "dispatch_id", "failed_dispatch_id", "new_dispatch", "failed_dispatch", "by"})


@dataclass(frozen=True)
class Fact:
    """One "label: value" under an event; `keys` are message keys shown translated (joined by an arrow) instead of `value`."""

    label: str | None
    value: str = ""
    keys: tuple[str, ...] = ()


def _facts(data: dict, skip: frozenset[str] = frozenset()) -> list[Fact]:
    """The audit data worth reading: no ids, no empty values; a status change as one fact (open → disputed)."""
    facts = []
    for key, value in data.items():
        if key in HIDDEN_KEYS or key in skip or value in (None, "", []):
            continue
        if key == "from" and "to" in data and data["from"] in CLAIM_STATUSES:
            facts.append(Fact("audit.key.status", keys=(f"status.{data['from']}", f"status.{data['to']}")))
        elif key == "to" and data.get("from") in CLAIM_STATUSES:
            continue
        elif key in ("channel", "failed_channel"):
            facts.append(Fact(f"audit.key.{key}", keys=(f"channel.{value}",)))
        else:
            facts.append(Fact(f"audit.key.{key}", ", ".join(map(str, value)) if isinstance(value, list) else str(value)))
    return facts


@dataclass
class Entry:
    at: datetime
    kind: str
    label: str  # message key
    args: dict = field(default_factory=dict)  # the message's arguments
    title: str = ""
    state: str | None = None
    detail: list[Fact] = field(default_factory=list)
    downloads: list[tuple[str, str]] = field(default_factory=list)  # (label, href)
    id: str | None = None
    superseded: bool = False
    order: int = 0


def build(
    claim: Claim, documents: Iterable[Document], dispatches: Iterable[Dispatch], attempts: Iterable[DispatchAttempt], history: Iterable[AuditEvent],
    payments: Iterable[Payment], *, steps: Mapping[str, DunningStep], pdf_documents: frozenset,
) -> list[Entry]:
    """`steps`: the claim's dunning steps by dedup key; `pdf_documents`: ids of the documents that have a PDF to download."""
    history = list(history)
    superseded = {event.entity_id for event in history if event.action == SUPERSEDED}
    documents = list(documents)
    numbers = {document.id: document.number for document in documents}
    entries = [Entry(claim.created_at, "claim", "claim.event.claim", title=claim.number,
                     detail=[Fact(None, keys=(f"claim_type.{claim.claim_type}",)), Fact(None, f"{claim.total_amount} {claim.currency}")])]
    for document in documents:
        validation = (document.meta or {}).get("validation", {}).get("status")
        downloads = [("UBL" if "xml" in document.media_type else "PDF", f"/admin/documents/{document.id}")]
        if document.id in pdf_documents and "pdf" not in document.media_type:
            downloads.append(("PDF", f"/admin/documents/{document.id}/pdf"))
        entries.append(Entry(
            document.issued_at, "document", "claim.event.document", {"kind_key": f"document.kind.{document.kind}"}, title=document.number, id=str(document.id), downloads=downloads,
            detail=[Fact("claim.validation", keys=(f"validation.{validation}",))] if validation else [],
        ))
    for dispatch in dispatches:
        entries.append(Entry(
            dispatch.created_at, "dispatch", "claim.event.dispatch", {"channel_key": f"channel.{dispatch.channel}"}, title=dispatch.recipient, state=dispatch.state,
            id=str(dispatch.id), superseded=dispatch.id in superseded,
            detail=[Fact(None, part) for part in (numbers.get(dispatch.document_id), dispatch.routing_reason, dispatch.last_error) if part],
        ))
    for attempt in attempts:
        entries.append(Entry(
            attempt.started_at, "attempt", "claim.event.attempt", title=f"#{attempt.number} {attempt.provider or ''}".strip(), state=attempt.outcome,
            detail=[Fact(None, str(part)) for part in (attempt.status_code, attempt.error_class, attempt.response_excerpt) if part],
        ))
    for position, event in enumerate(history):
        if event.action in SHOWN_BY_THEIR_OWN_ROW:
            continue
        entry = _from_trail(event, steps)
        entry.order = position
        entries.append(entry)
    for payment in payments:
        entries.append(Entry(
            payment.created_at, "payment", "claim.event.payment", title=f"{payment.amount} {claim.currency}",
            detail=[Fact("claim.paid_on", payment.paid_on.isoformat()), Fact("claim.source", keys=(f"source.{payment.source}",))]
            + ([Fact("claim.reference", payment.reference)] if payment.reference else []),
        ))
    entries.sort(key=lambda entry: (entry.at, 0.5 if entry.label.removeprefix("audit.action.") in BEFORE_DOCUMENTS else RANK[entry.kind], entry.order))
    return entries


def _from_trail(event: AuditEvent, steps: Mapping[str, DunningStep]) -> Entry:
    data = event.data or {}
    actor = Fact("audit.key.actor", event.actor)
    if event.action in CALLBACK_ACTIONS:
        args = {"channel_key": f"channel.{data.get('channel', '')}", "reported_key": f"state.{data.get('reported', '')}"}
        return Entry(event.at, "callback", "claim.event.callback", args, state=data.get("state"), detail=_facts(data, frozenset({"channel", "reported", "state"})))
    if event.action in DUNNING_ACTIONS:
        reason = data.get("detail") or data.get("reason")
        step = steps.get(data.get("dedup_key", ""))
        if not reason and step is not None:
            reason = step.detail  # an escalation's audit row names the list; the recorded step says why
        args = {"step": data.get("step", ""), "list_key": f"escalations.kind.{data['kind']}" if data.get("kind") else ""}
        facts = ([Fact("audit.key.reason", reason)] if reason else []) + _facts(data, frozenset({"detail", "reason", "step"}))
        return Entry(event.at, "dunning", f"audit.action.{event.action}", args, detail=[*facts, actor])
    if event.action in HOLD_ACTIONS:
        facts = ([Fact("audit.key.reason", data["reason"])] if data.get("reason") else []) + _facts(data, frozenset({"reason", "kind"}))
        return Entry(event.at, "hold", f"audit.action.{event.action}", {"kind_key": f"hold.kind.{data.get('kind', '')}"}, detail=facts)
    return Entry(event.at, "audit", f"audit.action.{event.action}", detail=[*_facts(data), actor])
