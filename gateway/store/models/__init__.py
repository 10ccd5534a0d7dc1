"""All tables; importing this module registers them on `Base.metadata`."""

from gateway.store.models.admin import AdminSession, AdminUser
from gateway.store.models.audit import AuditEvent
from gateway.store.models.claim import Claim, ClaimLine, Payment
from gateway.store.models.dispatch import Dispatch, DispatchAttempt
from gateway.store.models.document import Document, DocumentSequence
from gateway.store.models.dunning import (
    ClaimHold,
    DunningPolicyAssignment,
    DunningStep,
    EscalationEntry,
    PaymentPlan,
    PaymentPlanClaim,
    PaymentPlanInstalment,
)
from gateway.store.models.inbox import InboundEvent
from gateway.store.models.incoming_payment import IncomingPayment
from gateway.store.models.job import Job
from gateway.store.models.party import ApiKey, CreditorEntity, Debtor, DebtorConsent, DebtorContact
from gateway.store.models.payment_request import PaymentRequest  # noqa: F401 - registers the table
from gateway.store.models.request import IdempotencyRecord
from gateway.store.models.webhook import Event, WebhookAttempt, WebhookDelivery, WebhookEndpoint  # noqa: F401 - registers the tables

__all__ = [
    "AdminSession", "AdminUser", "ApiKey", "AuditEvent", "Claim", "ClaimHold", "ClaimLine", "CreditorEntity", "Debtor", "DebtorConsent",
    "DebtorContact", "Dispatch", "DispatchAttempt", "Document", "DocumentSequence",
    "DunningPolicyAssignment", "DunningStep", "EscalationEntry", "IdempotencyRecord", "InboundEvent", "IncomingPayment", "Job",
    "Payment", "PaymentPlan", "PaymentPlanClaim", "PaymentPlanInstalment",
]
