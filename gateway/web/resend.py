"""Fix a debtor's contact and send a failed dispatch again, in one action.

The failed dispatch keeps its state (`failed_permanent` is terminal in the delivery table);
it is marked superseded in its audit history, pointing at the new dispatch, so the
undeliverable queue drops it and the claim page shows both. The new dispatch is queued by the
delivery service (`queue_dispatch`: the row and its transmit job, in the same transaction).

What a clerk can fix depends on the channel that failed (`RESEND_WAYS`): an e-mail address, a
mobile number, a postal address (ordinary or registered letter), a Peppol participant id. An
eBox failure has nothing to fix (the national number is right; the citizen has no active eBox):
the document goes by e-mail (when the debtor may receive it that way) or on paper instead. A
Peppol failure may be a wrong participant id, or a buyer who is not on Peppol: fix the id, or
send by e-mail.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from gateway.api.payloads import AddressIn, ContactIn, DebtorPatch
from gateway.delivery import service as delivery
from gateway.domain import identifiers
from gateway.domain.claim import Channel
from gateway.domain.transmission import DeliveryState
from gateway.errors import Conflict, InvalidInput, NotFound
from gateway.services import audit
from gateway.services.auth import Principal
from gateway.services.claims import patch_debtor
from gateway.store.models import Debtor, Dispatch
from gateway.web.repository import SUPERSEDED, UNREACHABLE, AdminRepository


@dataclass(frozen=True)
class ResendWay:
    """Send on `channel` after fixing the debtor's `field`: email | phone | address | peppol_id."""

    channel: str
    field: str


EMAIL = ResendWay(Channel.EMAIL.value, "email")
# Per failed channel, the ways to send the document again, the usual one first.
RESEND_WAYS: dict[str, tuple[ResendWay, ...]] = {
    Channel.EMAIL.value: (EMAIL,),
    Channel.SMS.value: (ResendWay(Channel.SMS.value, "phone"),),
    Channel.PAPER.value: (ResendWay(Channel.PAPER.value, "address"),),
    Channel.REGISTERED_PAPER.value: (ResendWay(Channel.REGISTERED_PAPER.value, "address"),),
    Channel.EBOX.value: (EMAIL, ResendWay(Channel.PAPER.value, "address")),
    Channel.PEPPOL.value: (ResendWay(Channel.PEPPOL.value, "peppol_id"), EMAIL),
}


def may_receive_email(debtor: Debtor) -> bool:
    """A business may always get its invoice by e-mail; a consumer only with e-mail consent (as the router decides)."""
    return debtor.kind == "business" or {c.channel: c.given for c in debtor.consents}.get(Channel.EMAIL.value) is True


def ways_for(dispatch: Dispatch, debtor: Debtor) -> tuple[ResendWay, ...]:
    """The ways the undeliverable queue offers for this failed dispatch; none that could only be refused."""
    return tuple(way for way in RESEND_WAYS.get(dispatch.channel, ()) if way.field != "email" or may_receive_email(debtor))


def address_line(address: AddressIn) -> str:
    """The recipient line of a letter, as the router writes it (gateway/workers/tasks.py postal_address)."""
    return f"{address.street}, {address.postal_code} {address.city}, {address.country}"


def _open_case(session, principal: Principal, dispatch_id: uuid.UUID):
    """The failed dispatch and its claim, locked; refused unless it is still on the undeliverable queue."""
    repo = AdminRepository(session, principal.visible_creditor_ids)
    found = repo.dispatch(dispatch_id, for_update=session.get_bind().dialect.name == "postgresql")
    if found is None:
        raise NotFound(f"no dispatch {dispatch_id}")
    dispatch, claim = found
    if dispatch.state != DeliveryState.FAILED_PERMANENT.value or repo.is_closed(dispatch.id):
        raise Conflict("only a failed dispatch that was not resent or closed yet can be handled")
    return repo, dispatch, claim


