"""The eBox channel provider (channel and source "ebox") over `EboxClient`.

`send` publishes the dispatch's document as the one main content of a message to the
recipient's eBox (channels-and-law.md 2.4):

- the recipient is the dispatch's recipient: 11 digits = a citizen's national register number
  (INSZ/NISS, `eboxType` citizen + `ssin`), 10 digits = an enterprise number (`eboxType`
  enterprise); anything else is terminal;
- one language per message, `nl`/`fr`/`de` only (an English-speaking debtor gets Dutch);
- no payment data in the message (the API does not carry it); the PDF carries the OGM;
- the `Idempotency-Key` is the dispatch's key, so a retry after a crash gets 409 and the first
  publication's id instead of a second message.

Outcomes: 201 without a code = the message is in the recipient's eBox: `delivered` (the
publication is synchronous). 201 with `NO_DIGITAL_USER` = the recipient never opened an eBox:
`TerminalError`, so the dispatch fails permanently and the router tries the next channel.
A 409 (the key was used before) carries only the first `messageId`; the status endpoint then
tells whether that publication is visible (delivered) or went to nobody (NO_DIGITAL_USER).

Read receipts are polled (`gateway.channels.ebox.receipts`), not pushed: the status body is
stored in the inbox under source "ebox" and `parse_callback` turns it into events
(`{messageId}:read`). `verify_callback` refuses everything, so `POST /v1/callbacks/ebox`
answers 401: there is no documented push from the eBox to a sender.
"""

from __future__ import annotations

import json
from datetime import datetime

from gateway.channels.base import CallbackEvent, CallbackRejected, SendRequest, SendResult
from gateway.channels.ebox.client import Attachment, EboxClient, sha256_digest
from gateway.domain.transmission import DeliveryState
from gateway.errors import TerminalError

NO_DIGITAL_USER = "NO_DIGITAL_USER"
SUBJECT_LANGUAGES = ("nl", "fr", "de")  # the API takes one of these only
SUBJECT = {
    "nl": "{sender}: document {number}",
    "fr": "{sender} : document {number}",
    "de": "{sender}: Dokument {number}",
}
MAX_SUBJECT_CHARS = 400
EXTENSIONS = {"application/pdf": "pdf", "application/xml": "xml", "text/xml": "xml"}


def ebox_recipient(recipient: str) -> dict:
    compact = recipient.replace(".", "").replace("-", "").replace(" ", "")
    if compact.isdigit() and len(compact) == 11:
        return {"eboxType": "citizen", "ssin": compact}
    if compact.isdigit() and len(compact) == 10:
        return {"eboxType": "enterprise", "enterpriseNumber": compact}
    raise TerminalError(f"eBox recipient {recipient!r} is neither a national register number (11 digits) nor an enterprise number (10 digits)")


class EboxProvider:
    name = "ebox"
    channel = "ebox"
    source = "ebox"

    def __init__(self, client: EboxClient, *, sender_enterprise_number: str, sender_application_id: str, message_type_id: str) -> None:
        self.client = client
        self.sender_enterprise_number = sender_enterprise_number
        self.sender_application_id = sender_application_id
        self.message_type_id = message_type_id

    def message(self, request: SendRequest) -> tuple[dict, list[Attachment]]:
        language = request.language if request.language in SUBJECT_LANGUAGES else "nl"
        subject = SUBJECT[language].format(sender=request.sender_name, number=request.document_number).strip(" :")[:MAX_SUBJECT_CHARS]
        extension = EXTENSIONS.get(request.document_media_type, "bin")
        attachment = Attachment("upfile1", f"{request.document_number}.{extension}", request.document_media_type, request.document, main=True)
        message = {
            "recipient": ebox_recipient(request.recipient),
            "sender": {"eboxType": "enterprise", "enterpriseNumber": self.sender_enterprise_number},
            "subject": {language: subject},
            "senderApplicationId": self.sender_application_id,
            "messageTypeId": self.message_type_id,
            "isReplyAuthorized": False,
            "attachments": [{
                "httpPartName": attachment.part_name, "isMainContent": True, "isAttachmentSigned": False,
                "digest": {"digestMethod": "sha_256", "digestValue": sha256_digest(attachment.content)},
            }],
        }
        return message, [attachment]

    def send(self, request: SendRequest) -> SendResult:
        message, attachments = self.message(request)
        published = self.client.publish(message, attachments, idempotency_key=request.idempotency_key)
        if published.repeated and not self.client.status(published.message_id).visible:
            # A retry of a publication that went to nobody: the first answer said NO_DIGITAL_USER.
            raise TerminalError(f"eBox {NO_DIGITAL_USER}: the recipient has never opened an eBox (message {published.message_id}, published earlier)")
        if published.code == NO_DIGITAL_USER:
            raise TerminalError(f"eBox {NO_DIGITAL_USER}: the recipient has never opened an eBox (message {published.message_id})")
        excerpt = json.dumps({"messageId": published.message_id, "code": published.code, "repeated": published.repeated})
        return SendResult(DeliveryState.DELIVERED, provider_message_id=published.message_id, status_code=published.status_code, response_excerpt=excerpt)

    # -- read receipts (polled) ----------------------------------------------------------------

    def verify_callback(self, headers: dict[str, str], body: bytes, now: datetime) -> list[CallbackEvent]:
        raise CallbackRejected("the eBox does not push status to senders; read receipts are polled")

    def parse_callback(self, headers: dict[str, str], body: bytes) -> list[CallbackEvent]:
        """Events in a stored status answer `{messageId, visible, readStatus}`."""
        data = json.loads(body)
        message_id = str(data["messageId"])
        events = []
        if data.get("visible"):
            events.append(CallbackEvent(f"{message_id}:delivered", message_id, DeliveryState.DELIVERED, {"visible": "true"}))
        if data.get("readStatus"):
            events.append(CallbackEvent(f"{message_id}:read", message_id, DeliveryState.READ, {"read": "true"}))
        return events
