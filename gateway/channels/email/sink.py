"""A local SMTP sink (aiosmtpd on 127.0.0.1) for the demo and the tests.

It accepts every message, keeps it in memory (envelope sender, recipients, bytes as received)
and writes each to `<mail dir>/<UTC time>-<n>.eml`, to be opened with any mail client. Tests
script refusals: `sink.refuse_next("RCPT", "451 4.3.0 Try again later")` answers the next
RCPT TO with that reply instead of 250 (stages: "MAIL", "RCPT", "DATA").

`LoopbackController` is aiosmtpd's threaded controller that may bind port 0 (a free port
chosen by the kernel) and reports the port it got; the bounce receiver uses it too.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path

from aiosmtpd.controller import Controller

from gateway.kit.time import utc_now

STAGES = ("MAIL", "RCPT", "DATA")
SERVER_NAME = "localhost"  # our greeting name; aiosmtpd's default is getfqdn(), a DNS lookup


class LoopbackController(Controller):
    """A threaded aiosmtpd server on loopback; `port=0` picks a free port (read `.port` after start)."""

    def __init__(self, handler, *, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(handler, hostname=host, port=port, server_hostname=SERVER_NAME, ready_timeout=10)

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
        refusal = self.sink._refusal("RCPT")
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        refusal = self.sink._refusal("DATA")
        if refusal:
            return refusal
        self.sink._keep(envelope.mail_from, tuple(envelope.rcpt_tos), bytes(envelope.original_content or envelope.content))
        return "250 2.0.0 OK: queued in the sink"


class SmtpSink:
    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, mail_dir: Path | None = None) -> None:
        self.mail_dir = mail_dir
        self.messages: list[SunkMessage] = []
        self._refusals: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._controller = LoopbackController(_SinkHandler(self), host=host, port=port)

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

    def _refusal(self, stage: str) -> str | None:
        with self._lock:
            for index, (wanted, reply) in enumerate(self._refusals):
                if wanted == stage:
                    del self._refusals[index]
                    return reply
        return None

    def _keep(self, mail_from: str, recipients: tuple[str, ...], data: bytes) -> None:
        with self._lock:
            path = None
            if self.mail_dir is not None:
                path = self.mail_dir / f"{utc_now():%Y%m%dT%H%M%S%fZ}-{len(self.messages) + 1:04d}.eml"
                path.write_bytes(data)
            self.messages.append(SunkMessage(mail_from, recipients, data, path))
