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


def candidates(debtor: DebtorFacts, postal_address: str) -> list[RoutingDecision]:
    """Every channel that may carry the document, best first; paper always closes the list."""
    options: list[RoutingDecision] = []
    email = usable_email(debtor)
    if debtor.kind == "business":
        if debtor.peppol_id:
            options.append(RoutingDecision(Channel.PEPPOL, debtor.peppol_id, "business debtor with a Peppol participant id"))
        if email:
            reason = "business debtor without Peppol id: e-mail with PDF and UBL" if not options else "Peppol failed: e-mail with PDF and UBL"
            options.append(RoutingDecision(Channel.EMAIL, email, reason))
        options.append(RoutingDecision(Channel.PAPER, postal_address, "business debtor without Peppol id or usable e-mail" if not options else "no digital channel left: paper"))
        return options
    if debtor.national_register_number and debtor.consents.get("ebox"):
        options.append(RoutingDecision(Channel.EBOX, debtor.national_register_number, "consumer with eBox consent"))
    if debtor.consents.get("email") and email:
        options.append(RoutingDecision(Channel.EMAIL, email, "consumer consented to e-mail and the address is usable"))
    if options:
        reason = "no digital channel left: paper letter"
    elif debtor.consents.get("email"):
        reason = "consumer consented to e-mail but has no usable address: paper"
    else:
        reason = "consumer without digital consent: paper letter"
    options.append(RoutingDecision(Channel.PAPER, postal_address, reason))
    return options


def choose_channel(debtor: DebtorFacts, postal_address: str, *, tried: frozenset[tuple[str, str]] = frozenset()) -> RoutingDecision | None:
    """The best channel not yet tried for this document (by channel and recipient), or None."""
    return next((d for d in candidates(debtor, postal_address) if (d.channel.value, d.recipient) not in tried), None)
