"""Dunning policies as data: parse, validate against the JSON Schema, then check the legal regime.

A policy file is refused as a whole when it breaks the schema or a rule of its declared regime;
`PolicyRefused.problems` lists every broken rule as (field path, rule id, message). Rule ids:

General (every regime)
  SCHEMA                        the JSON Schema `schemas/dunning-policy.schema.json`
  GEN-STEP-NUMBERS              steps are numbered 1..n in order
  GEN-FIRST-STEP-AFTER-DUE      step 1 counts from the due date, at least one day after it
  GEN-FIRST-STEP-NOT-SKIPPABLE  the first reminder can never be skipped
  GEN-STEP-BEFORE-TERM-END      a later step (or the escalation) may not start before the previous term ends
  GEN-PAYMENT-TERM              a payment term is days or months, not both
  GEN-FISCAL-CLAIM-TYPES        fiscal policies cover tax assessments only, and the other way round
  GEN-DWANGBEVEL-NON-FISCAL     art. 177 DLB: a dwangbevel is for non-fiscal claims
  GEN-DWANGBEVEL-VISUM          art. 177 DLB: the list is approved (visum) by the vast bureau / college / directiecomité
  GEN-DWANGBEVEL-REGISTERED     art. 177 DLB: "De schuldenaar moet vooraf aangemaand zijn met een aangetekende brief"
  GEN-DWANGSCHRIFT-FISCAL       a dwangschrift is for fiscal claims, by the financial director, without visum
  GEN-DISCONNECTION-MEDICAL     a disconnection must be marked as a disconnection step (a medical declaration suspends it)
  GEN-POSTAGE-PAPER-ONLY        only paper channels carry postage
  GEN-INTEREST-JURISDICTION     the Belgian reference rate (art. 5 Law 2 Aug 2002) is for Belgian claims only
  GEN-REGIME-KINDS              a regime per debtor kind names exactly the policy's debtor kinds
A regime may be declared per debtor kind (`legal_regime: {"consumer": ..., "business": ...}`); each
regime's rules below are checked for the debtor kinds it covers (fees: `Step.fee_for(kind)`).

Book XIX (be_consumer_book_xix, art. XIX.2 and XIX.4 CEL)
  BXIX-SCOPE                    Belgian consumer debts only
  BXIX-FIRST-FREE               "the first reminder is free of charge"
  BXIX-FIRST-ANNOUNCES-FEES     the first reminder states the damages that will follow
  BXIX-TERM-14                  at least 14 days from the 3rd working day (paper) / the next day (electronic)
  BXIX-LATER-FEE-CAP            a later reminder costs at most €7.50 + the postage of its channel
  BXIX-INTEREST-CAP             interest at most the rate of art. 5 Law 2 Aug 2002 (no margin on top)
  BXIX-LUMP-SUM                 lump sum at most the art. XIX.4 table (no B2B €40, no WIK scale)
B2B (be_b2b_late_payment, Law of 2 August 2002)
  B2B-SCOPE                     undertakings only, no fiscal debts
  B2B-TERM-60                   contractual payment term at most 60 days (Law 14 Aug 2021)
  B2B-FLAT-40                   flat compensation at most €40 (art. 6)
  B2B-INTEREST                  interest at the reference rate, no margin on top (art. 5)
WIK (nl_wik, art. 6:96 BW, Stb. 2012, 141)
  WIK-SCOPE                     Dutch consumer debts only
  WIK-FIRST-FREE                the 14-day letter is free
  WIK-14DAY-LETTER              14 days counted from the day after receipt (HR 25-11-2016, ECLI:NL:HR:2016:2704)
  WIK-ANNOUNCE-COSTS            the 14-day letter states the exact collection costs
  WIK-COSTS-CAP                 fixed collection costs together at most €40 (the scale minimum; larger claims are capped at runtime)
  NL-WATER-DEBT-HELP            Regeling afsluitbeleid: a written reminder offers debt help before disconnection
  NL-WATER-PERSONAL-CONTACT     Regeling afsluitbeleid: personal contact is attempted before disconnection
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from functools import cached_property, lru_cache
from importlib import resources
from pathlib import Path

from jsonschema import Draft202012Validator

from gateway.domain.claim import Channel, ClaimType, DebtorKind
from gateway.dunning.calendar import max_paper_presumption_lag
from gateway.dunning.legal import (
    B2B_FLAT_COMPENSATION,
    B2B_MAX_PAYMENT_TERM_DAYS,
    BXIX_LATER_REMINDER_FEE_CAP,
    BXIX_WAITING_DAYS,
    WIK_MINIMUM,
    WIK_TERM_DAYS,
)
from gateway.errors import FieldProblem, InvalidInput

ZERO = Decimal("0.00")


class LegalRegime(StrEnum):
    BE_CONSUMER_BOOK_XIX = "be_consumer_book_xix"
    BE_B2B_LATE_PAYMENT = "be_b2b_late_payment"
    NL_WIK = "nl_wik"
    NONE = "none"


class DelayBasis(StrEnum):
    DUE_DATE = "due_date"
    PREVIOUS_TERM_END = "previous_term_end"
    PREVIOUS_SENDING = "previous_sending"
    PREVIOUS_DELIVERY = "previous_delivery"
    PREVIOUS_RECEIPT = "previous_receipt"


class TermBasis(StrEnum):
    SENDING = "sending"
    DELIVERY = "delivery"  # actual delivery, else the legal presumption
    RECEIPT = "receipt"  # counted from the day after actual or presumed receipt (WIK)


class ChannelRequirement(StrEnum):
    ANY = "any"
    ELECTRONIC = "electronic"
    PAPER = "paper"
    REGISTERED = "registered"
    IN_PERSON = "in_person"


class EscalationKind(StrEnum):
    DWANGBEVEL = "dwangbevel"
    DWANGSCHRIFT = "dwangschrift"
    BAILIFF = "bailiff"
    DISCONNECTION = "disconnection"


class FeeKind(StrEnum):
    REMINDER_FEE = "reminder_fee"
    COLLECTION_COSTS = "collection_costs"  # WIK: counts towards the scale
    DISCONNECTION_TARIFF = "disconnection_tariff"


ELECTRONIC_CHANNELS = frozenset({Channel.PEPPOL, Channel.EMAIL, Channel.SMS, Channel.EBOX})
PAPER_CHANNELS = frozenset({Channel.PAPER, Channel.REGISTERED_PAPER})

# Which concrete channels satisfy a requirement. "registered" is a registered letter; a qualified
# e-registered service is accepted through StepRecord.registered=True on an electronic channel.
ALLOWED_CHANNELS: dict[ChannelRequirement, frozenset[Channel]] = {
    ChannelRequirement.ANY: frozenset(Channel),
    ChannelRequirement.ELECTRONIC: ELECTRONIC_CHANNELS,
    ChannelRequirement.PAPER: PAPER_CHANNELS,
    ChannelRequirement.REGISTERED: frozenset({Channel.REGISTERED_PAPER}),
    ChannelRequirement.IN_PERSON: frozenset(),
}


@dataclass(frozen=True)
class PaymentTerm:
    days: int
    counts_from: str  # issue_date | sending
    months: int | None = None
    per_invoice: bool = False


@dataclass(frozen=True)
class Delay:
    days: int
    counts_from: DelayBasis


@dataclass(frozen=True)
class Term:
    days: int
    counts_from: TermBasis


@dataclass(frozen=True)
class Step:
    number: int
    key: str
    template: str
    delay: Delay
    fee: Decimal
    term: Term
    channel: ChannelRequirement
    fee_kind: FeeKind = FeeKind.REMINDER_FEE
    fee_vat_percent: Decimal | None = None
    announces: tuple[str, ...] = ()
    debt_help_offer: bool = False
    disconnection_step: bool = False
    may_skip: bool = False
    repeatable: bool = False
    fees_by_kind: Mapping[DebtorKind, Decimal] = field(default_factory=dict)

    def fee_for(self, kind: DebtorKind) -> Decimal:
        """The fee a debtor of `kind` is charged (`fees_by_debtor_kind`, else `fee`)."""
        return self.fees_by_kind.get(kind, self.fee)


@dataclass(frozen=True)
class Damages:
    lump_sum: str = "none"  # none | book_xix_max | b2b_flat_40 | wik_scale
    interest: str = "none"  # none | b2b_reference_rate
    interest_margin_points: Decimal = ZERO
    flat_compensation: Decimal | None = None


@dataclass(frozen=True)
class Escalation:
    kind: EscalationKind
    delay: Delay
    legal_basis: str | None = None
    approving_body: str | None = None
    issued_by: str | None = None
    requires_registered_step: bool = False
    handed_to: str | None = None
    fee: Decimal = ZERO
    fee_vat_percent: Decimal | None = None
    disconnection_step: bool = False
    damages: Damages = Damages()


@dataclass(frozen=True)
class Policy:
    id: str
    version: str
    title: str
    creditor_entity: str
    claim_types: frozenset[ClaimType]
    fiscal: bool
    debtor_kinds: frozenset[DebtorKind]
    jurisdiction: str
    legal_regimes: Mapping[DebtorKind, LegalRegime]  # one per debtor kind of the policy
    currency: str
    payment_term: PaymentTerm
    weekly_booking_weekday: int | None  # 0 = Monday; None = receipts are not booked weekly
    postage: dict[Channel, Decimal]
    steps: tuple[Step, ...]
    escalation: Escalation
    recurring_supply: bool = False
    source: str | None = None
    reminder_interest: str | None = None  # None: the regime's default (`reminder_interest_kind`)

    @cached_property
    def reference(self) -> str:
        """`id@version`, recorded on every decision."""
        return f"{self.id}@{self.version}"

    def step(self, number: int) -> Step:
        return self.steps[number - 1]

    def regime_for(self, kind: DebtorKind) -> LegalRegime:
        """The legal regime that protects a debtor of `kind` under this policy."""
        return self.legal_regimes[kind]

    @property
    def legal_regime(self) -> LegalRegime | None:
        """The regime when every debtor kind has the same one; None when it differs (use `regime_for`)."""
        regimes = set(self.legal_regimes.values())
        return regimes.pop() if len(regimes) == 1 else None

    def regime_label(self) -> str:
        """`be_consumer_book_xix`, or `consumer=be_consumer_book_xix business=none` when it differs per kind."""
        if self.legal_regime is not None:
            return self.legal_regime.value
        return " ".join(f"{kind.value}={regime.value}" for kind, regime in sorted(self.legal_regimes.items()))

    def reminder_interest_kind(self, kind: DebtorKind | None = None) -> str:
        """Interest on the reminders to a debtor of `kind`: as declared, else the regime's default.
        Under the B2B law interest runs from the day after the due date without notice (art. 5 Law
        2 Aug 2002); Book XIX only allows it when agreed; the other regimes follow the policy.
        Without `kind`: "b2b_reference_rate" when any debtor kind gets it."""
        if self.reminder_interest is not None:
            return self.reminder_interest
        regimes = self.legal_regimes.values() if kind is None else [self.regime_for(kind)]
        return "b2b_reference_rate" if LegalRegime.BE_B2B_LATE_PAYMENT in regimes else "none"

    def kinds_under(self, regime: LegalRegime) -> frozenset[DebtorKind]:
        return frozenset(kind for kind, declared in self.legal_regimes.items() if declared is regime)


class PolicyRefused(InvalidInput):
    """A policy file breaks the schema or its declared legal regime."""

    title = "The dunning policy breaks a rule"

    @property
    def rules(self) -> list[str]:
        return [problem.rule for problem in self.problems]


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday")


@lru_cache(maxsize=1)
def policy_schema() -> dict:
    """The published schema (a copy of schemas/dunning-policy.schema.json ships inside the package)."""
    text = resources.files("gateway.dunning").joinpath("dunning-policy.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


@lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    return Draft202012Validator(policy_schema())


def schema_problems(document: object) -> list[FieldProblem]:
    problems = []
    for error in sorted(_validator().iter_errors(document), key=lambda e: list(e.absolute_path)):
        path = ".".join(str(part) for part in error.absolute_path) or "$"
        problems.append(FieldProblem(path, "SCHEMA", error.message))
    return problems


def _delay(raw: dict) -> Delay:
    return Delay(days=raw["days"], counts_from=DelayBasis(raw["counts_from"]))


def _damages(raw: dict | None) -> Damages:
    raw = raw or {}
    flat = raw.get("flat_compensation")
    return Damages(
        lump_sum=raw.get("lump_sum", "none"),
        interest=raw.get("interest", "none"),
        interest_margin_points=Decimal(raw.get("interest_margin_points", "0")),
        flat_compensation=None if flat is None else Decimal(flat),
    )


def _regimes(document: dict) -> dict[DebtorKind, LegalRegime]:
    """One regime per debtor kind; a per-kind map that misses a kind leaves it out (GEN-REGIME-KINDS refuses it)."""
    declared = document["legal_regime"]
    if isinstance(declared, str):
        return {DebtorKind(kind): LegalRegime(declared) for kind in document["debtor_kinds"]}
    return {DebtorKind(kind): LegalRegime(regime) for kind, regime in declared.items()}


def _build(document: dict) -> Policy:
    steps = tuple(
        Step(
            number=raw["number"],
            key=raw["key"],
            template=raw["template"],
            delay=_delay(raw["delay"]),
            fee=Decimal(raw["fee"]),
            term=Term(raw["term"]["days"], TermBasis(raw["term"]["counts_from"])),
            channel=ChannelRequirement(raw["channel"]),
            fee_kind=FeeKind(raw.get("fee_kind", FeeKind.REMINDER_FEE.value)),
            fee_vat_percent=Decimal(raw["fee_vat_percent"]) if "fee_vat_percent" in raw else None,
            announces=tuple(raw.get("announces", ())),
            debt_help_offer=raw.get("debt_help_offer", False),
            disconnection_step=raw.get("disconnection_step", False),
            may_skip=raw.get("may_skip", False),
            repeatable=raw.get("repeatable", False),
            fees_by_kind={DebtorKind(kind): Decimal(value) for kind, value in raw.get("fees_by_debtor_kind", {}).items()},
        )
        for raw in document["steps"]
    )
    esc = document["escalation"]
    escalation = Escalation(
        kind=EscalationKind(esc["kind"]),
        delay=_delay(esc["delay"]),
        legal_basis=esc.get("legal_basis"),
        approving_body=esc.get("approving_body"),
        issued_by=esc.get("issued_by"),
        requires_registered_step=esc.get("requires_registered_step", False),
        handed_to=esc.get("handed_to"),
        fee=Decimal(esc.get("fee", "0.00")),
        fee_vat_percent=Decimal(esc["fee_vat_percent"]) if "fee_vat_percent" in esc else None,
        disconnection_step=esc.get("disconnection_step", False),
        damages=_damages(esc.get("damages")),
    )
    term = document["payment_term"]
    booking = document["weekly_booking"]
    postage_raw = document.get("postage", {})
    postage = {Channel(name): Decimal(value) for name, value in postage_raw.items() if name != "source"}
    return Policy(
        id=document["id"],
        version=document["version"],
        title=document["title"],
        creditor_entity=document["creditor_entity"],
        claim_types=frozenset(ClaimType(t) for t in document["claim_types"]),
        fiscal=document["fiscal"],
        debtor_kinds=frozenset(DebtorKind(k) for k in document["debtor_kinds"]),
        jurisdiction=document["jurisdiction"],
        legal_regimes=_regimes(document),
        currency=document["currency"],
        payment_term=PaymentTerm(term["days"], term["counts_from"], term.get("months"), term.get("per_invoice", False)),
        weekly_booking_weekday=None if booking is None else WEEKDAYS.index(booking["weekday"]),
        postage=postage,
        steps=steps,
        escalation=escalation,
        recurring_supply=document.get("recurring_supply", False),
        source=document.get("source"),
        reminder_interest=document.get("reminder_interest"),
    )


def _previous_delay_ok(delay: Delay, previous: Step) -> bool:
    """GEN-STEP-BEFORE-TERM-END: never act before the previous step's term has run out."""
    if delay.counts_from is DelayBasis.PREVIOUS_TERM_END:
        return delay.days >= 1
    matching = {
        DelayBasis.PREVIOUS_SENDING: TermBasis.SENDING,
        DelayBasis.PREVIOUS_DELIVERY: TermBasis.DELIVERY,
        DelayBasis.PREVIOUS_RECEIPT: TermBasis.RECEIPT,
    }
    return matching.get(delay.counts_from) is previous.term.counts_from and delay.days > previous.term.days


