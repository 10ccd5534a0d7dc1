"""A loopback Bancontact Pro Payment API v3 with a JWKS and signed callbacks (test key only).

- `POST /v3/payments` (Bearer API key): `{amount (cents), currency EUR, reference <= 35,
  description <= 140, callbackUrl}` -> 201 with `paymentId` (24 characters), `status` PENDING,
  `expiresAt` (+20 minutes), `_links` {self, deeplink, qrcode, cancel}. Not idempotent, like the
  real one: every call creates a payment.
- `GET /v3/payments/{id}`, `POST /v3/payments/search` (by `reference` and `paymentStatuses`).
- `GET /jwks`: the public keys (`kty` EC, `crv` P-256, `kid`); `rotate_key()` adds a new key and
  signs with it from then on (the old one stays published, as Bancontact does for 24 h).
- `POST /sandbox/payments/{id}/pay?status=SUCCEEDED` ("the debtor pays"; any status from 1.5 may
  be given, e.g. CANCELLED): sets the status and posts the signed callback to the payment's
  callbackUrl at once; answers `{"status", "callback_status"}`.
- `POST /sandbox/invoice-link/pay` `{"url": "https://pay.bancontact.net/t/1/<PPID>?D=..&A=..&R=.."}`
  ("the debtor scans the invoice QR on a letter and pays", 1.7): a payment we never created,
  with a new paymentId, the link's amount, reference and description, SUCCEEDED at once; its
  signed callback goes to the profile's callback URL (`profile_callback_url`, or `callbackUrl` in
  the body). Answers `{"paymentId", "status", "callback_status"}`; 404 for another profile's link.

Callbacks carry the detached ES256 JWS of channels-and-law.md 1.6 in `Signature`: header
`{alg ES256, kid, typ jose+json, crit [5 Payconiq URIs], sub, iss, iat, jti, path}`, signing
input `b64url(header).b64url(raw body)`, signature raw r||s. `signed_callback` builds one with
any header changed, for tests of forgery, staleness and replay.

`fail_next` (HTTP codes) fails the next creations; `lose_answer_next` creates the payment but
answers 503, as a timeout after Bancontact did the work would look to us.
"""

from __future__ import annotations

import json
import secrets
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import ThreadingHTTPServer
from urllib.parse import parse_qs, quote, urlsplit

import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from gateway.channels.payment.bancontact import CLAIM_IAT, CLAIM_ISS, CLAIM_JTI, CLAIM_PATH, CLAIM_SUB, ISSUER, KNOWN_CRIT, b64url
from gateway.kit.sandbox_http import JsonHandler

PAYMENT_LIFETIME = timedelta(minutes=20)  # "a payment id is valid for 20 minutes online" (1.3)
DEEPLINK = "https://pay.bancontact.net/pay/2/{id}"
QRCODE = "https://qrcodegenerator.api.bancontact.net/qrcode?c={deeplink}"
CALLBACK_TIMEOUT_SECONDS = 15  # Bancontact waits 15 s for our answer (1.6)
STATUSES = frozenset({"PENDING", "IDENTIFIED", "AUTHORIZED", "SUCCEEDED", "AUTHORIZATION_FAILED", "FAILED", "CANCELLED", "EXPIRED", "VOIDED"})


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class SandboxPayment:
    payment_id: str
    amount: int
    currency: str
    reference: str
    description: str
    callback_url: str
    created_at: datetime
    expires_at: datetime
    status: str = "PENDING"
    succeeded_at: datetime | None = None
    callbacks: list[tuple[str, int | str]] = field(default_factory=list)  # (status, our HTTP answer)

    def resource(self) -> dict:
        deeplink = DEEPLINK.format(id=self.payment_id)
        links = {"self": {"href": f"/v3/payments/{self.payment_id}"}, "deeplink": {"href": deeplink}, "qrcode": {"href": QRCODE.format(deeplink=quote(deeplink, safe=""))}}
        if self.status == "PENDING":
            links["cancel"] = {"href": f"/v3/payments/{self.payment_id}"}
        return {
            "paymentId": self.payment_id, "status": self.status, "amount": self.amount, "currency": self.currency, "reference": self.reference,
            "description": self.description, "createdAt": _iso(self.created_at), "expiresAt": _iso(self.expires_at), "_links": links,
        }

    def callback_body(self) -> bytes:
        body = {
            "paymentId": self.payment_id, "amount": self.amount, "currency": self.currency, "description": self.description,
            "reference": self.reference, "createdAt": _iso(self.created_at), "expireAt": _iso(self.expires_at), "status": self.status,
            "debtor": {"name": "An", "iban": "*************4927"},
        }
        if self.succeeded_at:
            body["succeededAt"] = _iso(self.succeeded_at)
        return json.dumps(body).encode()


