"""A sandbox Peppol access point on loopback that speaks the connector contract for real. TEST ONLY.

`gateway/channels/peppol/README.md` is the contract; this server implements it over HTTP
(stdlib `ThreadingHTTPServer` on 127.0.0.1):

- `POST /documents` (headers `Idempotency-Key`, `X-Sender`, `X-Receiver`, `X-Document-Type`,
  body UBL XML) stores one document per idempotency key and answers 202 `{"id", "status"}`; a
  repeat with the same key answers the same id and changes nothing.
- `GET /documents/{id}` answers the document's status and the events sent so far, each as its
  callback carried it (with its MLR / Invoice Response).
- `withhold` (receiver ids): their callbacks are never POSTed, only shown by `GET`, to test the
  gateway's status poll (a callback lost on the way).
- After the 202 a background thread runs the official validation (UBL XSD + CEN + Peppol
  rules): an invalid document is `rejected` with an MLR RE whose lines are the failed rules.
  A valid one gets the outcome of its receiver (table below). Each step is one callback, signed
  (`X-Timestamp`, `X-Signature` = hex HMAC-SHA256(secret, timestamp + "." + body)) and POSTed
  to the callback URL in order; without a callback URL they are kept in `outbox` for the caller.

Outcome by the last digit of the receiver participant id (`0208:0403019261` ends in 1):

| digit | callbacks, in order | final state |
|---|---|---|
| 0, 1 | delivered + MLR AB; Invoice Response AP | accepted |
| 2 | delivered + MLR AP (no buyer response) | delivered |
| 3 | delivered; Invoice Response RE (REF, NIN) | rejected |
| 4 | delivered; Invoice Response AP; Invoice Response PD | paid |
| 5 | not_serviced (EBMS:0004 PEPPOL:NOT_SERVICED) | failed_permanent |
| 6 | rejected + MLR RE (a BV line) | failed_permanent |
| 7 | delivered; Invoice Response UQ (REF, PIN) | delivered, claim on hold |
| 8 | delivered; Invoice Response AB; Invoice Response IP | delivered |
| 9 | delivered; Invoice Response CA (PAY) | delivered |
| any, invalid document | rejected + MLR RE listing the failed rules | failed_permanent |

Every MLR and Invoice Response is built with `gateway.peppol.responses` and passes T71 / T111.
"""

from __future__ import annotations

import base64
import json
import queue
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

from gateway.channels.peppol.provider import sign
from gateway.kit.time import utc_now
from gateway.peppol import xmlsafe
from gateway.peppol.responses import Clarification, build_invoice_response, build_mlr
from gateway.peppol.validate import NS_CAC, NS_CBC, validate_document

# Callback delivery: timeouts per POST, then retries doubling from 0.2 s up to 2 s (~10 s in all:
# a busy SQLite demo server may answer 5xx for a moment; a real AP retries far longer).
CALLBACK_TIMEOUT = (2.0, 10.0)
CALLBACK_ATTEMPTS = 8
CALLBACK_RETRY_SECONDS = 0.2
CALLBACK_RETRY_MAX_SECONDS = 2.0
# A submitted document above this is refused (413) before it is stored.
MAX_DOCUMENT_BYTES = 10 * 1024 * 1024
# MLR line texts are cut to this (an MLR is a status message, not a validation report).
LINE_TEXT_CHARS = 300

NOT_SERVICED = "EBMS:0004 PEPPOL:NOT_SERVICED: the receiving access point does not serve this participant and document type"


@dataclass(frozen=True)
class Step:
    """One callback: an AP status, optionally with an MLR or an Invoice Response code."""

    status: str
    mlr: str | None = None
    invoice_response: str | None = None
    clarifications: tuple[Clarification, ...] = ()
    reason: str | None = None


