"""A loopback eBox (OAuth2 token endpoint + message registry v3) that speaks `EboxClient`'s protocol.

- `POST /oauth/v5/token` (form): `client_credentials` with a `private_key_jwt` client assertion,
  verified RS256 against the configured public key: `iss` = `sub` = the client id, `aud` = this
  token URL, `exp` in the future, `jti` never seen before, the publication scope requested.
  401 `invalid_client` otherwise; 400 `invalid_scope` without the publication scope.
- `POST /messageRegistry/v3/ebox/messages` (multipart, Bearer token, `Idempotency-Key`
  required): checks one main content, each `httpPartName` present, the base64url SHA-256
  digests, the recipient's form. One publication per (sender, application, key): a repeat
  answers 409 with the first `messageId` (and its `code`), whatever the content.
- `GET /messageRegistry/v3/ebox/messages/{id}`: `{messageId, visible, readStatus, expirationDate}`.
- `POST /sandbox/messages/{id}/read`: the recipient opens the message (tests and the demo).

Recipients, by national register number (citizens) or enterprise number:

| recipient | answer |
|---|---|
| in `without_ebox` (default `DEFAULT_WITHOUT_EBOX`) | 201 with `code` NO_DIGITAL_USER (published, never seen) |
| in `invalid` (default `DEFAULT_INVALID`) | 400 INVALID_INPUT ("... is not a valid company/citizen") |
| anything else of the right length | 201, visible in the eBox |
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.parser import BytesParser
from email.policy import HTTP
from http.server import ThreadingHTTPServer
from urllib.parse import parse_qs

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from gateway.channels.ebox.client import CLIENT_ASSERTION_TYPE, MESSAGES_PATH, b64url_decode, sha256_digest
from gateway.kit.sandbox_http import JsonHandler

TOKEN_PATH = "/oauth/v5/token"
API_PATH = "/messageRegistry/v3"
PUBLICATION_SCOPE = "scope:document:management:consult:ws-eboxrestentreprise:publicationsender"
TOKEN_LIFETIME_SECONDS = 600
MESSAGE_VALIDITY_DAYS = 60  # the message type's validity period (expirationDate is set by the registry)
DEFAULT_WITHOUT_EBOX = frozenset({"90022500186"})  # a valid test INSZ (25 Feb 1990)
DEFAULT_INVALID = frozenset({"0000000097"})  # passes mod 97, but no such company


@dataclass
class SandboxMessage:
    message_id: str
    idempotency_key: str
    recipient: dict
    message: dict
    files: dict[str, bytes]
    code: str | None
    expiration: str
    read: bool = False


class EboxSandbox:
    def __init__(self, *, client_id: str, public_key: rsa.RSAPublicKey, host: str = "127.0.0.1", port: int = 0,
                 without_ebox: frozenset[str] = DEFAULT_WITHOUT_EBOX, invalid: frozenset[str] = DEFAULT_INVALID) -> None:
        self.client_id = client_id
        self.public_key = public_key
        self.without_ebox = without_ebox
        self.invalid = invalid
        self.tokens: dict[str, float] = {}  # access token -> expires at (time.time())
        self.seen_jti: set[str] = set()
        self.messages: dict[tuple[str, str, str], SandboxMessage] = {}  # (sender, application, key)
        self.by_id: dict[str, SandboxMessage] = {}
        self.publish_requests = 0
        self.token_requests = 0
        self.fail_next: list[int] = []
        self.lock = threading.Lock()
        sandbox = self

        class Handler(JsonHandler):
            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _authorised(self) -> bool:
                token = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
                return sandbox.tokens.get(token, 0) > time.time()

            def do_POST(self) -> None:
                body = self._body()
                if self.path == TOKEN_PATH:
                    return self._answer(*sandbox.token(body))
                if self.path.startswith("/sandbox/messages/") and self.path.endswith("/read"):
                    message = sandbox.by_id.get(self.path.split("/")[3])
                    if message is None:
                        return self._answer(404, {"code": "NOT_FOUND"})
                    message.read = True
                    return self._answer(200, {"messageId": message.message_id, "readStatus": True})
                if self.path != API_PATH + MESSAGES_PATH:
                    return self._answer(404, {"code": "NOT_FOUND"})
                if not self._authorised():
                    return self._answer(401, {"code": "UNAUTHORIZED", "message": "missing or expired access token"})
                self._answer(*sandbox.publish(self.headers.get("Content-Type", ""), self.headers.get("Idempotency-Key"), body))

            def do_GET(self) -> None:
                prefix = API_PATH + MESSAGES_PATH + "/"
                if not self.path.startswith(prefix):
                    return self._answer(404, {"code": "NOT_FOUND"})
                if not self._authorised():
                    return self._answer(401, {"code": "UNAUTHORIZED"})
                message = sandbox.by_id.get(self.path[len(prefix):])
                if message is None:
                    return self._answer(404, {"code": "NOT_FOUND"})
                self._answer(200, {"messageId": message.message_id, "visible": message.code is None, "readStatus": message.read, "expirationDate": message.expiration})

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.url = f"http://{host}:{self.server.server_port}"
        self.token_url = self.url + TOKEN_PATH
        self.api_url = self.url + API_PATH
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    # -- token endpoint ------------------------------------------------------------------------

    def token(self, body: bytes) -> tuple[int, dict]:
        with self.lock:
            self.token_requests += 1
            form = {key: values[0] for key, values in parse_qs(body.decode("ascii", "replace")).items()}
            if form.get("grant_type") != "client_credentials" or form.get("client_assertion_type") != CLIENT_ASSERTION_TYPE:
                return 400, {"error": "unsupported_grant_type"}
            problem = self._check_assertion(form.get("client_assertion", ""))
            if problem:
                return 401, {"error": "invalid_client", "error_description": problem}
            if PUBLICATION_SCOPE not in form.get("scope", "").split():
                return 400, {"error": "invalid_scope", "error_description": "the publication scope is required"}
            token = secrets.token_urlsafe(24)
            self.tokens[token] = time.time() + TOKEN_LIFETIME_SECONDS
            return 200, {"access_token": token, "token_type": "Bearer", "expires_in": TOKEN_LIFETIME_SECONDS, "scope": PUBLICATION_SCOPE}

    def _check_assertion(self, assertion: str) -> str | None:
        try:
            header_b64, claims_b64, signature_b64 = assertion.split(".")
            header, claims = json.loads(b64url_decode(header_b64)), json.loads(b64url_decode(claims_b64))
            signature = b64url_decode(signature_b64)
        except ValueError:
            return "the client assertion is not a compact JWS"
        if header.get("alg") != "RS256":
            return "alg must be RS256"
        try:
            self.public_key.verify(signature, f"{header_b64}.{claims_b64}".encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            return "the client assertion signature does not verify"
        if claims.get("iss") != self.client_id or claims.get("sub") != self.client_id:
            return "iss and sub must be the client id"
        if claims.get("aud") != self.token_url:
            return "aud must be the token endpoint"
        if not isinstance(claims.get("exp"), int) or claims["exp"] <= time.time():
            return "the client assertion has expired"
        if not claims.get("jti") or claims["jti"] in self.seen_jti:
            return "jti missing or already used"
        self.seen_jti.add(claims["jti"])
        return None

    # -- message registry ----------------------------------------------------------------------

    def publish(self, content_type: str, idempotency_key: str | None, body: bytes) -> tuple[int, dict]:
        with self.lock:
            self.publish_requests += 1
            if self.fail_next:
                return self.fail_next.pop(0), {"code": "TECHNICAL_ERROR", "message": "simulated failure"}
            if not idempotency_key:
                return 400, {"code": "INVALID_INPUT", "message": "Idempotency-Key is required"}
            parts = _multipart(content_type, body)
            try:
                message = json.loads(parts.pop("messageToPublish"))
            except (KeyError, ValueError):
                return 400, {"code": "INVALID_INPUT", "message": "messageToPublish (JSON) is required"}
            sender = message.get("sender", {}).get("enterpriseNumber", "")
            key = (sender, str(message.get("senderApplicationId", "")), idempotency_key)
            if (existing := self.messages.get(key)) is not None:
                return 409, {"code": "CONFLICT", "message": "a message with this Idempotency-Key was already published", "messageId": existing.message_id}
            problem = self._check_message(message, parts)
            if problem:
                return 400, problem
            recipient = message["recipient"]
            number = recipient.get("ssin") or recipient.get("enterpriseNumber")
            if number in self.invalid:
                return 400, {"code": "INVALID_INPUT", "message": f"{number} is not a valid {recipient['eboxType'] == 'enterprise' and 'company' or 'citizen'}"}
            code = "NO_DIGITAL_USER" if number in self.without_ebox else None
            expiration = (datetime.now(timezone.utc) + timedelta(days=MESSAGE_VALIDITY_DAYS)).date().isoformat()
            stored = SandboxMessage(f"ebx-{uuid.uuid4().hex[:20]}", idempotency_key, recipient, message, parts, code, expiration)
            self.messages[key] = stored
            self.by_id[stored.message_id] = stored
            answer = {"messageId": stored.message_id, "expirationDate": expiration}
            if code:
                answer |= {"code": code, "message": "the recipient has never opened an eBox"}
            return 201, answer

    @staticmethod
    def _check_message(message: dict, parts: dict[str, bytes]) -> dict | None:
        recipient = message.get("recipient") or {}
        if recipient.get("eboxType") == "citizen":
            valid = str(recipient.get("ssin", "")).isdigit() and len(recipient["ssin"]) == 11
        elif recipient.get("eboxType") == "enterprise":
            valid = str(recipient.get("enterpriseNumber", "")).isdigit() and len(recipient["enterpriseNumber"]) == 10
        else:
            valid = False
        if not valid:
            return {"code": "INVALID_INPUT", "message": "recipient needs eboxType citizen + ssin (11 digits) or enterprise + enterpriseNumber (10 digits)"}
        subject = message.get("subject") or {}
        if len(subject) != 1 or not set(subject) <= {"nl", "fr", "de"}:
            return {"code": "NOT_IMPLEMENTED", "message": "exactly one subject language, nl, fr or de"}
        attachments = message.get("attachments") or []
        if sum(1 for a in attachments if a.get("isMainContent")) != 1:
            return {"code": "INVALID_INPUT", "message": "exactly one main content"}
        for attachment in attachments:
            content = parts.get(attachment.get("httpPartName"))
            if content is None:
                return {"code": "INVALID_INPUT", "message": f"no part {attachment.get('httpPartName')!r}"}
            digest = attachment.get("digest")
            if digest and digest.get("digestValue") != sha256_digest(content):
                return {"code": "DIGEST_DO_NOT_MATCH", "message": "digestValue is the base64url SHA-256 of the part"}
        return None

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _multipart(content_type: str, body: bytes) -> dict[str, bytes]:
    """The parts of a multipart/form-data body by form field name."""
    parsed = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode("latin-1") + body)
    if not parsed.is_multipart():
        return {}
    parts = {}
    for part in parsed.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name:
            parts[name] = part.get_payload(decode=True) or b""
    return parts


def main() -> None:
    """`python -m gateway.channels.ebox.sandbox`: serve the sandbox until interrupted (demo, manual tests)."""
    import argparse
    from pathlib import Path

    from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8720)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--key", type=Path, required=True, help="PEM public key of the client (a private key PEM is accepted too)")
    args = parser.parse_args()
    pem = args.key.read_bytes()
    public_key = load_pem_private_key(pem, password=None).public_key() if b"PRIVATE KEY" in pem else load_pem_public_key(pem)
    sandbox = EboxSandbox(client_id=args.client_id, public_key=public_key, port=args.port)
    print(f"eBox sandbox: GATEWAY_EBOX_API_URL={sandbox.api_url} GATEWAY_EBOX_TOKEN_URL={sandbox.token_url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        sandbox.close()


if __name__ == "__main__":
    main()
