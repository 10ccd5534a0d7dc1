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

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import BinaryIO, NamedTuple

import orjson

from gateway.domain.claim import Channel, ClaimLine, ClaimType, DebtorKind
from gateway.domain.money import compute_totals, payable_amount
from gateway.dunning.policy import Policy
from gateway.dunning.rates import RateTable
from gateway.dunning.values import builder
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


# --- the fast path -----------------------------------------------------------------------------------
# `dunning plan` reads a million claims: well-formed claims are converted by direct dictionary access
# (`_claim_fast`) with the same conversions as `_claim`; anything unexpected (a missing field, another
# JSON type, a bad date or amount) makes it give up, and `_claim` reads that claim again to raise the
# problem naming the field and the rule. So the fast path never accepts what `_claim` refuses, and
# gives the same values for what it accepts (tests/dunning/test_plan_cli.py compares both).


class _Fallback(Exception):
    """The fast path met something only `_claim` may judge."""


_CLAIM_TYPES = {member.value: member for member in ClaimType}
_DEBTOR_KINDS = {member.value: member for member in DebtorKind}
_CHANNELS = {member.value: member for member in Channel}
_STATUSES = {member.value: member for member in DeliveryStatus}
_HOLD_KINDS = {member.value: member for member in HoldKind}
_ONE = Decimal("1")
_RATE_ZERO = Decimal("0")
# The same frozen values as the constructors give, built faster (gateway/dunning/values.py).
_facts, _record, _payment, _hold, _planned = (builder(cls) for cls in (ClaimFacts, StepRecord, Payment, Hold, PlannedClaim))


class _Line(NamedTuple):
    """What `payable_amount` reads of a line (a `ClaimLine` costs more to build and carries more)."""

    quantity: Decimal
    unit_price: Decimal
    vat_category: str
    vat_rate: Decimal
    exemption_reason_code: str | None = None
    exemption_reason: str | None = None
_FAST_ERRORS = (_Fallback, KeyError, TypeError, ValueError, InvalidOperation)


def _fast_text(value, required: bool = True) -> str | None:
    if value is None:
        if required:
            raise _Fallback
        return None
    if type(value) is not str:
        raise _Fallback
    return value


def _fast_day(value, required: bool = True) -> date | None:
    text = _fast_text(value, required)
    return None if text is None else date.fromisoformat(text)


def _fast_moment(value, required: bool = True) -> datetime | None:
    text = _fast_text(value, required)
    if text is None:
        return None
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise _Fallback
    return moment


def _fast_amount(value, default: Decimal | None = None) -> Decimal:
    if value is None:
        if default is None:
            raise _Fallback
        return default
    if type(value) is not str:
        raise _Fallback  # numbers are allowed, but read by `_claim`
    amount = Decimal(value)
    if not amount.is_finite():
        raise _Fallback
    return amount


def _fast_flag(value) -> bool:
    if value is None:
        return False
    if type(value) is not bool:
        raise _Fallback
    return value


def _fast_items(value) -> list:
    if not value:
        return []
    if type(value) is not list:
        raise _Fallback
    for item in value:
        if type(item) is not dict:
            raise _Fallback
    return value


def _fast_choice(table: dict, value, default=None):
    if value is None:
        if default is None:
            raise _Fallback
        return default
    return table[value]


def _claim_fast(item) -> PlannedClaim:
    if type(item) is not dict:
        raise _Fallback
    get = item.get
    number = _fast_text(get("number"))
    lines = []
    for line in _fast_items(get("lines")):
        category = _fast_text(line.get("vat_category"), False)
        lines.append(_Line(_fast_amount(line.get("quantity"), _ONE), _fast_amount(line.get("unit_price")), category or "O",
                           _fast_amount(line.get("vat_rate"), _RATE_ZERO)))
    if not lines:
        raise _Fallback
    debtor = get("debtor")
    if type(debtor) is not dict:
        raise _Fallback
    facts = _facts(
        claim_id=_fast_text(get("id"), False) or number, principal=payable_amount(lines), due_date=_fast_day(get("due_date")),
        claim_type=_fast_choice(_CLAIM_TYPES, get("type")), fiscal=_fast_flag(get("fiscal")),
        debtor_kind=_fast_choice(_DEBTOR_KINDS, debtor.get("kind")), escalated_on=_fast_day(get("escalated_on"), False),
    )
    history = []
    for record in _fast_items(get("history")):
        step = record.get("step")
        if type(step) is not int or step < 1:
            raise _Fallback
        history.append(_record(
            step=step, sent_at=_fast_moment(record.get("sent_at")), channel=None if record.get("channel") is None else _CHANNELS[record["channel"]],
            status=_fast_choice(_STATUSES, record.get("status"), DeliveryStatus.SENT), delivered_at=_fast_moment(record.get("delivered_at"), False),
            registered=_fast_flag(record.get("registered")), proof_reference=_fast_text(record.get("proof_reference"), False),
            fee=_fast_amount(record.get("fee"), ZERO), stated_due_date=_fast_day(record.get("stated_due_date"), False),
        ))
    payments = tuple(_payment(paid_on=_fast_day(p.get("paid_on")), amount=_fast_amount(p.get("amount"))) for p in _fast_items(get("payments")))
    holds = tuple(
        _hold(kind=_fast_choice(_HOLD_KINDS, h.get("kind")), reason=_fast_text(h.get("reason")), author=_fast_text(h.get("author")),
              start=_fast_day(h.get("start")), end=_fast_day(h.get("end"), False))
        for h in _fast_items(get("holds"))
    )
    return _planned(number=number, facts=facts, history=tuple(history), payments=payments, holds=holds)


