"""The SMS channel provider (channel and callback source "sms") over `SmsClient`.

`send`: builds the short text (from `request.extra["text"]`, or a one-line notice per language),
counts its parts with `segments.check_length` (more than the configured maximum is terminal:
retrying the same text will not make it shorter), and sends it with the dispatch's idempotency
key as the vendor's client reference. The result is `sent`; delivery arrives as a DLR callback.
The part count and encoding are kept in the attempt's response excerpt (what we are billed for).

Callbacks: HMAC-SHA256 over timestamp + "." + raw body, timestamp within `CALLBACK_WINDOW_SECONDS`
of now (either side); an empty secret disables the endpoint. Each report becomes one event
`{message_id}:{stat}` mapped through `dlr.DLR_TABLE`, so a repeated report is stored once and a
late ENROUTE after DELIVRD is stored but moves nothing (`apply_report`).
"""

from __future__ import annotations

import hmac
import json
from datetime import date, datetime

from gateway.channels.base import CallbackEvent, CallbackRejected, SendRequest, SendResult
from gateway.channels.sms import segments
from gateway.channels.sms.segments import to_gsm7
from gateway.channels.sms.client import SmsClient, signature
from gateway.channels.sms.dlr import DlrError, map_stat
from gateway.domain.transmission import DeliveryState
from gateway.errors import TerminalError

CALLBACK_WINDOW_SECONDS = 300  # a signed report older or newer than 5 minutes is refused (replay window)
MAX_CALLBACK_BYTES = 64 * 1024  # one DLR is a few hundred bytes

# The default text when the dispatch carries none: a notice, the document itself is never in an SMS.
NOTICE = {
    "nl": "{sender}: document {number} staat voor u klaar.",
    "fr": "{sender}: le document {number} est disponible.",
    "de": "{sender}: Dokument {number} liegt für Sie bereit.",
    "en": "{sender}: document {number} is ready for you.",
}


# A later short reminder (no fee, no interest): what is owed, by when, under which OGM, and the personal link.
# GSM-7 characters only (no euro sign, no accents beyond the basic table) so it stays within 2 parts.
REMINDER = {
    "nl": "{sender}: herinnering {number}: nog EUR {amount} te betalen voor {due}, mededeling {ogm}.",
    "fr": "{sender}: rappel {number}: EUR {amount} restent a payer avant le {due}, communication {ogm}.",
    "de": "{sender}: Erinnerung {number}: noch EUR {amount} zu zahlen bis {due}, Mitteilung {ogm}.",
    "en": "{sender}: reminder {number}: EUR {amount} still to pay by {due}, reference {ogm}.",
}

# The first reminder (Book XIX WER art. XIX.2, docs/channels-and-law.md 5.1) must state: the
# creditor's name and enterprise number; what the debt is for and its due date (an invoice number
# alone is not enough); the outstanding balance; the term of at least 14 days before any cost; and
# the damages that will be claimed after it (here, as on the letter: the fees of the later steps).
# GSM-7 only: with the personal link and the Bancontact pay link it fits in 3 parts (459
# characters) for an ordinary name, a public base URL of about 25 characters and a description cut
# at DESCRIPTION_CHARS; a longer text is refused (terminal, not the debtor's fault) and the router
# sends the letter on paper instead.
FIRST_REMINDER = {
    "nl": "{sender} (KBO {enterprise}): eerste herinnering {number}, factuur {invoice} ({description}, vervallen {invoice_due}). "
          "Open saldo EUR {amount}. Betaal kosteloos binnen {days} dagen, tot {due}, met mededeling {ogm}. Daarna: {fees}.",
    "fr": "{sender} (BCE {enterprise}): premier rappel {number}, facture {invoice} ({description}, echue le {invoice_due}). "
          "Solde EUR {amount}. Payez sans frais dans les {days} jours, jusqu'au {due}, communication {ogm}. Ensuite: {fees}.",
    "de": "{sender} (Unt.-Nr. {enterprise}): erste Mahnung {number}, Rechnung {invoice} ({description}, fällig {invoice_due}). "
          "Offen EUR {amount}. Zahlen Sie kostenfrei binnen {days} Tagen, bis {due}, Mitteilung {ogm}. Danach: {fees}.",
    "en": "{sender} (enterprise no. {enterprise}): first reminder {number}, invoice {invoice} ({description}, due {invoice_due}). "
          "Balance EUR {amount}. Pay free of charge within {days} days, by {due}, reference {ogm}. After that: {fees}.",
}
NEXT_FEE = {"nl": "herinnering {step} kost EUR {fee}", "fr": "frais du rappel {step} EUR {fee}", "de": "Mahnung {step} kostet EUR {fee}", "en": "reminder {step} costs EUR {fee}"}
NO_FEES = {"nl": "geen kosten", "fr": "pas de frais", "de": "keine Kosten", "en": "no costs"}
DESCRIPTION_CHARS = 30


def _local_amount(amount: str, language: str) -> str:
    return amount if language == "en" else amount.replace(".", ",")


def _day(iso: str | None) -> str:
    return f"{iso[8:10]}/{iso[5:7]}/{iso[0:4]}" if iso and len(iso) == 10 else (iso or "")


def _ogm(ogm: str) -> str:
    return f"+++{ogm[0:3]}/{ogm[3:7]}/{ogm[7:12]}+++" if len(ogm) == 12 else ogm


