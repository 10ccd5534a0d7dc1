"""A loopback SMS gateway that speaks the protocol of `gateway.channels.sms.client`.

It keeps one message per `client_reference` (a repeat answers 200 with the first id, and sends
no second report), and calls back asynchronously (a thread, after `report_delay_seconds`) with
signed delivery reports. The outcome is chosen by the last digit of the phone number:

| last digit | reports sent, in order | our state (dlr.DLR_TABLE) |
|---|---|---|
| 0-5 | DELIVRD | delivered |
| 6 | UNDELIV (err 001) | failed_permanent, phone marked unreachable |
| 7 | EXPIRED (err 002) | failed_temporary (retried) |
| 8 | REJECTD (err 003) | failed_permanent, number not blamed |
| 9 | ENROUTE, then DELIVRD | sent, then delivered |

`fail_next` (a list of HTTP status codes) makes the next sends fail, for retry tests.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer

import requests

from gateway.channels.sms.client import MESSAGES_PATH, signature
from gateway.channels.sms.segments import count_segments
from gateway.kit.sandbox_http import JsonHandler

OUTCOMES: dict[str, tuple[tuple[str, str], ...]] = {
    **{digit: (("DELIVRD", "000"),) for digit in "012345"},
    "6": (("UNDELIV", "001"),),
    "7": (("EXPIRED", "002"),),
    "8": (("REJECTD", "003"),),
    "9": (("ENROUTE", "000"), ("DELIVRD", "000")),
}
CALLBACK_TIMEOUT_SECONDS = 5.0


def outcome_for(phone: str) -> tuple[tuple[str, str], ...]:
    digits = [ch for ch in phone if ch.isdigit()]
    return OUTCOMES[digits[-1]] if digits else (("UNDELIV", "001"),)


@dataclass
class SandboxMessage:
    id: str
    to: str
    text: str
    client_reference: str
    callback_url: str
    segments: int
    reports: list[dict] = field(default_factory=list)  # {"stat", "status"}: what we reported and what the callback answered


class SmsSandbox:
    def __init__(self, *, api_key: str, callback_secret: str, host: str = "127.0.0.1", port: int = 0, report_delay_seconds: float = 0.05) -> None:
        self.api_key = api_key
        self.callback_secret = callback_secret.encode()
        self.report_delay_seconds = report_delay_seconds
        self.messages: dict[str, SandboxMessage] = {}  # by client reference
        self.requests = 0
        self.fail_next: list[int] = []
        self.lock = threading.Lock()
        self.threads: list[threading.Thread] = []
        sandbox = self

        class Handler(JsonHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path != MESSAGES_PATH:
                    return self._answer(404, {"error": "not found"})
                if self.headers.get("Authorization") != f"Bearer {sandbox.api_key}":
                    return self._answer(401, {"error": "bad api key"})
                status, payload = sandbox.accept(body)
                self._answer(status, payload)

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.url = f"http://{host}:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def accept(self, body: bytes) -> tuple[int, dict]:
        with self.lock:
            self.requests += 1
            if self.fail_next:
                return self.fail_next.pop(0), {"error": "simulated failure"}
            try:
                data = json.loads(body)
                to, text, reference, callback_url = data["to"], data["text"], data["client_reference"], data["callback_url"]
            except (ValueError, KeyError, TypeError):
                return 400, {"error": "to, text, client_reference and callback_url are required"}
            if not str(to).lstrip("+").isdigit():
                return 400, {"error": "to is not an international phone number"}
            existing = self.messages.get(reference)
            if existing is not None:
                return 200, {"id": existing.id, "status": "ACCEPTD", "segments": existing.segments}
            message = SandboxMessage(f"sms-{uuid.uuid4().hex[:16]}", to, text, reference, callback_url, count_segments(text).segments)
            self.messages[reference] = message
        thread = threading.Thread(target=self._report, args=(message,), daemon=True)
        self.threads.append(thread)
        thread.start()
        return 201, {"id": message.id, "status": "ACCEPTD", "segments": message.segments}

    def signed_report(self, message_id: str, stat: str, err: str = "000", *, timestamp: int | None = None) -> tuple[bytes, dict[str, str]]:
        """A delivery report as the sandbox sends it: (body, headers). Tests use it to replay or reorder."""
        body = json.dumps({"event_id": uuid.uuid4().hex, "message_id": message_id, "stat": stat, "err": err, "done_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}).encode()
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        return body, {"Content-Type": "application/json", "X-Timestamp": stamp, "X-Signature": signature(self.callback_secret, stamp, body)}

    def _report(self, message: SandboxMessage) -> None:
        for stat, err in outcome_for(message.to):
            time.sleep(self.report_delay_seconds)
            body, headers = self.signed_report(message.id, stat, err)
            try:
                status = requests.post(message.callback_url, data=body, headers=headers, timeout=CALLBACK_TIMEOUT_SECONDS).status_code
            except requests.RequestException as exc:
                status = f"error: {exc}"
            message.reports.append({"stat": stat, "status": status})

    def wait_for_reports(self, timeout: float = 10.0) -> None:
        """Block until every callback thread has finished (tests and the demo)."""
        deadline = time.monotonic() + timeout
        for thread in list(self.threads):
            thread.join(max(0.0, deadline - time.monotonic()))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def main() -> None:
    """`python -m gateway.channels.sms.sandbox`: serve the sandbox until interrupted (demo, manual tests)."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8710)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--callback-secret", required=True)
    parser.add_argument("--report-delay", type=float, default=1.0, help="seconds before each delivery report")
    args = parser.parse_args()
    sandbox = SmsSandbox(api_key=args.api_key, callback_secret=args.callback_secret, port=args.port, report_delay_seconds=args.report_delay)
    print(f"SMS sandbox on {sandbox.url} (GATEWAY_SMS_API_URL)", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        sandbox.close()


if __name__ == "__main__":
    main()
