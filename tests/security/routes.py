"""The application's route table, flattened, and the classification every route must have.

Security tests iterate the real route table of `create_app()`, so a new endpoint is covered
the moment it exists: a route missing from `CLASSIFICATION` fails the tests with its method
and path, and whoever added it decides here how it is isolated.
"""

from __future__ import annotations

from enum import StrEnum

from fastapi import FastAPI
from starlette.routing import Mount


class Kind(StrEnum):
    PUBLIC = "public"  # no creditor data at all (docs, health, sign-in forms, static files)
    OBJECT = "object"  # addresses one stored object by id: another creditor's id is a 404
    LIST = "list"  # lists or searches: another creditor's rows never appear
    CREATE = "create"  # creates for a creditor named in the body: another creditor is refused
    PROVIDER = "provider"  # provider callbacks: authenticated by the provider's signature, not by a key
    STATELESS = "stateless"  # computes an answer from the request alone and stores nothing
    PERSONAL = "personal"  # the consumer's page: a signed link names one debtor at one creditor
    PAY_LINK = "pay_link"  # a signed link names one invoice or reminder: redirects to its Bancontact payment


# (method, path) -> kind. HEAD follows GET.
CLASSIFICATION: dict[tuple[str, str], Kind] = {
    ("GET", "/openapi.json"): Kind.PUBLIC,
    ("GET", "/docs"): Kind.PUBLIC,
    ("GET", "/docs/oauth2-redirect"): Kind.PUBLIC,
    ("GET", "/redoc"): Kind.PUBLIC,
    ("GET", "/healthz"): Kind.PUBLIC,
    ("POST", "/v1/claims"): Kind.CREATE,
    ("POST", "/v1/claims/batch"): Kind.CREATE,
    ("GET", "/v1/claims"): Kind.LIST,
    ("GET", "/v1/claims/{claim_id}"): Kind.OBJECT,
    ("POST", "/v1/claims/{claim_id}/payments"): Kind.OBJECT,
    ("POST", "/v1/claims/{claim_id}/cancel"): Kind.OBJECT,
    ("GET", "/v1/debtors/{debtor_id}"): Kind.OBJECT,
    ("PATCH", "/v1/debtors/{debtor_id}"): Kind.OBJECT,
    ("POST", "/v1/claims/{claim_id}/credit-notes"): Kind.OBJECT,
    ("GET", "/v1/documents/{document_id}"): Kind.OBJECT,
    ("POST", "/v1/claims/{claim_id}/holds"): Kind.OBJECT,
    ("POST", "/v1/claims/{claim_id}/holds/{hold_id}/end"): Kind.OBJECT,
    ("POST", "/v1/claims/{claim_id}/payment-plan"): Kind.OBJECT,
    ("GET", "/v1/claims/{claim_id}/dunning"): Kind.OBJECT,
    ("GET", "/v1/payment-plans/{plan_id}"): Kind.OBJECT,
    ("POST", "/v1/payment-plans/{plan_id}/confirmation"): Kind.OBJECT,
    ("POST", "/v1/payments"): Kind.OBJECT,  # addresses a claim, instalment or fee by its structured reference (in the body)
    ("GET", "/v1/escalations"): Kind.LIST,
    ("POST", "/v1/escalations/{entry_id}/approve"): Kind.OBJECT,
    ("GET", "/v1/escalations/export"): Kind.LIST,
    ("POST", "/v1/callbacks/{source}"): Kind.PROVIDER,
    ("POST", "/v1/callbacks/{channel}/{topic}"): Kind.PROVIDER,
    ("GET", "/v1/events"): Kind.LIST,
    ("GET", "/v1/webhook-endpoints"): Kind.LIST,
    ("POST", "/v1/webhook-endpoints"): Kind.CREATE,
    ("POST", "/v1/webhook-endpoints/{endpoint_id}/disable"): Kind.OBJECT,
    ("POST", "/v1/webhook-endpoints/{endpoint_id}/enable"): Kind.OBJECT,
    ("DELETE", "/v1/webhook-endpoints/{endpoint_id}"): Kind.OBJECT,
    ("POST", "/v1/validate"): Kind.STATELESS,
    ("GET", "/admin"): Kind.PUBLIC,  # a redirect to the dashboard
    ("GET", "/admin/"): Kind.PUBLIC,
    ("GET", "/admin/signin"): Kind.PUBLIC,
    ("POST", "/admin/signin"): Kind.PUBLIC,
    ("POST", "/admin/signout"): Kind.PUBLIC,
    ("GET", "/admin/lang/{language}"): Kind.PUBLIC,
    ("GET", "/admin/dashboard"): Kind.LIST,
    ("GET", "/admin/undeliverable"): Kind.LIST,
    ("POST", "/admin/undeliverable/{dispatch_id}/resend"): Kind.OBJECT,
    ("POST", "/admin/undeliverable/{dispatch_id}/unreachable"): Kind.OBJECT,
    ("GET", "/admin/claims/{claim_id}"): Kind.OBJECT,
    ("GET", "/admin/documents/{document_id}"): Kind.OBJECT,
    ("GET", "/admin/documents/{document_id}/pdf"): Kind.OBJECT,
    ("GET", "/admin/search"): Kind.LIST,
    ("GET", "/admin/escalations"): Kind.LIST,
    ("POST", "/admin/escalations/{entry_id}/approve"): Kind.OBJECT,
    ("POST", "/admin/escalations/approve-list"): Kind.OBJECT,  # the entries are named in the form
    ("GET", "/admin/escalations/export"): Kind.LIST,
    ("MOUNT", "/admin/static"): Kind.PUBLIC,
    ("GET", "/my/static/consumer.css"): Kind.PUBLIC,
    ("POST", "/my/sms-reports"): Kind.STATELESS,  # confirmation-code delivery reports: read nothing, store nothing
    ("GET", "/my/confirm/{confirmation}"): Kind.PERSONAL,
    ("GET", "/my/{token}"): Kind.PERSONAL,
    ("GET", "/my/{token}/documents/{document_id}"): Kind.PERSONAL,
    ("POST", "/my/{token}/pay/{claim_id}"): Kind.PERSONAL,
    ("GET", "/pay/{token}"): Kind.PAY_LINK,
    ("POST", "/my/{token}/email"): Kind.PERSONAL,
    ("POST", "/my/{token}/phone"): Kind.PERSONAL,
    ("POST", "/my/{token}/phone/confirm"): Kind.PERSONAL,
    ("POST", "/my/{token}/preferences"): Kind.PERSONAL,
}


def route_table(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, path) the app serves, flattened through included routers; mounts as MOUNT."""
    found: list[tuple[str, str]] = []

    def walk(routes) -> None:
        for route in routes:
            if hasattr(route, "effective_route_contexts"):  # FastAPI's included router
                walk(route.effective_route_contexts())
            elif isinstance(route, Mount):
                found.append(("MOUNT", route.path))
            else:
                for method in sorted(getattr(route, "methods", None) or ()):
                    if method != "HEAD":
                        found.append((method, route.path))

    walk(app.routes)
    return found


def unclassified(app: FastAPI) -> list[str]:
    return [f"{method} {path}" for method, path in route_table(app) if (method, path) not in CLASSIFICATION]
