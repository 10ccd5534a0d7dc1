"""Fix a debtor's contact and send a failed dispatch again, in one action.

The failed dispatch keeps its state (`failed_permanent` is terminal in the delivery table);
it is marked superseded in its audit history, pointing at the new dispatch, so the
undeliverable queue drops it and the claim page shows both. The new dispatch is queued for
the fixed contact and a transmit job is added in the same transaction.

The dispatch row is created here, not in `gateway.delivery`, while the transmit service is
being built (issue 7 coordination): `queue_resend` is the one place to switch over.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime

from gateway.api.payloads import AddressIn, ContactIn, DebtorPatch
from gateway.domain.transmission import DeliveryState
from gateway.errors import Conflict, InvalidInput, NotFound
from gateway.services import audit
from gateway.services.auth import Principal
from gateway.services.claims import patch_debtor
from gateway.store.models import Dispatch
from gateway.web.repository import SUPERSEDED, UNREACHABLE, AdminRepository
from gateway.workers import queue

TRANSMIT = "dispatch.transmit"  # the job kind the delivery worker handles
# Which debtor contact a channel sends to.
CONTACT_KIND = {"email": "email", "sms": "phone", "paper": "address"}


def idempotency_key(document_id: uuid.UUID, channel: str, recipient: str) -> str:
    """Stable per (document, channel, recipient), the same rule as the delivery service."""
    return hashlib.sha256(f"{document_id}|{channel}|{recipient}".encode()).hexdigest()


def address_line(address: AddressIn) -> str:
    return f"{address.street}, {address.postal_code} {address.city}, {address.country}"


def queue_resend(session, *, document_id: uuid.UUID, claim_id: uuid.UUID, channel: str, recipient: str, reason: str, now: datetime) -> Dispatch:
    dispatch = Dispatch(
        document_id=document_id, claim_id=claim_id, channel=channel, recipient=recipient, state=DeliveryState.QUEUED.value,
        idempotency_key=idempotency_key(document_id, channel, recipient), routing_reason=reason, created_at=now, updated_at=now,
    )
    session.add(dispatch)
    session.flush()
    queue.enqueue(session, TRANSMIT, {"dispatch_id": str(dispatch.id)}, now=now, dedup_key=f"{TRANSMIT}:{dispatch.id}:1")
    return dispatch


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


def fix_contact_and_resend(session, principal: Principal, dispatch_id: uuid.UUID, *, value: str | None = None, address: AddressIn | None = None, now: datetime) -> Dispatch:
    """Replace the failed recipient in the debtor's contacts and queue a new dispatch to the fixed one."""
    repo, old, claim = _open_case(session, principal, dispatch_id)
    kind = CONTACT_KIND.get(old.channel)
    if kind is None:
        raise InvalidInput.single("channel", "channel.not_fixable", f"a {old.channel} dispatch is not fixed by a contact")
    debtor = repo.debtor(claim.debtor_id)
    if kind == "address":
        if address is None:
            raise InvalidInput.single("address", "address.missing", "give the corrected postal address")
        patch = DebtorPatch(address=address)
        recipient = address_line(address)
    else:
        contact = ContactIn(kind=kind, value=(value or "").strip())  # raises on a malformed e-mail or phone number
        kept = [ContactIn(kind=c.kind, value=c.value) for c in debtor.contacts if not (c.kind == kind and c.value.lower() == old.recipient.lower())]
        patch = DebtorPatch(contacts=[*kept, contact][-10:])
        recipient = contact.value
    if recipient.lower() == old.recipient.lower() or repo.dispatch_exists(old.document_id, old.channel, recipient):
        raise InvalidInput.single("value", "contact.unchanged", "this document was already sent to that contact on this channel")
    patch_debtor(session, principal, debtor.id, patch, now=now)
    new = queue_resend(
        session, document_id=old.document_id, claim_id=claim.id, channel=old.channel, recipient=recipient,
        reason=f"resent by {principal.actor} after fixing the {kind} (replaces dispatch {old.id})", now=now,
    )
    audit.record(session, actor=principal.actor, creditor_id=claim.creditor_id, entity_type="dispatch", entity_id=old.id, action=SUPERSEDED, data={"by": str(new.id), "recipient": recipient}, at=now)
    audit.record(
        session, actor=principal.actor, creditor_id=claim.creditor_id, entity_type="claim", entity_id=claim.id, action="dispatch.resent",
        data={"channel": old.channel, "from": old.recipient, "to": recipient, "failed_dispatch": str(old.id), "new_dispatch": str(new.id)}, at=now,
    )
    return new