class BancontactSandbox:
    def __init__(self, *, api_key: str, payment_profile_id: str, host: str = "127.0.0.1", port: int = 0, profile_callback_url: str = "") -> None:
        self.api_key = api_key
        self.payment_profile_id = payment_profile_id
        self.profile_callback_url = profile_callback_url  # the profile's callback, for payments made without the API
        self.keys: list[tuple[str, ec.EllipticCurvePrivateKey]] = []
        self.rotate_key()
        self.payments: dict[str, SandboxPayment] = {}
        self.create_requests = 0
        self.jwks_requests = 0
        self.fail_next: list[int] = []
        self.lose_answer_next = False
        self.lock = threading.Lock()
        sandbox = self

        class Handler(JsonHandler):
            def _authorised(self) -> bool:
                return self.headers.get("Authorization") == f"Bearer {sandbox.api_key}"

            def do_GET(self) -> None:
                if self.path == "/jwks":
                    sandbox.jwks_requests += 1
                    return self._answer(200, sandbox.jwks())
                if not self.path.startswith("/v3/payments/"):
                    return self._answer(404, {"code": "NOT_FOUND", "message": "no such resource"})
                if not self._authorised():
                    return self._answer(401, {"code": "UNAUTHORIZED", "message": "invalid API key"})
                payment = sandbox.payments.get(self.path.rsplit("/", 1)[1])
                if payment is None:
                    return self._answer(404, {"code": "PAYMENT_NOT_FOUND", "message": "no such payment"})
                self._answer(200, payment.resource())

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                url = urlsplit(self.path)
                if url.path == "/sandbox/invoice-link/pay":
                    try:
                        data = json.loads(body or b"{}")
                        return self._answer(*sandbox.pay_invoice_link(str(data["url"]), callback_url=data.get("callbackUrl")))
                    except (ValueError, KeyError, TypeError):
                        return self._answer(400, {"code": "FIELD_IS_REQUIRED", "message": "url is required"})
                if url.path.startswith("/sandbox/payments/") and url.path.endswith("/pay"):
                    status = parse_qs(url.query).get("status", ["SUCCEEDED"])[0]
                    return self._answer(*sandbox.pay(url.path.split("/")[3], status))
                if not self._authorised():
                    return self._answer(401, {"code": "UNAUTHORIZED", "message": "invalid API key"})
                if url.path == "/v3/payments":
                    return self._answer(*sandbox.create(body))
                if url.path == "/v3/payments/search":
                    return self._answer(200, sandbox.search(body))
                self._answer(404, {"code": "NOT_FOUND", "message": "no such resource"})

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.url = f"http://{host}:{self.server.server_port}"
        self.jwks_url = self.url + "/jwks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    # -- keys ------------------------------------------------------------------------------------

    def rotate_key(self) -> str:
        kid = f"sandbox-{secrets.token_hex(4)}"
        self.keys.append((kid, ec.generate_private_key(ec.SECP256R1())))
        return kid

    def jwks(self) -> dict:
        keys = []
        for kid, private in self.keys:
            numbers = private.public_key().public_numbers()
            keys.append({"kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
                         "x": b64url(numbers.x.to_bytes(32, "big")), "y": b64url(numbers.y.to_bytes(32, "big"))})
        return {"keys": keys}

    def signed_callback(self, payment: SandboxPayment, *, body: bytes | None = None, key: tuple[str, ec.EllipticCurvePrivateKey] | None = None,
                        header_changes: dict | None = None, der: bool = False) -> tuple[bytes, dict[str, str]]:
        """(body, headers) of a callback as Bancontact sends it; `header_changes` sets (or, with None, drops) header fields."""
        body = payment.callback_body() if body is None else body
        kid, private = key or self.keys[-1]
        header = {
            "typ": "jose+json", "kid": kid, "alg": "ES256", "crit": sorted(KNOWN_CRIT),
            CLAIM_SUB: self.payment_profile_id, CLAIM_ISS: ISSUER, CLAIM_IAT: _iso(datetime.now(timezone.utc)),
            CLAIM_JTI: uuid.uuid4().hex, CLAIM_PATH: payment.callback_url,
        }
        for name, value in (header_changes or {}).items():
            if value is None:
                header.pop(name, None)
            else:
                header[name] = value
        header_b64 = b64url(json.dumps(header).encode())
        der_signature = private.sign(f"{header_b64}.{b64url(body)}".encode("ascii"), ec.ECDSA(hashes.SHA256()))
        if der:
            signature = der_signature
        else:
            r, s = decode_dss_signature(der_signature)
            signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        headers = {"Content-Type": "application/json", "User-Agent": "Bancontact Payments/v3", "Signature": f"{header_b64}..{b64url(signature)}"}
        return body, headers

    # -- payments ----------------------------------------------------------------------------------

    def create(self, body: bytes) -> tuple[int, dict]:
        with self.lock:
            self.create_requests += 1
            if self.fail_next:
                return self.fail_next.pop(0), {"code": "TRY_AGAIN_LATER", "message": "simulated failure"}
            try:
                data = json.loads(body)
                amount = data["amount"]
            except (ValueError, KeyError, TypeError):
                return 400, {"code": "FIELD_IS_REQUIRED", "message": "amount is required"}
            if not isinstance(amount, int) or not 1 <= amount <= 999_999_999_999:
                return 400, {"code": "FIELD_IS_INVALID", "message": "amount is 1..999999999999 cents"}
            if data.get("currency", "EUR") != "EUR":
                return 400, {"code": "FIELD_IS_INVALID", "message": "currency must be EUR"}
            reference, description = str(data.get("reference", "")), str(data.get("description", ""))
            if len(reference) > 35 or len(description) > 140:
                return 400, {"code": "FIELD_IS_INVALID", "message": "reference <= 35 and description <= 140 characters"}
            now = datetime.now(timezone.utc)
            payment = SandboxPayment(secrets.token_hex(12), amount, "EUR", reference, description, str(data.get("callbackUrl", "")), now, now + PAYMENT_LIFETIME)
            self.payments[payment.payment_id] = payment
            if self.lose_answer_next:
                self.lose_answer_next = False
                return 503, {"code": "TECHNICAL_ERROR", "message": "the answer was lost"}
            return 201, payment.resource()

    def search(self, body: bytes) -> dict:
        data = json.loads(body or b"{}")
        statuses = set(data.get("paymentStatuses") or STATUSES)
        found = [p.resource() for p in self.payments.values() if p.reference == data.get("reference") and p.status in statuses]
        return {"size": len(found), "totalPages": 1, "totalElements": len(found), "number": 0, "details": found}

    def pay(self, payment_id: str, status: str) -> tuple[int, dict]:
        payment = self.payments.get(payment_id)
        if payment is None:
            return 404, {"code": "PAYMENT_NOT_FOUND", "message": "no such payment"}
        if status not in STATUSES:
            return 400, {"code": "FIELD_IS_INVALID", "message": f"status is one of {sorted(STATUSES)}"}
        payment.status = status
        if status == "SUCCEEDED":
            payment.succeeded_at = datetime.now(timezone.utc)
        return 200, {"status": status, "callback_status": self.send_callback(payment)}

    def pay_invoice_link(self, link: str, *, callback_url: str | None = None) -> tuple[int, dict]:
        """The debtor pays through a Bancontact invoice link (`/t/1/<PPID>?D=&A=&R=`): a payment
        that no `POST /v3/payments` of ours created, reported to the profile's callback URL."""
        parts = urlsplit(link)
        segments = parts.path.strip("/").split("/")
        if len(segments) != 3 or segments[:2] != ["t", "1"] or segments[2] != self.payment_profile_id:
            return 404, {"code": "MERCHANT_PROFILE_NOT_FOUND", "message": "not an invoice link of this payment profile"}
        query = parse_qs(parts.query)
        try:
            amount = int(query["A"][0])
            reference = query.get("R", [""])[0]
            description = query.get("D", [""])[0]
        except (KeyError, ValueError, IndexError):
            return 400, {"code": "FIELD_IS_INVALID", "message": "an invoice link carries A (cents), R and D"}
        target = callback_url or self.profile_callback_url
        if not target:
            return 400, {"code": "FIELD_IS_REQUIRED", "message": "no profile callback URL configured"}
        now = datetime.now(timezone.utc)
        payment = SandboxPayment(secrets.token_hex(12), amount, "EUR", reference, description, target, now, now + PAYMENT_LIFETIME, status="SUCCEEDED", succeeded_at=now)
        with self.lock:
            self.payments[payment.payment_id] = payment
        return 200, {"paymentId": payment.payment_id, "status": payment.status, "callback_status": self.send_callback(payment)}

    def send_callback(self, payment: SandboxPayment) -> int | str:
        body, headers = self.signed_callback(payment)
        try:
            answer: int | str = requests.post(payment.callback_url, data=body, headers=headers, timeout=CALLBACK_TIMEOUT_SECONDS).status_code
        except requests.RequestException as exc:
            answer = f"error: {exc}"
        payment.callbacks.append((payment.status, answer))
        return answer

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def main() -> None:
    """`python -m gateway.channels.payment.bancontact_sandbox`: serve until interrupted (demo, manual tests)."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8730)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--payment-profile-id", required=True)
    parser.add_argument("--profile-callback-url", default="", help="where payments made through an invoice link are reported")
    args = parser.parse_args()
    sandbox = BancontactSandbox(api_key=args.api_key, payment_profile_id=args.payment_profile_id, port=args.port, profile_callback_url=args.profile_callback_url)
    print(f"Bancontact sandbox: GATEWAY_BANCONTACT_API_URL={sandbox.url} GATEWAY_BANCONTACT_JWKS_URL={sandbox.jwks_url}", flush=True)
    print(f"simulate the debtor paying: curl -X POST {sandbox.url}/sandbox/payments/<paymentId>/pay", flush=True)
    print(f"or through an invoice link: curl -X POST {sandbox.url}/sandbox/invoice-link/pay -d '{{\"url\": \"https://pay.bancontact.net/t/1/...\"}}'", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        sandbox.close()


if __name__ == "__main__":
    main()
