"""The canonical delivery states of DESIGN.md section 3, for the channel mapping tables.

`queued -> in_flight -> sent -> delivered -> (read | accepted | rejected | paid)`, plus
`failed_temporary` (will retry) and `failed_permanent` (will not). Each channel maps its
provider codes onto these in one table (SMS: `gateway.channels.sms.dlr.DLR_TABLE`).

The dispatch lifecycle itself (transitions, `transition()`) belongs to the domain layer; when
it lands, this enum should be replaced by an import of its state type, with the same values.
"""

from __future__ import annotations

from enum import StrEnum


class DeliveryState(StrEnum):
    QUEUED = "queued"
    IN_FLIGHT = "in_flight"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    ACCEPTED = "accepted"  # a business acceptance (Peppol Invoice Response AP), not "accepted by the SMSC"
    REJECTED = "rejected"
    PAID = "paid"
    FAILED_TEMPORARY = "failed_temporary"
    FAILED_PERMANENT = "failed_permanent"
