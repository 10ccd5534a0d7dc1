"""The access-point provider's HTTP API, and nothing else (style rule 4: vendor HTTP lives here).

Contract: `gateway/channels/peppol/README.md`. Every call has explicit connect and read
timeouts. HTTP outcomes map onto the shared error types: connection errors, timeouts, 5xx and
429 are `RetryableError` (the dispatch retries with the same idempotency key, which the AP
recognises); any other 4xx and an answer we cannot read are `TerminalError`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import quote

import requests
import urllib3

from gateway.errors import RetryableError, TerminalError
from gateway.peppol.xmlsafe import MAX_XML_BYTES

# Enough of an AP error body to diagnose it in the attempt row.
EXCERPT_CHARS = 500
# Largest answer read from the AP. A status answer carries its events' MLRs / Invoice Responses
# (base64) and is read by the status poll in a worker: it gets the bound of any XML from outside,
# and nothing larger is read into memory (the rest of the body is never fetched).
MAX_ANSWER_BYTES = MAX_XML_BYTES


@dataclass(frozen=True)
class Answer:
    status_code: int
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class Submission:
    document_id: str
    status: str
    status_code: int
    excerpt: str


class AccessPointClient:
    def __init__(self, base_url: str, api_key: str, *, connect_timeout_seconds: float, read_timeout_seconds: float, session: requests.Session | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = (connect_timeout_seconds, read_timeout_seconds)
        self.session = session or requests.Session()

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def submit(self, *, idempotency_key: str, sender: str, receiver: str, document_type: str, document: bytes) -> Submission:
        """`POST {base}/documents`: 202 `{"id", "status"}`; a repeat with the same key returns the same id."""
        headers = {
            **self._headers(),
            "Content-Type": "application/xml",
            "Idempotency-Key": idempotency_key,
            "X-Sender": sender,
            "X-Receiver": receiver,
            "X-Document-Type": document_type,
        }
        response = self._call("POST", f"{self.base_url}/documents", headers=headers, data=document)
        body = _json(response)
        if not isinstance(body.get("id"), str) or not body["id"]:
            raise TerminalError(f"access point answered HTTP {response.status_code} without a document id: {response.text[:EXCERPT_CHARS]}")
        return Submission(body["id"], str(body.get("status", "")), response.status_code, response.text[:EXCERPT_CHARS])

    def status(self, document_id: str) -> dict:
        """`GET {base}/documents/{id}`: the AP's current view of one document."""
        return self.fetch_status(document_id)[0]

    def fetch_status(self, document_id: str) -> tuple[dict, bytes]:
        """The status answer parsed and as the raw bytes received (what the inbox keeps)."""
        response = self._call("GET", f"{self.base_url}/documents/{quote(document_id, safe='')}", headers=self._headers())
        return _json(response), response.content

    def _call(self, method: str, url: str, **kwargs) -> Answer:
        try:
            with self.session.request(method, url, timeout=self.timeout, stream=True, **kwargs) as response:
                declared = response.headers.get("Content-Length", "")
                if declared.isdigit() and int(declared) > MAX_ANSWER_BYTES:
                    content = b""
                else:
                    content = response.raw.read(MAX_ANSWER_BYTES + 1, decode_content=True)
                answer = Answer(response.status_code, content)
        except (requests.ConnectionError, requests.Timeout, urllib3.exceptions.HTTPError) as exc:  # the last: a broken body while reading
            raise RetryableError(f"access point unreachable: {type(exc).__name__}: {exc}") from exc
        if answer.status_code >= 500 or answer.status_code == 429:
            raise RetryableError(f"access point HTTP {answer.status_code}: {answer.text[:EXCERPT_CHARS]}")
        if answer.status_code >= 400:
            raise TerminalError(f"access point HTTP {answer.status_code}: {answer.text[:EXCERPT_CHARS]}")
        if len(content) > MAX_ANSWER_BYTES or (declared.isdigit() and int(declared) > MAX_ANSWER_BYTES):
            # Terminal for this try: the status poll asks again next period.
            raise TerminalError(f"access point answered HTTP {answer.status_code} with more than {MAX_ANSWER_BYTES} bytes (the limit for XML from outside); not read")
        return answer


def _json(response: Answer) -> dict:
    try:
        body = json.loads(response.content)
    except ValueError as exc:
        raise TerminalError(f"access point answered HTTP {response.status_code} with non-JSON: {response.text[:EXCERPT_CHARS]}") from exc
    if not isinstance(body, dict):
        raise TerminalError(f"access point answered HTTP {response.status_code} with {type(body).__name__}, not an object")
    return body