def _enterprise(number: str) -> str:
    return f"{number[0:4]}.{number[4:7]}.{number[7:10]}" if len(number) == 10 and number.isdigit() else number


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def first_reminder_text(request: SendRequest) -> str:
    """The Book XIX first reminder as an SMS (without the link); TerminalError when a mandatory
    value is missing, so the letter goes on paper instead of an SMS that says less than the law asks."""
    extra = request.extra
    language = request.language if request.language in FIRST_REMINDER else "nl"
    missing = [name for name in ("creditor_enterprise_number", "invoice_number", "invoice_due_date", "due_date", "issue_date") if not extra.get(name)]
    if missing:
        raise TerminalError(f"sms: a first reminder must state {', '.join(missing)} (Book XIX art. XIX.2); send it as a letter")
    days = (date.fromisoformat(extra["due_date"]) - date.fromisoformat(extra["issue_date"])).days
    fees = "; ".join(NEXT_FEE[language].format(step=step, fee=_local_amount(fee, language)) for step, fee in extra.get("fees_to_follow") or ())
    return FIRST_REMINDER[language].format(
        sender=to_gsm7(request.sender_name or ""), enterprise=_enterprise(extra["creditor_enterprise_number"]), number=request.document_number,
        invoice=extra["invoice_number"], description=_cut(to_gsm7(extra.get("description") or ""), DESCRIPTION_CHARS),
        invoice_due=_day(extra["invoice_due_date"]), amount=_local_amount(extra["amount"], language), days=days, due=_day(extra["due_date"]),
        ogm=_ogm(extra["ogm"]), fees=fees or NO_FEES[language],
    )


def sms_text(request: SendRequest) -> str:
    """The text of the message: a stored text document as it is (a contact-repair notice), a
    reminder (the first one with Book XIX's content), or a notice that a document is ready; the
    personal/payment link appended."""
    if request.extra.get("text"):
        return str(request.extra["text"])
    if request.document_media_type.startswith("text/plain"):
        return request.document.decode("utf-8")
    extra = request.extra
    if extra.get("document_kind") == "reminder" and extra.get("amount") and extra.get("ogm"):
        if extra.get("reminder_step") == 1:
            text = first_reminder_text(request)
        else:
            language = request.language if request.language in REMINDER else "nl"
            text = REMINDER[language].format(
                sender=to_gsm7(request.sender_name or ""), number=request.document_number, amount=_local_amount(extra["amount"], language),
                due=_day(extra.get("due_date", "")), ogm=_ogm(extra["ogm"]),
            )
    else:
        template = NOTICE.get(request.language, NOTICE["nl"])
        text = template.format(sender=request.sender_name or "", number=request.document_number)
    link = extra.get("payment_url") or extra.get("payment_link")
    if link:
        text += f" {link}"
    if extra.get("bancontact_url"):  # the document's payment request, by its stable pay link (gateway.kit.pay_link)
        text += f" Bancontact: {extra['bancontact_url']}"
    return text


class SmsProvider:
    name = "sms"
    channel = "sms"
    source = "sms"

    def __init__(self, client: SmsClient, *, callback_secret: str, callback_url: str, max_segments: int) -> None:
        self.client = client
        self.callback_secret = callback_secret.encode()
        self.callback_url = callback_url
        self.max_segments = max_segments

    def send(self, request: SendRequest) -> SendResult:
        text = sms_text(request)
        try:
            count = segments.check_length(text, self.max_segments)
        except ValueError as exc:
            raise TerminalError(f"sms text refused: {exc}") from exc
        accepted = self.client.send(to=request.recipient, text=text, client_reference=request.idempotency_key, callback_url=self.callback_url)
        excerpt = json.dumps({"message_id": accepted.message_id, "segments": count.segments, "encoding": count.encoding.value, "units": count.units, "repeated": accepted.repeated})
        return SendResult(DeliveryState.SENT, provider_message_id=accepted.message_id, status_code=accepted.status_code, response_excerpt=excerpt)

    def verify_callback(self, headers: dict[str, str], body: bytes, now: datetime) -> list[CallbackEvent]:
        if not self.callback_secret:
            raise CallbackRejected("sms callbacks are disabled (no secret configured)")
        if len(body) > MAX_CALLBACK_BYTES:
            raise CallbackRejected("callback body too large")
        timestamp = headers.get("x-timestamp", "")
        if not timestamp.isdigit():
            raise CallbackRejected("X-Timestamp is missing or not Unix seconds")
        if not hmac.compare_digest(headers.get("x-signature", ""), signature(self.callback_secret, timestamp, body)):
            raise CallbackRejected("bad signature")
        if abs(now.timestamp() - int(timestamp)) > CALLBACK_WINDOW_SECONDS:
            raise CallbackRejected("timestamp outside the 5-minute window")
        try:
            return self.parse_callback(headers, body)
        except (ValueError, KeyError, TypeError, DlrError) as exc:
            raise CallbackRejected(f"unreadable delivery report: {exc}") from exc

    def parse_callback(self, headers: dict[str, str], body: bytes) -> list[CallbackEvent]:
        data = json.loads(body)
        reports = data if isinstance(data, list) else [data]
        events = []
        for report in reports:
            stat = str(report["stat"]).upper()
            outcome = map_stat(stat)
            message_id = str(report["message_id"])
            detail = {"stat": stat, "err": str(report.get("err") or ""), "final": outcome.final, "contact_invalid": outcome.contact_invalid}
            if outcome.state in (DeliveryState.FAILED_PERMANENT, DeliveryState.FAILED_TEMPORARY):
                detail["reason"] = f"SMS {stat} (err {detail['err'] or '-'})"
            events.append(CallbackEvent(external_id=f"{message_id}:{stat}", provider_message_id=message_id, state=outcome.state, detail=detail))
        return events
