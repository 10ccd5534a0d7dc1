"""Channel choice for a debtor (DESIGN.md section 2, "Routing"). Pure: facts in, decision out.

Business debtors: Peppol when they have a participant id, else e-mail with PDF and UBL, else
paper. Consumers: eBox with a national number and consent, e-mail with consent and a usable
address, paper otherwise. Every decision carries its reason so the claim page can show it.
Later steps (SML/SMP reachability, SMS for short reminders, registered steps) refine this.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.domain.claim import Channel

UNUSABLE = {"bounced", "unreachable"}


@dataclass(frozen=True)
class ContactFacts:
    kind: str
    value: str
    validity: str


@dataclass(frozen=True)
class DebtorFacts:
    kind: str  # business | consumer
    peppol_id: str | None
    national_register_number: str | None
    contacts: tuple[ContactFacts, ...]
    consents: dict[str, bool]  # channel -> given


@dataclass(frozen=True)
class RoutingDecision:
    channel: Channel
    recipient: str
    reason: str


def usable_email(debtor: DebtorFacts) -> str | None:
    return next((c.value for c in debtor.contacts if c.kind == "email" and c.validity not in UNUSABLE), None)


def choose_channel(debtor: DebtorFacts, postal_address: str) -> RoutingDecision:
    if debtor.kind == "business":
        if debtor.peppol_id:
            return RoutingDecision(Channel.PEPPOL, debtor.peppol_id, "business debtor with a Peppol participant id")
        if email := usable_email(debtor):
            return RoutingDecision(Channel.EMAIL, email, "business debtor without Peppol id: e-mail with PDF and UBL")
        return RoutingDecision(Channel.PAPER, postal_address, "business debtor without Peppol id or usable e-mail")
    if debtor.national_register_number and debtor.consents.get("ebox"):
        return RoutingDecision(Channel.EBOX, debtor.national_register_number, "consumer with eBox consent")
    if debtor.consents.get("email") and (email := usable_email(debtor)):
        return RoutingDecision(Channel.EMAIL, email, "consumer consented to e-mail and the address is usable")
    if debtor.consents.get("email"):
        return RoutingDecision(Channel.PAPER, postal_address, "consumer consented to e-mail but has no usable address: paper")
    return RoutingDecision(Channel.PAPER, postal_address, "consumer without digital consent: paper letter")
