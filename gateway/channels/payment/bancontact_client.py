"""The Bancontact Pro (ex-Payconiq) Payment API v3, our side of it (channels-and-law.md 1). The only
module that talks to Bancontact over HTTP.

- `POST {api}/v3/payments` with `Authorization: Bearer <API key>` and `{amount (cents), currency,
  reference (<= 35), description (<= 140), callbackUrl}` -> 201 `{paymentId, status, expiresAt,
  _links: {deeplink, qrcode, ...}}`. Not idempotent: the caller guards it with its outbox row.
- `GET {api}/v3/payments/{id}`: the authoritative status (used when a callback is in doubt).
- `POST {api}/v3/payments/search` `{reference, paymentStatuses}`: reconcile a creation whose
  answer was lost (1.4: "reconcile by reference when callbacks are lost").
- `GET {jwks url}`: the keys that sign callbacks.

Errors: connection errors, timeouts, 5xx (TRY_AGAIN_LATER, TECHNICAL_ERROR) and 429 are
`RetryableError`; other 4xx (FIELD_IS_INVALID, UNAUTHORIZED, UNABLE_TO_PAY_CREDITOR, ...) are
`TerminalError` carrying the `code` of the error envelope `{code, message, traceId, spanId}`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import requests

from gateway.errors import RetryableError, TerminalError

PAYMENTS_PATH = "/v3/payments"
ERROR_EXCERPT_CHARS = 300


@dataclass(frozen=True)
class RemotePayment:
    payment_id: str
    status: str
    amount_cents: int
    reference: str | None
    expires_at: datetime | None
    deeplink: str | None
    qrcode_url: str | None


def _payment(data: dict) -> RemotePayment:
    links = data.get("_links") or {}
    expires = data.get("expiresAt")
    return RemotePayment(
        payment_id=str(data["paymentId"]), status=str(data["status"]), amount_cents=int(data["amount"]), reference=data.get("reference"),
        expires_at=datetime.fromisoformat(expires.replace("Z", "+00:00")) if expires else None,
        deeplink=(links.get("deeplink") or {}).get("href"), qrcode_url=(links.get("qrcode") or {}).get("href"),
    )


class BancontactClient:
    def __init__(self, api_url: str, api_key: str, *, timeout_seconds: float) -> None:
        self.api_url = api_url.rstrip("/")
        self.api_key = api_key
        self.timeout_seconds = timeout_seconds

    def _call(self, method: str, url: str, **kwargs) -> requests.Response:
        try:
            response = requests.request(method, url, timeout=self.timeout_seconds, **kwargs)
        except requests.RequestException as exc:
            raise RetryableError(f"Bancontact unreachable: {type(exc).__name__}: {exc}") from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise RetryableError(f"Bancontact HTTP {response.status_code}: {response.text[:ERROR_EXCERPT_CHARS]}")
        if response.status_code >= 400:
            try:
                envelope = response.json()
                code, message = envelope.get("code", ""), envelope.get("message", "")
            except (ValueError, AttributeError):
                code, message = "", response.text[:ERROR_EXCERPT_CHARS]
            raise TerminalError(f"Bancontact HTTP {response.status_code} {code}: {message}")
        return response

    def _authorised(self, method: str, path: str, **kwargs) -> requests.Response:
        return self._call(method, self.api_url + path, headers={"Authorization": f"Bearer {self.api_key}"}, **kwargs)

    def create_payment(self, *, amount_cents: int, currency: str, reference: str, description: str, callback_url: str) -> RemotePayment:
        body = {"amount": amount_cents, "currency": currency, "reference": reference, "description": description, "callbackUrl": callback_url}
        return _payment(self._authorised("POST", PAYMENTS_PATH, json=body).json())

    def get_payment(self, payment_id: str) -> RemotePayment:
        return _payment(self._authorised("GET", f"{PAYMENTS_PATH}/{payment_id}").json())

    def search(self, *, reference: str, statuses: list[str]) -> list[RemotePayment]:
        answer = self._authorised("POST", f"{PAYMENTS_PATH}/search?page=0&size=100", json={"reference": reference, "paymentStatuses": statuses}).json()
        return [_payment(item) for item in answer.get("details", [])]

    def fetch_jwks(self, url: str) -> dict:
        return self._call("GET", url).json()