def _minimum_postage(policy: Policy, requirement: ChannelRequirement) -> Decimal:
    """Lowest postage among the channels a step may use (electronic channels and visits have none)."""
    if requirement in (ChannelRequirement.ANY, ChannelRequirement.ELECTRONIC, ChannelRequirement.IN_PERSON):
        return ZERO
    # undeclared postage counts as none; a registered letter always costs more than a plain one
    declared = [policy.postage[channel] for channel in ALLOWED_CHANNELS[requirement] if channel in policy.postage]
    return min(declared, default=ZERO)


def _postage_declared(policy: Policy, requirement: ChannelRequirement) -> bool:
    if requirement in (ChannelRequirement.ANY, ChannelRequirement.ELECTRONIC, ChannelRequirement.IN_PERSON):
        return True
    return any(channel in policy.postage for channel in ALLOWED_CHANNELS[requirement])


def legal_problems(policy: Policy) -> list[FieldProblem]:
    """Every rule of the general set and of the declared regime that `policy` breaks."""
    problems: list[FieldProblem] = []

    def refuse(field: str, rule: str, message: str) -> None:
        problems.append(FieldProblem(field, rule, message))

    steps, esc = policy.steps, policy.escalation
    first = steps[0]

    # --- general rules -------------------------------------------------------------------------
    for index, step in enumerate(steps):
        if step.number != index + 1:
            refuse(f"steps.{index}.number", "GEN-STEP-NUMBERS", f"step at position {index + 1} is numbered {step.number}")
    if first.delay.counts_from is not DelayBasis.DUE_DATE or first.delay.days < 1:
        refuse("steps.0.delay", "GEN-FIRST-STEP-AFTER-DUE", "the first reminder counts from the due date and comes at least one day after it")
    if first.may_skip:
        refuse("steps.0.may_skip", "GEN-FIRST-STEP-NOT-SKIPPABLE", "the first reminder cannot be skipped")
    for index in range(1, len(steps)):
        if not _previous_delay_ok(steps[index].delay, steps[index - 1]):
            refuse(f"steps.{index}.delay", "GEN-STEP-BEFORE-TERM-END", f"step {index + 1} could start before step {index} has run its term")
    if not _previous_delay_ok(esc.delay, steps[-1]):
        refuse("escalation.delay", "GEN-STEP-BEFORE-TERM-END", "the escalation could start before the last step has run its term")
    term = policy.payment_term
    if term.months is not None and term.days != 0:
        refuse("payment_term", "GEN-PAYMENT-TERM", "give the payment term in days or in months, not both")
    tax = ClaimType.TAX_ASSESSMENT in policy.claim_types
    if policy.fiscal != tax or (tax and len(policy.claim_types) > 1):
        refuse("claim_types", "GEN-FISCAL-CLAIM-TYPES", "a fiscal policy covers tax assessments only, a non-fiscal one never does")
    if esc.kind is EscalationKind.DWANGBEVEL:
        if policy.fiscal:
            refuse("escalation.kind", "GEN-DWANGBEVEL-NON-FISCAL", "art. 177 DLB: a dwangbevel is for non-fiscal claims; fiscal claims use a dwangschrift")
        if not esc.approving_body:
            refuse("escalation.approving_body", "GEN-DWANGBEVEL-VISUM", "art. 177 DLB: the dwangbevel is endorsed by the vast bureau, the college or the directiecomité")
        registered = any(step.channel is ChannelRequirement.REGISTERED for step in steps)
        if not (esc.requires_registered_step and registered):
            refuse("escalation.requires_registered_step", "GEN-DWANGBEVEL-REGISTERED", "art. 177 DLB: the debtor must first be reminded by registered letter")
    if esc.kind is EscalationKind.DWANGSCHRIFT:
        if not policy.fiscal:
            refuse("escalation.kind", "GEN-DWANGSCHRIFT-FISCAL", "a dwangschrift is for fiscal claims")
        if esc.approving_body is not None or esc.issued_by != "financial_director":
            refuse("escalation.approving_body", "GEN-DWANGSCHRIFT-FISCAL", "the financial director issues the dwangschrift, without visum")
    if esc.kind is EscalationKind.DISCONNECTION and not esc.disconnection_step:
        refuse("escalation.disconnection_step", "GEN-DISCONNECTION-MEDICAL", "a disconnection must be a disconnection step so a medical declaration suspends it")
    for channel in policy.postage:
        if channel not in PAPER_CHANNELS:
            refuse(f"postage.{channel.value}", "GEN-POSTAGE-PAPER-ONLY", "only paper channels carry postage")
    if set(policy.legal_regimes) != set(policy.debtor_kinds):
        refuse("legal_regime", "GEN-REGIME-KINDS",
               f"a regime per debtor kind names exactly the policy's debtor kinds ({', '.join(sorted(k.value for k in policy.debtor_kinds))})")
    for index, step in enumerate(steps):
        for kind in step.fees_by_kind:
            if kind not in policy.debtor_kinds:
                refuse(f"steps.{index}.fees_by_debtor_kind.{kind.value}", "GEN-REGIME-KINDS", f"the policy has no {kind.value} debtors")
    if policy.jurisdiction != "BE":
        if policy.reminder_interest_kind() == "b2b_reference_rate":
            refuse("reminder_interest", "GEN-INTEREST-JURISDICTION", "the Belgian reference rate (art. 5 Law 2 Aug 2002) is not the interest of a non-Belgian claim")
        if esc.damages.interest == "b2b_reference_rate":
            refuse("escalation.damages.interest", "GEN-INTEREST-JURISDICTION", "the Belgian reference rate (art. 5 Law 2 Aug 2002) is not the interest of a non-Belgian claim")

    # --- Book XIX ------------------------------------------------------------------------------
    consumer = DebtorKind.CONSUMER
    if kinds := policy.kinds_under(LegalRegime.BE_CONSUMER_BOOK_XIX):
        if policy.jurisdiction != "BE" or kinds != {consumer}:
            refuse("debtor_kinds", "BXIX-SCOPE", "art. XIX.1 CEL: Book XIX covers Belgian consumer debts only")
        if first.fee_for(consumer) != ZERO:
            refuse("steps.0.fee", "BXIX-FIRST-FREE", f"art. XIX.2 CEL: the first reminder is free of charge (policy says {first.fee_for(consumer)})")
        if "fees" not in first.announces:
            refuse("steps.0.announces", "BXIX-FIRST-ANNOUNCES-FEES", "art. XIX.2 CEL: the first reminder states the damages that will be claimed")
        minimum = BXIX_WAITING_DAYS + (max_paper_presumption_lag() if first.term.counts_from is TermBasis.SENDING else 0)
        if first.term.days < minimum:
            refuse(
                "steps.0.term",
                "BXIX-TERM-14",
                f"art. XIX.2 CEL: at least 14 days from the 3rd working day (paper) or the next day (electronic); "
                f"a term counted from {first.term.counts_from.value} needs at least {minimum} days",
            )
        for index, step in enumerate(steps[1:], start=1):
            cap = BXIX_LATER_REMINDER_FEE_CAP + _minimum_postage(policy, step.channel)
            fee = step.fee_for(consumer)
            if fee > cap:
                where = f"steps.{index}.fees_by_debtor_kind.consumer" if consumer in step.fees_by_kind else f"steps.{index}.fee"
                declared = "" if _postage_declared(policy, step.channel) else " (no postage declared for that channel: declare it with its source)"
                refuse(
                    where,
                    "BXIX-LATER-FEE-CAP",
                    f"art. XIX.2 CEL: a later reminder costs a consumer at most 7.50 + postage = {cap} on channel '{step.channel.value}' (policy says {fee}){declared}",
                )
        if esc.damages.interest_margin_points != 0:
            refuse("escalation.damages.interest_margin_points", "BXIX-INTEREST-CAP", "art. XIX.4 CEL: interest at most the rate of art. 5 Law 2 Aug 2002, which already includes its 8 points")
        if esc.damages.lump_sum not in ("none", "book_xix_max") or esc.damages.flat_compensation is not None:
            refuse("escalation.damages.lump_sum", "BXIX-LUMP-SUM", "art. XIX.4 CEL: the lump sum is at most the Book XIX table")

    # --- B2B -----------------------------------------------------------------------------------
    if kinds := policy.kinds_under(LegalRegime.BE_B2B_LATE_PAYMENT):
        if kinds != {DebtorKind.BUSINESS} or policy.fiscal:
            refuse("debtor_kinds", "B2B-SCOPE", "Law of 2 Aug 2002: commercial transactions between undertakings only, no fiscal debts")
        if term.months is not None or term.days > B2B_MAX_PAYMENT_TERM_DAYS:
            refuse("payment_term", "B2B-TERM-60", "Law of 14 Aug 2021: a payment term is at most 60 days")
        flat = esc.damages.flat_compensation
        if flat is not None and flat > B2B_FLAT_COMPENSATION:
            refuse("escalation.damages.flat_compensation", "B2B-FLAT-40", f"art. 6 Law 2 Aug 2002: the flat compensation is 40.00 (policy says {flat})")
        if esc.damages.interest_margin_points != 0:
            refuse("escalation.damages.interest_margin_points", "B2B-INTEREST", "art. 5 Law 2 Aug 2002: the published rate already includes the 8 points")

    # --- WIK -----------------------------------------------------------------------------------
    if kinds := policy.kinds_under(LegalRegime.NL_WIK):
        if policy.jurisdiction != "NL" or kinds != {consumer}:
            refuse("debtor_kinds", "WIK-SCOPE", "art. 6:96 lid 6 BW: the 14-day letter protects Dutch consumers")
        if first.fee_for(consumer) != ZERO:
            refuse("steps.0.fee", "WIK-FIRST-FREE", "art. 6:96 lid 6 BW: the 14-day letter is free")
        if first.term.counts_from is not TermBasis.RECEIPT or first.term.days < WIK_TERM_DAYS:
            refuse("steps.0.term", "WIK-14DAY-LETTER", "HR 25-11-2016: 14 days from the day after receipt; 'within 14 days of sending' is defective")
        if "fees" not in first.announces:
            refuse("steps.0.announces", "WIK-ANNOUNCE-COSTS", "art. 6:96 lid 6 BW: the letter states the exact collection costs")
        fixed = sum((s.fee_for(consumer) for s in steps if s.fee_kind is FeeKind.COLLECTION_COSTS), ZERO)
        if fixed > WIK_MINIMUM:
            refuse("steps", "WIK-COSTS-CAP", f"Stb. 2012, 141: fixed collection costs {fixed} exceed 40.00, the amount the scale allows for every principal")
        if esc.damages.lump_sum not in ("none", "wik_scale"):
            refuse("escalation.damages.lump_sum", "WIK-COSTS-CAP", "only the WIK scale applies to collection costs")
        for index, step in enumerate(steps[1:], start=1):
            if step.fee_kind is FeeKind.REMINDER_FEE and step.fee_for(consumer) != ZERO:
                refuse(f"steps.{index}.fee_kind", "WIK-COSTS-CAP", "under the WIK a fee is collection costs (it counts towards the scale)")

    if policy.creditor_entity == "water_company" and esc.kind is EscalationKind.DISCONNECTION:
        written = [s for s in steps if s.channel is not ChannelRequirement.IN_PERSON and not s.disconnection_step]
        if not any(s.debt_help_offer and not s.may_skip for s in written):
            refuse("steps", "NL-WATER-DEBT-HELP", "Regeling afsluitbeleid: at least one written reminder that cannot be skipped points to debt help")
        if not any(s.channel is ChannelRequirement.IN_PERSON and not s.may_skip for s in steps):
            refuse("steps", "NL-WATER-PERSONAL-CONTACT", "Regeling afsluitbeleid: personal contact is attempted before disconnection")
    return problems


