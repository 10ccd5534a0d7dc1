"""Channel choice for a debtor (DESIGN.md section 2, "Routing"). Pure: facts in, decision out.

Business debtors: Peppol when they have a participant id, or when participant discovery found
one for them (`PeppolLookupFacts`: the worker asks SML/SMP and passes the answer in; the router
does no I/O), else e-mail with PDF and UBL, else paper. Consumers: eBox with a national number and consent, e-mail with consent and a usable
address, SMS for a short reminder (one without fee or interest: the text and the personal link say it
all) when the consumer consented to SMS and the number is usable, paper otherwise. Every decision
carries its reason so the claim page can show it. A creditor entity may switch off e-mail, SMS or
eBox (`disabled_channels`); Peppol and paper stay. A dunning step may require a channel
(`requirement`: "registered" or "paper", DESIGN.md section 2): only the channels that satisfy it
are candidates, on the first send and on every fallback, so a registered step never ends up as an
ordinary letter or an e-mail.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.domain.claim import Channel

# A replaced contact is not wrong, but the debtor asked us to use the new one instead.
UNUSABLE = {"bounced", "unreachable", "replaced"}


@dataclass(frozen=True)
class ContactFacts:
    kind: str
    value: str
    validity: str


@dataclass(frozen=True)
class PeppolLookupFacts:
    """What participant discovery answered for a business debtor without a recorded Peppol id.

    `outcome` is one of gateway.peppol.discovery.LookupOutcome's values; `participant_id` is the id
    found (reachable only); `rule` the lookup's rule id (`sml.not_registered`, `smp.http_500` ...);
    `tried` the ids asked, in order (0208 before 9925); `attempts` how many lookups failed in a row
    (lookup_failed only: the worker retries before it lets the router fall back)."""

    outcome: str
    participant_id: str | None
    rule: str
    tried: tuple[str, ...]
    attempts: int = 1

    def describe(self) -> str:
        asked = ", ".join(self.tried)
        if self.outcome == "lookup_failed":
            return f"Peppol lookup failed {self.attempts} times ({self.rule}; asked {asked})"
        return f"not on Peppol ({self.outcome}: {self.rule}; asked {asked})"


@dataclass(frozen=True)
class DebtorFacts:
    kind: str  # business | consumer
    peppol_id: str | None
    national_register_number: str | None
    contacts: tuple[ContactFacts, ...]
    consents: dict[str, bool]  # channel -> given
    disabled_channels: frozenset[str] = frozenset()  # the creditor entity's configuration
    peppol_lookup: PeppolLookupFacts | None = None  # discovery's answer when peppol_id is None


@dataclass(frozen=True)
class RoutingDecision:
    channel: Channel
    recipient: str
    reason: str


def usable_contact(debtor: DebtorFacts, kind: str) -> str | None:
    """The first contact of `kind` (email, phone) that did not bounce and is not unreachable."""
    return next((c.value for c in debtor.contacts if c.kind == kind and c.validity not in UNUSABLE), None)


def usable_email(debtor: DebtorFacts) -> str | None:
    return usable_contact(debtor, "email")


def candidates(debtor: DebtorFacts, postal_address: str, *, short_message: bool = False) -> list[RoutingDecision]:
    """Every channel that may carry the document, best first; paper always closes the list.

    `short_message`: the document is a reminder that an SMS can carry (no fee, no interest)."""
    options: list[RoutingDecision] = []
    email = usable_email(debtor)
    if debtor.kind == "business":
        lookup = debtor.peppol_lookup
        if debtor.peppol_id:
            options.append(RoutingDecision(Channel.PEPPOL, debtor.peppol_id, "business debtor with a Peppol participant id"))
        elif lookup is not None and lookup.outcome == "reachable" and lookup.participant_id:
            found = f"Peppol participant {lookup.participant_id} found by SML/SMP lookup ({lookup.rule}; asked {', '.join(lookup.tried)})"
            options.append(RoutingDecision(Channel.PEPPOL, lookup.participant_id, found))
        why_not_peppol = lookup.describe() if lookup is not None and not options else "business debtor without Peppol id"
        if email:
            reason = f"{why_not_peppol}: e-mail with PDF and UBL" if not options else "Peppol failed: e-mail with PDF and UBL"
            options.append(RoutingDecision(Channel.EMAIL, email, reason))
        options = [o for o in options if _usable_channel(debtor, o.channel)]
        paper = f"{why_not_peppol} and no usable e-mail: paper" if lookup is not None else "business debtor without Peppol id or usable e-mail"
        options.append(RoutingDecision(Channel.PAPER, postal_address, paper if not options else "no digital channel left: paper"))
        return options
    if debtor.national_register_number and debtor.consents.get("ebox"):
        options.append(RoutingDecision(Channel.EBOX, debtor.national_register_number, "consumer with eBox consent"))
    if debtor.consents.get("email") and email:
        options.append(RoutingDecision(Channel.EMAIL, email, "consumer consented to e-mail and the address is usable"))
    phone = usable_contact(debtor, "phone")
    if short_message and debtor.consents.get("sms") and phone:
        options.append(RoutingDecision(Channel.SMS, phone, "short reminder: consumer consented to SMS and the number is usable"))
    switched_off = [o.channel.value for o in options if not _usable_channel(debtor, o.channel)]
    options = [o for o in options if _usable_channel(debtor, o.channel)]
    if options:
        reason = "no digital channel left: paper letter"
    elif switched_off:
        reason = f"the creditor does not send by {' or '.join(switched_off)}: paper letter"
    elif debtor.consents.get("email"):
        reason = "consumer consented to e-mail but has no usable address: paper"
    elif debtor.consents.get("sms") and short_message:
        reason = "consumer consented to SMS but the number is not usable: paper"
    elif debtor.consents.get("sms"):
        reason = "consumer consented to SMS only, which carries short reminders, not this document: paper letter"
    else:
        reason = "consumer without digital consent: paper letter"
    options.append(RoutingDecision(Channel.PAPER, postal_address, reason))
    return options


# The channels that satisfy a step's requirement, best first. Registered delivery by e-mail or eBox
# needs a qualified registered delivery (QeRDS) provider (docs/channels-and-law.md section 2.6),
# which the gateway has not got: registered paper is the only registered channel.
REQUIRED_CHANNELS: dict[str, tuple[Channel, ...]] = {
    "registered": (Channel.REGISTERED_PAPER,),
    "paper": (Channel.PAPER,),
}


def required_candidates(requirement: str, postal_address: str) -> list[RoutingDecision]:
    if requirement not in REQUIRED_CHANNELS:
        raise ValueError(f"unknown channel requirement {requirement!r}; known: {', '.join(REQUIRED_CHANNELS)}")
    return [RoutingDecision(channel, postal_address, f"the dunning step requires a {requirement} channel") for channel in REQUIRED_CHANNELS[requirement]]


def choose_channel(
    debtor: DebtorFacts, postal_address: str, *, tried: frozenset[tuple[str, str]] = frozenset(), short_message: bool = False,
    requirement: str | None = None,
) -> RoutingDecision | None:
    """The best channel not yet tried for this document (by channel and recipient), or None.

    With a `requirement` only the channels that satisfy it count (`REQUIRED_CHANNELS`)."""
    options = required_candidates(requirement, postal_address) if requirement else candidates(debtor, postal_address, short_message=short_message)
    return next((d for d in options if (d.channel.value, d.recipient) not in tried), None)


def no_channel_reason(requirement: str | None, tried: frozenset[tuple[str, str]]) -> str:
    """Why `choose_channel` found nothing, for the `dispatch.no_channel_left` record."""
    tried_channels = ", ".join(sorted({channel for channel, _ in tried}))
    if requirement:
        allowed = " or ".join(c.value for c in REQUIRED_CHANNELS[requirement])
        return f"the dunning step requires a {requirement} channel ({allowed}) and every one has failed (tried: {tried_channels})"
    return f"every channel the debtor can be reached on has been tried (tried: {tried_channels})"


def _usable_channel(debtor: DebtorFacts, channel: Channel) -> bool:
    return channel.value not in debtor.disabled_channels


# Where a repair request goes after a contact of this kind failed (DESIGN.md section 2, "Feedback"):
# the other electronic contact, if the debtor has a usable one and did not refuse that channel.
REPAIR_ROUTES = {
    Channel.EMAIL.value: (Channel.SMS, "phone", "sms", "the e-mail address bounced, the number is usable"),
    Channel.SMS.value: (Channel.EMAIL, "email", "email", "the number is unreachable, the e-mail address is usable"),
}


def repair_channel(debtor: DebtorFacts, failed_channel: str, postal_address: str) -> RoutingDecision | None:
    """Where to ask the debtor to repair a contact that just failed.

    After an e-mail bounce: an SMS to a usable number; after an unreachable number: an e-mail to a
    usable address; in both cases unless the debtor refused that channel (a consent given `False`;
    no consent at all does not forbid a service message about the contact) or the creditor switched
    it off. With no such contact: `paper`, a note enclosed with the paper letter that carries the
    document anyway. eBox without a digital user and Peppol are no contact the debtor fixes from a
    message: None."""
    if debtor.kind != "consumer" or failed_channel not in REPAIR_ROUTES:
        return None
    channel, contact_kind, consent, why = REPAIR_ROUTES[failed_channel]
    contact = usable_contact(debtor, contact_kind)
    if contact and debtor.consents.get(consent) is not False and _usable_channel(debtor, channel):
        return RoutingDecision(channel, contact, f"contact repair: {why}")
    return RoutingDecision(Channel.PAPER, postal_address, "contact repair: no other usable contact: a note enclosed with the paper letter")