DELIVERED_AB = Step("delivered", mlr="AB")
DELIVERED = Step("delivered")
OUTCOMES: dict[str, tuple[Step, ...]] = {
    "0": (DELIVERED_AB, Step("buyer_response", invoice_response="AP")),
    "1": (DELIVERED_AB, Step("buyer_response", invoice_response="AP")),
    "2": (Step("delivered", mlr="AP"),),
    "3": (DELIVERED, Step("buyer_response", invoice_response="RE", clarifications=(
        Clarification("REF", "OPStatusReason", "The purchase order reference is missing."), Clarification("NIN", "OPStatusAction")))),
    "4": (DELIVERED, Step("buyer_response", invoice_response="AP"), Step("buyer_response", invoice_response="PD")),
    "5": (Step("not_serviced", reason=NOT_SERVICED),),
    "6": (Step("rejected", mlr="RE", clarifications=(
        Clarification("BV", None, "[BR-CO-15]-Invoice total amount with VAT = Invoice total amount without VAT + Invoice total VAT amount.", "NA"),)),),
    "7": (DELIVERED, Step("buyer_response", invoice_response="UQ", clarifications=(
        Clarification("REF", "OPStatusReason", "Which contract does this invoice belong to?"), Clarification("PIN", "OPStatusAction")))),
    "8": (DELIVERED, Step("buyer_response", invoice_response="AB"), Step("buyer_response", invoice_response="IP")),
    "9": (DELIVERED, Step("buyer_response", invoice_response="CA", clarifications=(
        Clarification("PAY", "OPStatusReason", "Accepted if paid to the account on the contract."),))),
}


def outcome_for(receiver: str) -> tuple[Step, ...]:
    return OUTCOMES.get(receiver.strip()[-1:], OUTCOMES["1"])


@dataclass
class SandboxDocument:
    id: str
    idempotency_key: str
    sender: str
    receiver: str
    document_type: str
    body: bytes
    status: str = "received"
    events: list[dict] = field(default_factory=list)