def parse_policy(document: object, *, origin: str = "<policy>") -> Policy:
    """Validate and build a policy; raise `PolicyRefused` naming every broken rule."""
    problems = schema_problems(document)
    if problems:
        raise PolicyRefused(f"{origin}: refused by the schema", problems=problems)
    assert isinstance(document, dict)
    policy = _build(document)
    problems = legal_problems(policy)
    if problems:
        summary = ", ".join(sorted({p.rule for p in problems}))
        raise PolicyRefused(f"{origin}: refused ({summary})", problems=problems)
    return policy


def load_policy(path: str | Path) -> Policy:
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise PolicyRefused(f"{path}: not JSON", problems=[FieldProblem("$", "SCHEMA", str(error))]) from error
    return parse_policy(document, origin=str(path))


@lru_cache(maxsize=1)
def shipped_policies() -> dict[str, Policy]:
    """The policies in gateway/dunning/policies/*.json, by id (loaded and checked once)."""
    folder = resources.files("gateway.dunning").joinpath("policies")
    policies = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".json"):
            policy = parse_policy(json.loads(entry.read_text(encoding="utf-8")), origin=f"policies/{entry.name}")
            policies[policy.id] = policy
    return policies


def policy_for(creditor_entity: str, claim_type: ClaimType | str, *, fiscal: bool, policies: dict[str, Policy] | None = None) -> Policy:
    """The one policy for (creditor entity, claim type, fiscal); `NotFound`-like `InvalidInput` otherwise."""
    policies = policies if policies is not None else shipped_policies()
    claim_type = ClaimType(claim_type)
    matches = [
        p for p in policies.values() if p.creditor_entity == creditor_entity and claim_type in p.claim_types and p.fiscal == fiscal
    ]
    if len(matches) != 1:
        raise InvalidInput.single(
            "claim_type", "POLICY-MATCH", f"{len(matches)} policies for {creditor_entity}/{claim_type.value}/fiscal={fiscal}"
        )
    return matches[0]