def _root_items(document) -> list:
    if not isinstance(document, dict):
        _Reader("$", {}).refuse("", RULE_TYPE, "the document must be an object with a 'claims' list")
    if "claims" not in document:
        _Reader("", document).refuse("claims", RULE_REQUIRED, "is required")
    claims = document["claims"] or []
    if not isinstance(claims, list):
        _Reader("", document).refuse("claims", RULE_TYPE, "must be a list")
    return claims


def parse_claim(index: int, item) -> PlannedClaim:
    """Claim `index` of the document; `InvalidInput` naming the field (claims.<index>....) and the rule."""
    try:
        return _claim_fast(item)
    except _FAST_ERRORS:
        if not isinstance(item, dict):
            _Reader("claims", {}).refuse(str(index), RULE_TYPE, "must be an object")
        return _claim(_Reader(f"claims.{index}", item))


def parse_claims(document) -> list[PlannedClaim]:
    """The claims of a parsed JSON document; `InvalidInput` naming the field and rule otherwise."""
    return [parse_claim(index, item) for index, item in enumerate(_root_items(document))]


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


def _decided(index: int, claim: PlannedClaim, policy: Policy, today: date, rates: RateTable | None) -> Decision:
    try:
        return plan_claim(claim, policy, today=today, rates=rates)
    except InvalidInput as error:
        problems = [FieldProblem(f"claims.{index}.{p.field}", p.rule, p.message) for p in error.problems]
        raise InvalidInput(f"claims.{index}: {error.message}", problems=problems) from error


def plan(claims: list[PlannedClaim], policy: Policy, *, today: date, rates: RateTable | None = None) -> dict:
    """One decision per claim, in input order. A claim the policy does not cover refuses the file
    (`InvalidInput` POLICY-MATCH / HISTORY-* from `decide`, with the field prefixed by the claim).
    A claim whose amounts need an unpublished rate gets its own `wait` / `rate_unknown` decision;
    the other claims are not affected."""
    decisions = [decision_json(claim.number, _decided(index, claim, policy, today, rates)) for index, claim in enumerate(claims)]
    return {"policy": policy.reference, "as_of": today.isoformat(), "decisions": decisions}


def iter_plan(document, policy: Policy, *, today: date, rates: RateTable | None = None) -> Iterator[tuple[str, Decision]]:
    """(number, decision) per claim of a parsed document, in input order, one claim at a time (so a
    million claims never sit in memory twice). The first bad claim raises `InvalidInput` as `plan`."""
    for index, item in enumerate(_root_items(document)):
        claim = parse_claim(index, item)
        yield claim.number, _decided(index, claim, policy, today, rates)


WRITE_BATCH = 10_000  # decisions serialised per write


def write_plan_json(out: BinaryIO, decisions: Iterator[tuple[str, Decision]], *, policy: Policy, today: date) -> int:
    """Write `{"policy", "as_of", "decisions": [...]}` to `out`: compact, one decision per line, written
    in batches (never one huge string, never indented: a million decisions stay a few hundred MB).
    Returns the number of decisions written."""
    out.write(_dumps({"policy": policy.reference, "as_of": today.isoformat()})[:-1] + b', "decisions": [\n')
    count, batch = 0, []
    for number, decision in decisions:
        batch.append(_dumps(_decision_row(number, decision)))
        count += 1
        if len(batch) >= WRITE_BATCH:
            out.write((b",\n" if count > len(batch) else b"") + b",\n".join(batch))
            batch = []
    if batch:
        out.write((b",\n" if count > len(batch) else b"") + b",\n".join(batch))
    out.write(b"\n]}\n")
    return count


def _decision_row(number: str, d: Decision) -> dict:
    """`decision_json` with its values left as they are: orjson writes dates as ISO dates, enums as
    their values and (through `_dumps`) amounts as their text, so the bytes are the same, sooner."""
    return {
        "claim_id": d.claim_id, "number": number, "action": d.action, "reason": d.reason, "detail": d.detail, "wait_until": d.wait_until,
        "step": d.step, "step_key": d.step_key, "channel_requirement": d.channel_requirement, "fee": d.fee, "new_due_date": d.new_due_date,
        "amount_open": d.amount_open, "escalation": d.escalation, "approving_body": d.approving_body, "escalation_list": d.escalation_list,
        "dedup_key": d.dedup_key, "amounts": [{"rule": a.rule, "amount": a.amount, "explanation": a.explanation} for a in d.amounts],
        "rule_set_version": d.rule_set_version, "rate_version": d.rate_version, "missing_rate": d.missing_rate,
    }


def _dumps(value) -> bytes:
    return orjson.dumps(value, default=_decimal_text)


def _decimal_text(value) -> str:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def loads(data: bytes):
    """Parse the claims file (orjson: a million claims in seconds, not tens of seconds)."""
    return orjson.loads(data)