class SandboxAccessPoint:
    def __init__(self, *, standards_dir: Path, secret: str, callback_url: str | None = None, api_key: str = "", host: str = "127.0.0.1", port: int = 0) -> None:
        self.standards_dir = standards_dir
        self.secret = secret.encode()
        self.callback_url = callback_url
        self.api_key = api_key
        self.documents: dict[str, SandboxDocument] = {}  # by id
        self.by_key: dict[str, str] = {}  # idempotency key -> id
        self.outbox: list[tuple[dict[str, str], bytes]] = []  # callbacks kept when there is no callback URL
        self.refused: list[tuple[int, bytes]] = []  # callbacks the gateway answered with a 4xx
        self.requests = 0
        self.fail_next: list[int] = []  # answer the next POSTs with these HTTP statuses
        # Receivers whose callbacks are never POSTed (a lost callback): the events still show in
        # GET /documents/{id}, which is how the gateway's status poll finds them.
        self.withhold: set[str] = set()
        self.withheld: list[tuple[dict[str, str], bytes]] = []
        self._lock = threading.Lock()
        self._work: queue.Queue[str | None] = queue.Queue()
        self.server = ThreadingHTTPServer((host, port), self._handler())
        self.server.daemon_threads = True
        self._threads: list[threading.Thread] = []

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> SandboxAccessPoint:
        self._threads = [
            threading.Thread(target=self.server.serve_forever, name="sandbox-ap-http", daemon=True),
            threading.Thread(target=self._process_forever, name="sandbox-ap-callbacks", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._work.put(None)
        for thread in self._threads:
            thread.join(timeout=10)

    def __enter__(self) -> SandboxAccessPoint:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """True once every accepted document has had all its callbacks sent (or kept in the outbox)."""
        deadline = time.monotonic() + timeout
        while self._work.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    # --- HTTP ------------------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        sandbox = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _answer(self, status: int, payload: dict) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _authorised(self) -> bool:
                return not sandbox.api_key or self.headers.get("Authorization") == f"Bearer {sandbox.api_key}"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_DOCUMENT_BYTES:
                    self._answer(413, {"error": "document too large"})
                    return
                body = self.rfile.read(length)
                if self.path.rstrip("/") != "/documents":
                    self._answer(404, {"error": "not found"})
                    return
                if not self._authorised():
                    self._answer(401, {"error": "missing or wrong API key"})
                    return
                status, payload = sandbox.submit(dict(self.headers.items()), body)
                self._answer(status, payload)

            def do_GET(self) -> None:
                if not self._authorised():
                    self._answer(401, {"error": "missing or wrong API key"})
                    return
                prefix = "/documents/"
                document = sandbox.documents.get(self.path[len(prefix):]) if self.path.startswith(prefix) else None
                if document is None:
                    self._answer(404, {"error": "not found"})
                    return
                self._answer(200, sandbox.status_answer(document))

        return Handler

    def status_answer(self, document: SandboxDocument) -> dict:
        """`GET /documents/{id}`: each event as its callback carried it (MLR / Invoice Response included)."""
        keys = ("event_id", "status", "reason", "mlr", "invoice_response")
        return {"id": document.id, "status": document.status, "receiver": document.receiver, "events": [
            {key: event[key] for key in keys if event.get(key) is not None or key == "reason"} for event in list(document.events)]}

    def submit(self, headers: dict[str, str], body: bytes) -> tuple[int, dict]:
        headers = {name.lower(): value for name, value in headers.items()}
        with self._lock:
            self.requests += 1
            if self.fail_next:
                return self.fail_next.pop(0), {"error": "sandbox told to fail this request"}
            missing = [name for name in ("idempotency-key", "x-sender", "x-receiver", "x-document-type") if not headers.get(name)]
            if missing:
                return 400, {"error": f"missing headers: {', '.join(missing)}"}
            key = headers["idempotency-key"]
            if key in self.by_key:
                document = self.documents[self.by_key[key]]
                return 202, {"id": document.id, "status": document.status}
            document = SandboxDocument(
                id=f"ap-{uuid.uuid4().hex[:16]}", idempotency_key=key, sender=headers["x-sender"].lower(),
                receiver=headers["x-receiver"].lower(), document_type=headers["x-document-type"], body=body,
            )
            self.documents[document.id] = document
            self.by_key[key] = document.id
        self._work.put(document.id)
        return 202, {"id": document.id, "status": document.status}

    # --- processing and callbacks -----------------------------------------------------------------

    def _process_forever(self) -> None:
        while True:
            document_id = self._work.get()
            try:
                if document_id is None:
                    return
                self._process(self.documents[document_id])
            finally:
                self._work.task_done()

    def _process(self, document: SandboxDocument) -> None:
        try:
            report = validate_document(document.body, standards_dir=self.standards_dir)
            problems = [Clarification("SV" if issue.rule in ("XSD", "XML") else "BV", None, f"[{issue.rule}] {issue.message}"[:LINE_TEXT_CHARS], "NA") for issue in report.errors]
        except xmlsafe.XmlRejected as exc:
            problems = [Clarification("SV", None, exc.message[:LINE_TEXT_CHARS], "NA")]
        if problems:
            steps: tuple[Step, ...] = (Step("rejected", mlr="RE", clarifications=tuple(problems)),)
        else:
            steps = outcome_for(document.receiver)
        for number, step in enumerate(steps, start=1):
            self._deliver(document, self._callback(document, step, number))

    def _callback(self, document: SandboxDocument, step: Step, number: int) -> dict:
        now = utc_now()
        payload: dict = {"event_id": f"{document.id}:{number}", "document_id": document.id, "status": step.status}
        if step.mlr is not None:
            # The MLR comes from the receiving side (the buyer's AP) to the sender.
            payload["mlr"] = base64.b64encode(build_mlr(
                response_id=f"MLR-{document.id}-{number}", issued_at=now, sender_id=document.receiver, receiver_id=document.sender,
                referenced_id=document.id, code=step.mlr,
                description="Rejected: the document fails validation" if step.mlr == "RE" else None, lines=step.clarifications,
            )).decode()
        if step.invoice_response is not None:
            invoice = _invoice_facts(document.body)
            payload["invoice_response"] = base64.b64encode(build_invoice_response(
                response_id=f"IR-{document.id}-{number}", issued_at=now, buyer_id=document.receiver, buyer_name=invoice["buyer"],
                seller_id=document.sender, seller_name=invoice["seller"], invoice_number=invoice["number"],
                invoice_issue_date=invoice["issue_date"], code=step.invoice_response, clarifications=step.clarifications,
            )).decode()
        if step.reason:
            payload["reason"] = step.reason
        return payload

    def _deliver(self, document: SandboxDocument, payload: dict) -> None:
        body = json.dumps(payload).encode()
        timestamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", "X-Timestamp": timestamp, "X-Signature": sign(self.secret, timestamp, body)}
        document.status = payload["status"] if payload["status"] != "buyer_response" else document.status
        document.events.append({**payload, "reason": payload.get("reason")})
        if document.receiver in self.withhold:
            self.withheld.append((headers, body))
            return
        if self.callback_url is None:
            self.outbox.append((headers, body))
            return
        for attempt in range(CALLBACK_ATTEMPTS):
            try:
                response = requests.post(self.callback_url, data=body, headers=headers, timeout=CALLBACK_TIMEOUT)
            except requests.RequestException:
                time.sleep(min(CALLBACK_RETRY_SECONDS * 2**attempt, CALLBACK_RETRY_MAX_SECONDS))
                continue
            if response.status_code < 300:
                return
            if response.status_code < 500:
                self.refused.append((response.status_code, body))
                return
            time.sleep(min(CALLBACK_RETRY_SECONDS * 2**attempt, CALLBACK_RETRY_MAX_SECONDS))
        self.refused.append((0, body))


def _invoice_facts(xml: bytes) -> dict:
    root = xmlsafe.parse(xml).getroot()

    def name(party: str) -> str:
        path = f"{{{NS_CAC}}}{party}/{{{NS_CAC}}}Party/{{{NS_CAC}}}PartyLegalEntity/{{{NS_CBC}}}RegistrationName"
        return (root.findtext(path) or party).strip()

    issued = root.findtext(f"{{{NS_CBC}}}IssueDate")
    return {
        "number": (root.findtext(f"{{{NS_CBC}}}ID") or "").strip(),
        "issue_date": date.fromisoformat(issued.strip()) if issued else None,
        "buyer": name("AccountingCustomerParty"),
        "seller": name("AccountingSupplierParty"),
    }



class SandboxNetwork:
    """The sandbox SML/SMP (HTTPS, test PKI) and this access point together, as the demo runs them.

    Every participant id given is registered for invoices and credit notes; `settings_update()`
    is what points a `Settings` (discovery and the AP provider) at them.
    """

    def __init__(self, participant_ids: list[str], *, pki_dir: Path, standards_dir: Path, callback_url: str, secret: str) -> None:
        from gateway.peppol.sandbox_smp import PeppolSandbox, SandboxParticipant
        from gateway.peppol.testpki import load_test_pki, make_test_pki

        try:
            self.pki = load_test_pki(pki_dir)
        except FileNotFoundError:
            self.pki = make_test_pki(pki_dir)
        self.smp = PeppolSandbox(tuple(SandboxParticipant(pid) for pid in participant_ids), pki=self.pki, tls=True)
        self.ap = SandboxAccessPoint(standards_dir=standards_dir, secret=secret, callback_url=callback_url)

    def start(self) -> SandboxNetwork:
        self.smp.start()
        self.ap.start()
        return self

    def stop(self) -> None:
        self.ap.stop()
        self.smp.stop()

    def settings_update(self) -> dict:
        host, port = self.smp.nameserver
        root = str(self.pki.root_ca_cert.resolve())
        return {
            "peppol_sml_zone": self.smp.zone, "peppol_dns_host": host, "peppol_dns_port": port,
            "peppol_smp_truststore": Path(root), "peppol_smp_require_https": True, "peppol_smp_tls_ca_bundle": root,
            "peppol_ap_base_url": self.ap.base_url, "peppol_ap_api_key": self.ap.api_key, "peppol_ap_callback_secret": self.ap.secret.decode(),
        }
