"""`gateway dunning plan`: decisions for claims given in a JSON document, without a database. Pure.

Input document (`--claims FILE`)::

    {"claims": [
      {<the API claim format: number, type, fiscal, due_date, debtor{kind}, lines[...] ...>,
       "id": "optional; defaults to the number",
       "history":  [{"step": 1, "sent_at": "2026-10-05T09:00:00+00:00", "channel": "email",
                     "status": "sent|delivered|undelivered", "delivered_at": null,
                     "registered": false, "proof_reference": null, "fee": "0.00",
                     "stated_due_date": "2026-10-20"}],
       "payments": [{"paid_on": "2026-10-01", "amount": "10.00"}],
       "holds":    [{"kind": "dispute", "reason": "...", "author": "...", "start": "2026-10-01", "end": null}],
       "escalated_on": null}
    ]}

Only the claim fields `decide` needs are read (number, type, fiscal, due_date, debtor.kind, lines:
quantity, unit_price, vat_category, vat_rate); the other API fields are accepted and ignored. The
principal is the claim's payable amount computed from its lines exactly as on intake
(`domain.money.compute_totals`). `history`, `payments`, `holds` and `escalated_on` are the extra
fields of this format; all are optional. A bad field refuses the whole file with
`InvalidInput`, naming the field path (`claims.0.history.1.sent_at`) and the rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from gateway.domain.claim import Channel, ClaimLine, ClaimType, DebtorKind
from gateway.domain.money import compute_totals
from gateway.dunning.policy import Policy
from gateway.dunning.rates import RateTable
from gateway.dunning.rules import ClaimFacts, Decision, DeliveryStatus, Hold, HoldKind, Payment, StepRecord, decide
from gateway.errors import FieldProblem, InvalidInput

RULE_REQUIRED = "PLAN-REQUIRED"  # a field decide() needs is missing
RULE_TYPE = "PLAN-TYPE"  # wrong JSON type (object, list, boolean, integer)
RULE_DATE = "PLAN-DATE"  # not an ISO date
RULE_DATETIME = "PLAN-DATETIME"  # not an ISO timestamp with a UTC offset
RULE_AMOUNT = "PLAN-AMOUNT"  # not a finite decimal string/number
RULE_CHOICE = "PLAN-CHOICE"  # not one of the allowed values
ZERO = Decimal("0.00")


@dataclass(frozen=True)
class PlannedClaim:
    """One claim of the input, converted to what `decide` takes."""

    number: str
    facts: ClaimFacts
    history: tuple[StepRecord, ...]
    payments: tuple[Payment, ...]
    holds: tuple[Hold, ...]


class _Reader:
    """Reads typed values at a dotted path; the first problem is raised as `InvalidInput`."""

    def __init__(self, path: str, data: dict) -> None:
        self.path, self.data = path, data

    def refuse(self, name: str, rule: str, message: str):
        field = f"{self.path}.{name}" if self.path and name else (name or self.path)
        raise InvalidInput(f"{field}: {message} ({rule})", problems=[FieldProblem(field, rule, message)])

    def raw(self, name: str, required: bool):
        value = self.data.get(name)
        if value is None and required:
            self.refuse(name, RULE_REQUIRED, "is required")
        return value

    def text(self, name: str, required: bool = True) -> str | None:
        value = self.raw(name, required)
        if value is not None and not isinstance(value, str):
            self.refuse(name, RULE_TYPE, "must be a string")
        return value

    def day(self, name: str, required: bool = True) -> date | None:
        value = self.text(name, required)
        if value is None:
            return None
        try:
            return date.fromisoformat(value)
        except ValueError:
            self.refuse(name, RULE_DATE, f"not an ISO date: {value!r}")

    def moment(self, name: str, required: bool = True) -> datetime | None:
        value = self.text(name, required)
        if value is None:
            return None
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            self.refuse(name, RULE_DATETIME, f"not an ISO timestamp: {value!r}")
        if moment.tzinfo is None:
            self.refuse(name, RULE_DATETIME, f"needs a UTC offset: {value!r}")
        return moment

    def amount(self, name: str, required: bool = True, default: Decimal | None = None) -> Decimal | None:
        value = self.raw(name, required)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            self.refuse(name, RULE_AMOUNT, "must be a decimal string")
        try:
            amount = Decimal(str(value))
        except InvalidOperation:
            self.refuse(name, RULE_AMOUNT, f"not a decimal amount: {value!r}")
        if not amount.is_finite():
            self.refuse(name, RULE_AMOUNT, f"not a finite amount: {value!r}")
        return amount

    def choice(self, name: str, enum, required: bool = True, default=None):
        value = self.text(name, required)
        if value is None:
            return default
        try:
            return enum(value)
        except ValueError:
            self.refuse(name, RULE_CHOICE, f"{value!r} is not one of {', '.join(e.value for e in enum)}")

    def flag(self, name: str) -> bool:
        value = self.raw(name, False)
        if value is not None and not isinstance(value, bool):
            self.refuse(name, RULE_TYPE, "must be true or false")
        return bool(value)

    def items(self, name: str) -> list["_Reader"]:
        value = self.raw(name, False) or []
        if not isinstance(value, list):
            self.refuse(name, RULE_TYPE, "must be a list")
        readers = []
        for index, item in enumerate(value):
            if not isinstance(item, dict):
                self.refuse(f"{name}.{index}", RULE_TYPE, "must be an object")
            readers.append(_Reader(f"{self.path}.{name}.{index}" if self.path else f"{name}.{index}", item))
        return readers

    def child(self, name: str) -> "_Reader":
        value = self.raw(name, True)
        if not isinstance(value, dict):
            self.refuse(name, RULE_TYPE, "must be an object")
        return _Reader(f"{self.path}.{name}", value)


def _claim(reader: _Reader) -> PlannedClaim:
    number = reader.text("number")
    lines = []
    for line in reader.items("lines"):
        lines.append(ClaimLine(
            description="", quantity=line.amount("quantity", False, Decimal("1")), unit_price=line.amount("unit_price"),
            vat_category=line.text("vat_category", False) or "O", vat_rate=line.amount("vat_rate", False, Decimal("0")),
        ))
    if not lines:
        reader.refuse("lines", RULE_REQUIRED, "at least one line is required")
    facts = ClaimFacts(
        claim_id=reader.text("id", False) or number, principal=compute_totals(lines).payable_amount, due_date=reader.day("due_date"),
        claim_type=reader.choice("type", ClaimType), fiscal=reader.flag("fiscal"), debtor_kind=reader.child("debtor").choice("kind", DebtorKind),
        escalated_on=reader.day("escalated_on", False),
    )
    history = tuple(
        StepRecord(
            step=_step_number(item), sent_at=item.moment("sent_at"), channel=item.choice("channel", Channel, False),
            status=item.choice("status", DeliveryStatus, False, DeliveryStatus.SENT), delivered_at=item.moment("delivered_at", False),
            registered=item.flag("registered"), proof_reference=item.text("proof_reference", False), fee=item.amount("fee", False, ZERO),
            stated_due_date=item.day("stated_due_date", False),
        )
        for item in reader.items("history")
    )
    payments = tuple(Payment(item.day("paid_on"), item.amount("amount")) for item in reader.items("payments"))
    holds = tuple(
        Hold(kind=item.choice("kind", HoldKind), reason=item.text("reason"), author=item.text("author"), start=item.day("start"), end=item.day("end", False))
        for item in reader.items("holds")
    )
    return PlannedClaim(number, facts, history, payments, holds)


def _step_number(item: _Reader) -> int:
    value = item.raw("step", True)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        item.refuse("step", RULE_TYPE, "must be an integer of at least 1")
    return value


def parse_claims(document) -> list[PlannedClaim]:
    """The claims of a parsed JSON document; `InvalidInput` naming the field and rule otherwise."""
    if not isinstance(document, dict):
        _Reader("$", {}).refuse("", RULE_TYPE, "the document must be an object with a 'claims' list")
    root = _Reader("", document)
    if "claims" not in document:
        root.refuse("claims", RULE_REQUIRED, "is required")
    return [_claim(reader) for reader in root.items("claims")]


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _iso(value) -> str | None:
    return None if value is None else value.isoformat()


def decision_json(number: str, decision: Decision) -> dict:
    """One decision as plain JSON values (ISO dates, amounts as strings)."""
    return {
        "claim_id": decision.claim_id, "number": number, "action": decision.action.value,
        "reason": decision.reason.value if decision.reason else None, "detail": decision.detail, "wait_until": _iso(decision.wait_until),
        "step": decision.step, "step_key": decision.step_key,
        "channel_requirement": decision.channel_requirement.value if decision.channel_requirement else None,
        "fee": _money(decision.fee), "new_due_date": _iso(decision.new_due_date), "amount_open": _money(decision.amount_open),
        "escalation": decision.escalation.value if decision.escalation else None, "approving_body": decision.approving_body,
        "escalation_list": decision.escalation_list, "dedup_key": decision.dedup_key,
        "amounts": [{"rule": a.rule, "amount": str(a.amount), "explanation": a.explanation} for a in decision.amounts],
        "rule_set_version": decision.rule_set_version, "rate_version": decision.rate_version, "missing_rate": decision.missing_rate,
    }


def plan_claim(claim: PlannedClaim, policy: Policy, *, today: date, rates: RateTable | None = None) -> Decision:
    return decide(claim.facts, policy, today=today, history=claim.history, payments=claim.payments, holds=claim.holds, rates=rates)


def plan(claims: list[PlannedClaim], policy: Policy, *, today: date, rates: RateTable | None = None) -> dict:
    """One decision per claim, in input order. A claim the policy does not cover refuses the file
    (`InvalidInput` POLICY-MATCH / HISTORY-* from `decide`, with the field prefixed by the claim).
    A claim whose amounts need an unpublished rate gets its own `wait` / `rate_unknown` decision;
    the other claims are not affected."""
    decisions = []
    for index, claim in enumerate(claims):
        try:
            decisions.append(decision_json(claim.number, plan_claim(claim, policy, today=today, rates=rates)))
        except InvalidInput as error:
            problems = [FieldProblem(f"claims.{index}.{p.field}", p.rule, p.message) for p in error.problems]
            raise InvalidInput(f"claims.{index}: {error.message}", problems=problems) from error
    return {"policy": policy.reference, "as_of": today.isoformat(), "decisions": decisions}
