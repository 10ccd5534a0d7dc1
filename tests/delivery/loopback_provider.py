"""A provider service on 127.0.0.1 for the delivery tests, and our client for it.

The service keeps one message per idempotency key (a repeat returns the first message id) and
can be told to answer the next sends with an HTTP error. The client is the vendor edge: it maps
HTTP outcomes onto RetryableError / TerminalError like a real provider client must.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

from gateway.channels.base import CallbackEvent, CallbackRejected, SendRequest, SendResult
from gateway.domain.transmission import DeliveryState
from gateway.errors import RetryableError, TerminalError

SECRET = b"test-callback-secret"


class LoopbackService:
    def __init__(self) -> None:
        self.messages: dict[str, dict] = {}  # idempotency key -> message
        self.requests = 0
        self.fail_next: list[int] = []
        service = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                service.requests += 1
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if service.fail_next:
                    self.send_response(service.fail_next.pop(0))
                    self.end_headers()
                    return
                key = self.headers["Idempotency-Key"]
                message = service.messages.setdefault(key, {"id": f"msg-{len(service.messages) + 1}", **body})
                payload = json.dumps({"id": message["id"]}).encode()
                self.send_response(202)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/messages"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


class LoopbackProvider:
    name = "loopback"
    source = "loopback"

    def __init__(self, channel: str, url: str) -> None:
        self.channel = channel
        self.url = url

    def send(self, request: SendRequest) -> SendResult:
        try:
            response = requests.post(self.url, json={"to": request.recipient, "number": request.document_number}, headers={"Idempotency-Key": request.idempotency_key}, timeout=5)
        except requests.RequestException as exc:
            raise RetryableError(str(exc)) from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise RetryableError(f"HTTP {response.status_code}")
        if response.status_code >= 400:
            raise TerminalError(f"HTTP {response.status_code}")
        return SendResult(DeliveryState.SENT, provider_message_id=response.json()["id"], status_code=response.status_code)

    @staticmethod
    def sign(body: bytes, timestamp: str) -> str:
        return hmac.new(SECRET, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()

    def verify_callback(self, headers, body, now):
        timestamp = headers.get("x-timestamp", "")
        if not hmac.compare_digest(headers.get("x-signature", ""), self.sign(body, timestamp)):
            raise CallbackRejected("bad signature")
        if not timestamp.isdigit() or abs(now.timestamp() - int(timestamp)) > 300:
            raise CallbackRejected("timestamp outside the 5-minute window")
        return self.parse_callback(headers, body)

    def parse_callback(self, headers, body):
        data = json.loads(body)
        return [CallbackEvent(external_id=f"{data['id']}:{data['status']}", provider_message_id=data["id"], state=DeliveryState(data["status"]), detail={"reason": data.get("reason", "")})]