def close_as_unreachable(session, principal: Principal, dispatch_id: uuid.UUID, *, now: datetime) -> None:
    """No better contact is known: take the case off the queue, with who decided it and when."""
    _, dispatch, claim = _open_case(session, principal, dispatch_id)
    data = {"channel": dispatch.channel, "recipient": dispatch.recipient, "reason": dispatch.last_error}
    audit.record(session, actor=principal.actor, creditor_id=claim.creditor_id, entity_type="dispatch", entity_id=dispatch.id, action=UNREACHABLE, data=data, at=now)
    audit.record(session, actor=principal.actor, creditor_id=claim.creditor_id, entity_type="claim", entity_id=claim.id, action="dispatch.marked_unreachable", data=data, at=now)


def _fix_contact(session, principal: Principal, debtor: Debtor, old: Dispatch, way: ResendWay, *, value: str | None, address: AddressIn | None, now: datetime) -> str:
    """Store the corrected contact on the debtor; returns the new dispatch's recipient."""
    if way.field == "address":
        if address is None:
            raise InvalidInput.single("address", "address.missing", "give the corrected postal address")
        patch_debtor(session, principal, debtor.id, DebtorPatch(address=address), now=now)
        return address_line(address)
    text = (value or "").strip()
    if way.field == "peppol_id":
        try:
            participant = identifiers.normalize_peppol_id(text)
        except identifiers.IdentifierError as error:
            raise InvalidInput.single("value", error.rule, error.message) from error
        if participant != debtor.peppol_id:
            audit.record(session, actor=principal.actor, creditor_id=debtor.creditor_id, entity_type="debtor", entity_id=debtor.id, action="debtor.updated",
                         data={"peppol_id": participant, "was": debtor.peppol_id}, at=now)
            debtor.peppol_id, debtor.updated_at = participant, now
        return participant
    contact = ContactIn(kind=way.field, value=text)  # raises on a malformed e-mail or phone number
    # The contact that failed on this channel is replaced; on another channel (eBox, Peppol) the new one is added.
    kept = [ContactIn(kind=c.kind, value=c.value) for c in debtor.contacts if not (c.kind == way.field and old.channel == way.channel and c.value.lower() == old.recipient.lower())]
    if not any(c.kind == contact.kind and c.value.lower() == contact.value.lower() for c in kept):
        kept.append(contact)
    patch_debtor(session, principal, debtor.id, DebtorPatch(contacts=kept[-10:]), now=now)
    return contact.value


def fix_contact_and_resend(
    session, principal: Principal, dispatch_id: uuid.UUID, *, channel: str | None = None, value: str | None = None, address: AddressIn | None = None, now: datetime,
) -> Dispatch:
    """Store the corrected contact and queue the same document on `channel` (default: the failed dispatch's own)."""
    repo, old, claim = _open_case(session, principal, dispatch_id)
    debtor = repo.debtor(claim.debtor_id)
    channel = channel or old.channel
    way = next((w for w in ways_for(old, debtor) if w.channel == channel), None)
    if way is None:
        offered = ", ".join(w.channel for w in ways_for(old, debtor)) or "none"
        raise InvalidInput.single("channel", "resend.channel_not_offered", f"a failed {old.channel} dispatch is sent again by {offered}, not by {channel}")
    recipient = _fix_contact(session, principal, debtor, old, way, value=value, address=address, now=now)
    if (channel == old.channel and recipient.lower() == old.recipient.lower()) or repo.dispatch_exists(old.document_id, channel, recipient):
        raise InvalidInput.single("value", "contact.unchanged", f"this document was already sent to {recipient} by {channel}")
    new = delivery.queue_dispatch(
        session, document_id=old.document_id, claim_id=claim.id, channel=channel, recipient=recipient,
        reason=f"resent by {principal.actor} after fixing the {way.field.replace('_', ' ')} (replaces {old.channel} dispatch {old.id})", now=now,
    )
    audit.record(session, actor=principal.actor, creditor_id=claim.creditor_id, entity_type="dispatch", entity_id=old.id, action=SUPERSEDED, data={"by": str(new.id), "recipient": recipient}, at=now)
    audit.record(
        session, actor=principal.actor, creditor_id=claim.creditor_id, entity_type="claim", entity_id=claim.id, action="dispatch.resent",
        data={"channel": channel, "failed_channel": old.channel, "from": old.recipient, "to": recipient, "failed_dispatch": str(old.id), "new_dispatch": str(new.id)}, at=now,
    )
    return new
