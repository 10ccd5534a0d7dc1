"""`GET /pay/{token}`: the stable Bancontact pay link printed on letters and sent in mails and SMS.

The token names an invoice or reminder (`gateway.kit.pay_link`). Following it gives a payment
that can be paid now: the claim's live payment request (made for the document when it was
issued, `payments.queue_payment_request`) while it is pending, unexpired and for the open amount,
else a new one through the outbox (`bancontact.request_payment`: row committed before the API
call, so a reload or a mail scanner that follows the link gets the same payment for its 20
minutes, never a second one). Answer: 303 to the payment's deeplink (the Bancontact app, or its
web page). A link that does not verify is a 404 telling nothing; a claim with nothing left to pay
gets a short page saying so; Bancontact not configured or unreachable is a 503.
"""

from __future__ import annotations

import html

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from gateway.errors import Conflict, NotFound, RetryableError, TerminalError
from gateway.kit import pay_link
from gateway.store.models import Claim, CreditorEntity, Document

router = APIRouter(include_in_schema=False)
HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex, nofollow", "X-Content-Type-Options": "nosniff"}
NOTHING_TO_PAY = {
    "nl": "Voor {number} van {creditor} valt niets meer te betalen.",
    "fr": "Il n'y a plus rien à payer pour {number} de {creditor}.",
    "de": "Für {number} von {creditor} ist nichts mehr zu zahlen.",
    "en": "There is nothing left to pay for {number} from {creditor}.",
}
UNAVAILABLE = {
    "nl": "Betalen met Bancontact lukt nu niet. Probeer het later opnieuw of betaal met een overschrijving.",
    "fr": "Le paiement par Bancontact est momentanément indisponible. Réessayez plus tard ou payez par virement.",
    "de": "Die Zahlung mit Bancontact ist gerade nicht möglich. Versuchen Sie es später oder zahlen Sie per Überweisung.",
    "en": "Paying with Bancontact is not possible right now. Please try again later or pay by transfer.",
}


def _page(text: str, language: str, status: int) -> HTMLResponse:
    body = f'<!DOCTYPE html><html lang="{language}"><head><meta charset="utf-8"><title>Bancontact</title></head><body><p>{html.escape(text)}</p></body></html>'
    return HTMLResponse(body, status_code=status, headers=HEADERS)


@router.get("/pay/{token}")
def pay(request: Request, token: str) -> Response:
    from gateway.channels.payment.bancontact import request_payment

    settings, database = request.app.state.settings, request.app.state.database
    try:
        document_id = pay_link.verify([settings.personal_link_secret.encode()], token)
    except pay_link.InvalidPayLink:
        return _page("Not found.", "en", 404)
    with database.session_scope() as session:
        document = session.get(Document, document_id)
        claim = session.get(Claim, document.claim_id) if document is not None else None
        if claim is None:
            return _page("Not found.", "en", 404)
        language = (document.meta or {}).get("language") or "nl"
        language = language if language in NOTHING_TO_PAY else "nl"
        creditor = session.get(CreditorEntity, claim.creditor_id)
        payable = claim.status in ("open", "partially_paid") and claim.amount_open > 0
        number, creditor_name, claim_id = document.number, creditor.name, claim.id
    if not payable:
        return _page(NOTHING_TO_PAY[language].format(number=number, creditor=creditor_name), language, 200)
    verifier = request.app.state.providers.verifiers.get("bancontact")
    if verifier is None or getattr(verifier, "client", None) is None:
        return _page(UNAVAILABLE[language], language, 503)
    try:  # outside any transaction: request_payment commits its outbox row before it calls Bancontact
        link = request_payment(database, verifier.client, claim_id, callback_url=verifier.callback_url)
    except (Conflict, NotFound, RetryableError, TerminalError):
        return _page(UNAVAILABLE[language], language, 503)
    if not link.deeplink:
        return _page(UNAVAILABLE[language], language, 503)
    return RedirectResponse(link.deeplink, status_code=303, headers=HEADERS)
