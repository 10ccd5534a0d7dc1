"""A local SMTP sink (aiosmtpd on 127.0.0.1) for the demo and the tests.

It accepts every message, keeps it in memory (envelope sender, recipients, bytes as received)
and writes each to `<mail dir>/<UTC time>-<n>.eml`, to be opened with any mail client. Tests
script refusals: `sink.refuse_next("RCPT", "451 4.3.0 Try again later")` answers the next
RCPT TO with that reply instead of 250 (stages: "MAIL", "RCPT", "DATA"). With a TLS context and
credentials it is a relay as the gateway meets it in production: STARTTLS (or implicit TLS) and
AUTH required.

`LoopbackController` is aiosmtpd's threaded controller that may bind port 0 (a free port
chosen by the kernel) and reports the port it got; the bounce receiver uses it too.
"""

from __future__ import annotations

import re
import ssl
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from gateway.kit.time import utc_now

STAGES = ("MAIL", "RCPT", "DATA")
# aiosmtpd counts only STARTTLS as TLS for AUTH and warns (per connection) when AUTH is allowed
# without it; the sink allows that only under implicit TLS, where the whole connection is TLS.
warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS", category=UserWarning, module="aiosmtpd.smtp")
SERVER_NAME = "localhost"  # our greeting name; aiosmtpd's default is getfqdn(), a DNS lookup


class LoopbackController(Controller):
    """A threaded aiosmtpd server on loopback; `port=0` picks a free port (read `.port` after start).

    `ssl_context` makes it implicit TLS (TLS from the first byte); other keyword arguments go to
    aiosmtpd's SMTP (`tls_context` for STARTTLS, `require_starttls`, `authenticator`, ...)."""

    def __init__(self, handler, *, host: str = "127.0.0.1", port: int = 0, ssl_context: ssl.SSLContext | None = None, **smtp_parameters) -> None:
        super().__init__(handler, hostname=host, port=port, server_hostname=SERVER_NAME, ready_timeout=10, ssl_context=ssl_context, **smtp_parameters)

    def _trigger_server(self) -> None:
        if self.port == 0 and self.server is not None:
            self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


@dataclass(frozen=True)
class SunkMessage:
    mail_from: str
    recipients: tuple[str, ...]
    data: bytes  # the message as received (dot-unstuffed, CRLF line ends)
    path: Path | None
    tls: str | None = None  # the TLS version the message came over ("TLSv1.3"), None in clear text
    authenticated_as: str | None = None  # the AUTH login, None without AUTH


class _SinkHandler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        refusal = self.sink._refusal("MAIL")
        if refusal:
            return refusal
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        refusal = self.sink._refusal("RCPT") or self.sink._refused_recipients.get(address.lower())
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        refusal = self.sink._refusal("DATA")
        if refusal:
            return refusal
        ssl_object = server.transport.get_extra_info("ssl_object") if server.transport is not None else None
        login = session.login_data.decode("utf-8", "replace") if session.authenticated and session.login_data else None
        self.sink._keep(
            envelope.mail_from, tuple(envelope.rcpt_tos), bytes(envelope.original_content or envelope.content),
            tls=ssl_object.version() if ssl_object is not None else None, authenticated_as=login,
        )
        return "250 2.0.0 OK: queued in the sink"


class SmtpSink:
    """`tls_context` (a server context with the certificate): STARTTLS offered and required, or with
    `implicit_tls` TLS from the first byte (port 465 style). `credentials` {user: password}: AUTH
    PLAIN / LOGIN offered (only over TLS) and required before MAIL; `auth_attempts` records
    (user, accepted) for each try."""

    def __init__(
        self, *, host: str = "127.0.0.1", port: int = 0, mail_dir: Path | None = None, tls_context: ssl.SSLContext | None = None,
        implicit_tls: bool = False, credentials: dict[str, str] | None = None,
    ) -> None:
        self.mail_dir = mail_dir
        self.messages: list[SunkMessage] = []
        self.auth_attempts: list[tuple[str, bool]] = []
        self._refusals: list[tuple[str, str]] = []
        self._refused_recipients: dict[str, str] = {}
        self._lock = threading.Lock()
        smtp: dict = {}
        if tls_context is not None and not implicit_tls:
            smtp.update(tls_context=tls_context, require_starttls=True)
        if credentials is not None:
            # aiosmtpd counts only STARTTLS as TLS for AUTH; under implicit TLS the whole connection is encrypted.
            smtp.update(authenticator=self._authenticator(credentials), auth_required=True, auth_require_tls=not implicit_tls)
        self._controller = LoopbackController(
            _SinkHandler(self), host=host, port=port, ssl_context=tls_context if implicit_tls else None, **smtp,
        )

    def _authenticator(self, credentials: dict[str, str]):
        def check(server, session, envelope, mechanism, auth_data) -> AuthResult:
            user = auth_data.login.decode("utf-8", "replace") if isinstance(auth_data, LoginPassword) else ""
            accepted = isinstance(auth_data, LoginPassword) and credentials.get(user) is not None and auth_data.password == credentials[user].encode()
            with self._lock:
                self.auth_attempts.append((user, accepted))
            return AuthResult(success=accepted, handled=False, auth_data=auth_data)

        return check

    @property
    def host(self) -> str:
        return self._controller.hostname

    @property
    def port(self) -> int:
        return self._controller.port

    def start(self) -> SmtpSink:
        if self.mail_dir is not None:
            self.mail_dir.mkdir(parents=True, exist_ok=True)
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def refuse_next(self, stage: str, reply: str) -> None:
        """Answer the next command of `stage` with `reply` (e.g. "550 5.1.1 User unknown")."""
        if stage not in STAGES or not re.fullmatch(r"[45]\d\d .+", reply):
            raise ValueError("stage is MAIL, RCPT or DATA; reply is '4xx text' or '5xx text'")
        with self._lock:
            self._refusals.append((stage, reply))

    def refuse_recipient(self, address: str, reply: str) -> None:
        """Answer every RCPT TO for `address` with `reply` (e.g. "550 5.1.1 User unknown"): an address
        that does not exist, for the demo's bounce, fallback and repair case."""
        if not re.fullmatch(r"[45]\d\d .+", reply):
            raise ValueError("reply is '4xx text' or '5xx text'")
        with self._lock:
            self._refused_recipients[address.lower()] = reply

    def _refusal(self, stage: str) -> str | None:
        with self._lock:
            for index, (wanted, reply) in enumerate(self._refusals):
                if wanted == stage:
                    del self._refusals[index]
                    return reply
        return None

    def _keep(self, mail_from: str, recipients: tuple[str, ...], data: bytes, *, tls: str | None = None, authenticated_as: str | None = None) -> None:
        with self._lock:
            path = None
            if self.mail_dir is not None:
                path = self.mail_dir / f"{utc_now():%Y%m%dT%H%M%S%fZ}-{len(self.messages) + 1:04d}.eml"
                path.write_bytes(data)
            self.messages.append(SunkMessage(mail_from, recipients, data, path, tls, authenticated_as))
