"""Paper and registered paper through a print provider's drop folder (`drop.py` has the layout).

`send(request)`: the document must be a PDF (the letter from `gateway.letters.render`); the
letter and its JSON sidecar go into `<drop>/pending/`, and the dispatch is `sent` as soon as
they are there: from then on the letter is the printer's (`close_batch` publishes it in the next
batch). There is no delivery callback; for registered paper the postal receipt comes back
outside this system.

Retries: the file names are the dispatch's idempotency key, and the content is the document's,
so a retry after a crash overwrites the same pair with the same bytes; a letter that is already
in a published batch is not written again. Either way the printer gets one letter.

Errors: a document that is not `application/pdf` (or does not start like a PDF), an unusable
idempotency key, or an empty recipient will not get better by retrying (terminal); a full disk,
a missing folder or a permission problem is the operator's to fix, so it is retryable.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from gateway.channels.base import SendRequest, SendResult
from gateway.channels.paper import drop
from gateway.domain.transmission import DeliveryState
from gateway.errors import RetryableError, TerminalError

PDF = "application/pdf"
CHANNELS = ("paper", "registered_paper")


class PrintDropProvider:
    name = "print-drop"

    def __init__(self, drop_dir: Path, *, channel: str = "paper") -> None:
        if channel not in CHANNELS:
            raise ValueError(f"channel is one of {', '.join(CHANNELS)}, got {channel!r}")
        self.drop_dir = Path(drop_dir)
        self.channel = channel
        self.registered = channel == "registered_paper"

    def sidecar(self, request: SendRequest, pdf: bytes) -> dict:
        return {
            "dispatch_id": str(request.dispatch_id),
            "idempotency_key": request.idempotency_key,
            "channel": self.channel,
            "document_number": request.document_number,
            "recipient": request.recipient,
            "debtor_name": request.extra.get("debtor_name"),
            "registered": self.registered,
            "pages": drop.page_count(pdf),
            "sha256": hashlib.sha256(pdf).hexdigest(),
            "language": request.language,
        }

    def send(self, request: SendRequest) -> SendResult:
        media_type = (request.document_media_type or "").split(";")[0].strip().lower()
        if media_type != PDF:
            raise TerminalError(f"paper: the printer takes application/pdf, got document media type {request.document_media_type!r}")
        if not request.document.startswith(b"%PDF-"):
            raise TerminalError("paper: the document is labelled application/pdf but does not start with %PDF-")
        if not drop.valid_key(request.idempotency_key):
            raise TerminalError(f"paper: idempotency key {request.idempotency_key[:80]!r} cannot be a file name (letters, digits, - _ . only)")
        if not request.recipient.strip():
            raise TerminalError("paper: the dispatch has no postal address (recipient is empty)")
        sidecar = self.sidecar(request, request.document)
        message_id = f"print:{request.idempotency_key}"
        try:
            with drop.drop_lock(self.drop_dir):
                batch = drop.already_batched(self.drop_dir, request.idempotency_key)
                if batch is not None:
                    published = json.loads((batch / f"{request.idempotency_key}.json").read_bytes())
                    if published.get("sha256") != sidecar["sha256"]:
                        raise TerminalError(f"paper: a different letter for this dispatch is already in batch {batch.name}; not printing a second one")
                    excerpt = json.dumps({"batch": batch.name, "file": f"{request.idempotency_key}.pdf", "pages": sidecar["pages"], "repeated": True})
                    return SendResult(DeliveryState.SENT, provider_message_id=message_id, response_excerpt=excerpt)
                path = drop.put_letter(self.drop_dir, request.idempotency_key, request.document, sidecar)
        except OSError as exc:
            raise RetryableError(f"paper: cannot write to the drop folder {self.drop_dir}: {exc.strerror or exc}") from exc
        excerpt = json.dumps({"file": str(path), "pages": sidecar["pages"], "sha256": sidecar["sha256"], "registered": self.registered})
        return SendResult(DeliveryState.SENT, provider_message_id=message_id, response_excerpt=excerpt)
