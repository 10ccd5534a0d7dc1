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
from datetime import datetime

from gateway.channels.base import CallbackEvent, CallbackRejected, SendRequest, SendResult
from gateway.channels.sms import segments
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


# A short reminder (no fee, no interest): what is owed, by when, under which OGM, and the personal link.
# GSM-7 characters only (no euro sign, no accents beyond the basic table) so it stays within 2 parts.
REMINDER = {
    "nl": "{sender}: herinnering {number}: nog EUR {amount} te betalen voor {due}, mededeling {ogm}.",
    "fr": "{sender}: rappel {number}: EUR {amount} restent a payer avant le {due}, communication {ogm}.",
    "de": "{sender}: Erinnerung {number}: noch EUR {amount} zu zahlen bis {due}, Mitteilung {ogm}.",
    "en": "{sender}: reminder {number}: EUR {amount} still to pay by {due}, reference {ogm}.",
}


def _local_amount(amount: str, language: str) -> str:
    return amount if language == "en" else amount.replace(".", ",")


def sms_text(request: SendRequest) -> str:
    """The text of the message: a stored text document as it is (a contact-repair notice), a short
    reminder, or a notice that a document is ready; the personal/payment link appended."""
    if request.extra.get("text"):
        return str(request.extra["text"])
    if request.document_media_type.startswith("text/plain"):
        return request.document.decode("utf-8")
    extra = request.extra
    if extra.get("document_kind") == "reminder" and extra.get("amount") and extra.get("ogm"):
        language = request.language if request.language in REMINDER else "nl"
        due = extra.get("due_date", "")
        if len(due) == 10:
            due = f"{due[8:10]}/{due[5:7]}/{due[0:4]}"
        ogm = extra["ogm"]
        text = REMINDER[language].format(
            sender=request.sender_name or "", number=request.document_number, amount=_local_amount(extra["amount"], language),
            due=due, ogm=f"+++{ogm[0:3]}/{ogm[3:7]}/{ogm[7:12]}+++" if len(ogm) == 12 else ogm,
        )
    else:
        template = NOTICE.get(request.language, NOTICE["nl"])
        text = template.format(sender=request.sender_name or "", number=request.document_number)
    link = extra.get("payment_url") or extra.get("payment_link")
    if link:
        text += f" {link}"
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
