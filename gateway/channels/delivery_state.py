"""The canonical delivery states, re-exported for the channel mapping tables.

The lifecycle itself (transitions, reports) is `gateway.domain.transmission`.
"""

from gateway.domain.transmission import DeliveryState

__all__ = ["DeliveryState"]
