"""The eBox publication API v3, our side of it (channels-and-law.md 2.3-2.5). The only module that
talks to the eBox services.

- Token: OAuth2 `client_credentials` with `private_key_jwt` client authentication (RFC 7523
  section 2.2, OpenID Connect Core section 9): a JWT signed RS256 with the key of our certificate,
  `iss` = `sub` = our client id, `aud` = the token endpoint, a unique `jti` and a short `exp`.
  The access token is cached until shortly before it expires; a 401 on a call drops it once.
- Publish: `POST {api}/ebox/messages`, `multipart/form-data` with the JSON part
  `messageToPublish` and one binary part per attachment (linked by `httpPartName`), and an
  `Idempotency-Key` header (the dispatch's key). 201 `{messageId, expirationDate, code?}`.
  A repeat with the same key answers 409: already published, we take its `messageId`.
- Status: `GET {api}/ebox/messages/{messageId}` -> `{messageId, visible, readStatus, ...}`. The
  V3 name of the status operation is unconfirmed (channels-and-law.md 2.5, [U]); the sandbox
  serves this form.

Outcomes: connection errors, timeouts, 5xx and 429 are `RetryableError`; other 4xx are
`TerminalError` with the vendor's `code` in the message. A refusal at the token endpoint is our
configuration, not the recipient's fault, so it is retryable (an operator can fix it).
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
import uuid
from dataclasses import dataclass

import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from gateway.errors import RetryableError, TerminalError

MESSAGES_PATH = "/ebox/messages"
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_LIFETIME_SECONDS = 60  # a client assertion is used once, at once
TOKEN_EARLY_REFRESH_SECONDS = 30  # renew the access token this long before it expires
ERROR_EXCERPT_CHARS = 300


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sha256_digest(content: bytes) -> str:
    """The attachment digest as the API wants it: base64url of SHA-256 (not hex, not base64)."""
    return b64url(hashlib.sha256(content).digest())


def client_assertion(private_key: rsa.RSAPrivateKey, *, client_id: str, audience: str, now: float, jti: str | None = None) -> str:
    """A compact RS256 JWT for `private_key_jwt` client authentication."""
    header = {"alg": "RS256", "typ": "JWT"}
    claims = {"iss": client_id, "sub": client_id, "aud": audience, "jti": jti or str(uuid.uuid4()), "iat": int(now), "exp": int(now) + ASSERTION_LIFETIME_SECONDS}
    signing_input = f"{b64url(json.dumps(header, separators=(',', ':')).encode())}.{b64url(json.dumps(claims, separators=(',', ':')).encode())}"
    signature = private_key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64url(signature)}"


@dataclass(frozen=True)
class Attachment:
    part_name: str
    file_name: str
    media_type: str
    content: bytes
    main: bool


@dataclass(frozen=True)
class Published:
    message_id: str
    status_code: int
    code: str | None  # e.g. NO_DIGITAL_USER
    repeated: bool  # 409: the key was already used, this is the first publication's id
    body: str


@dataclass(frozen=True)
class MessageStatus:
    message_id: str
    visible: bool
    read: bool
    body: bytes


class EboxClient:
    def __init__(self, *, api_url: str, token_url: str, client_id: str, private_key: rsa.RSAPrivateKey, scope: str, timeout_seconds: float) -> None:
        self.api_url = api_url.rstrip("/")
        self.token_url = token_url
        self.client_id = client_id
        self.private_key = private_key
        self.scope = scope
        self.timeout_seconds = timeout_seconds
        self._token: tuple[str, float] | None = None  # (access token, renew at on the monotonic clock)
        self._lock = threading.Lock()
        self.tokens_fetched = 0

    # -- token -------------------------------------------------------------------------------

    def access_token(self) -> str:
        with self._lock:
            if self._token is not None and time.monotonic() < self._token[1]:
                return self._token[0]
            form = {
                "grant_type": "client_credentials",
                "client_assertion_type": CLIENT_ASSERTION_TYPE,
                "client_assertion": client_assertion(self.private_key, client_id=self.client_id, audience=self.token_url, now=time.time()),
                "scope": self.scope,
            }
            response = self._call("POST", self.token_url, data=form)
            if response.status_code != 200:
                raise RetryableError(f"eBox token endpoint HTTP {response.status_code}: {response.text[:ERROR_EXCERPT_CHARS]}")
            try:
                data = response.json()
                token, lifetime = str(data["access_token"]), int(data.get("expires_in", 300))
            except (ValueError, KeyError, TypeError) as exc:
                raise RetryableError("eBox token endpoint answered without an access token") from exc
            self._token = (token, time.monotonic() + max(0, lifetime - TOKEN_EARLY_REFRESH_SECONDS))
            self.tokens_fetched += 1
            return token

    def _drop_token(self) -> None:
        with self._lock:
            self._token = None

    def _call(self, method: str, url: str, **kwargs) -> requests.Response:
        try:
            return requests.request(method, url, timeout=self.timeout_seconds, **kwargs)
        except requests.RequestException as exc:
            raise RetryableError(f"eBox unreachable: {type(exc).__name__}: {exc}") from exc

    def _authorised(self, method: str, url: str, **kwargs) -> requests.Response:
        headers = kwargs.pop("headers", {})
        response = self._call(method, url, headers={**headers, "Authorization": f"Bearer {self.access_token()}"}, **kwargs)
        if response.status_code == 401:  # expired or revoked token: fetch a new one, once
            self._drop_token()
            response = self._call(method, url, headers={**headers, "Authorization": f"Bearer {self.access_token()}"}, **kwargs)
        return response

    # -- publication -------------------------------------------------------------------------

    def publish(self, message: dict, attachments: list[Attachment], *, idempotency_key: str) -> Published:
        files = [("messageToPublish", (None, json.dumps(message), "application/json"))]
        files += [(a.part_name, (a.file_name, a.content, a.media_type)) for a in attachments]
        response = self._authorised("POST", self.api_url + MESSAGES_PATH, files=files, headers={"Idempotency-Key": idempotency_key})
        status = response.status_code
        if status >= 500 or status == 429:
            raise RetryableError(f"eBox publish HTTP {status}: {response.text[:ERROR_EXCERPT_CHARS]}")
        data = _json(response)
        if status == 409:
            # Same sender + application + Idempotency-Key: already published (document_sender.md).
            if not data.get("messageId"):
                raise TerminalError(f"eBox publish HTTP 409 without the existing messageId: {response.text[:ERROR_EXCERPT_CHARS]}")
            # Its `code` is the conflict, not the first publication's outcome: the caller asks `status`.
            return Published(str(data["messageId"]), status, None, repeated=True, body=response.text)
        if status >= 400:
            raise TerminalError(f"eBox publish HTTP {status} {data.get('code', '')}: {data.get('message', response.text[:ERROR_EXCERPT_CHARS])}".replace("  ", " "))
        if not data.get("messageId"):
            raise RetryableError(f"eBox publish HTTP {status} without a messageId")
        return Published(str(data["messageId"]), status, data.get("code"), repeated=False, body=response.text)

    def status(self, message_id: str) -> MessageStatus:
        response = self._authorised("GET", f"{self.api_url}{MESSAGES_PATH}/{message_id}")
        if response.status_code >= 500 or response.status_code == 429:
            raise RetryableError(f"eBox status HTTP {response.status_code}")
        if response.status_code >= 400:
            raise TerminalError(f"eBox status HTTP {response.status_code}: {response.text[:ERROR_EXCERPT_CHARS]}")
        data = _json(response)
        return MessageStatus(str(data.get("messageId", message_id)), bool(data.get("visible")), bool(data.get("readStatus")), response.content)


def _json(response: requests.Response) -> dict:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
