"""The SMTP edge: one message to one relay with smtplib, SMTP outcomes mapped onto our errors.

This is the only module that opens an SMTP connection (style rule 4: tests patch here or talk to
the loopback sink, nowhere else). One connection per message: a gateway sends a few thousand
messages a day, and a fresh conversation keeps a relay's per-connection limits out of the way.

Mapping (RFC 5321 section 4.2.1: 4yz transient, 5yz permanent):

- connection refused, timeout, TLS failure, a dropped connection, any 4yz -> `RetryableError`;
- 5yz on RCPT TO or after DATA -> terminal. Whose fault it is decides what follows, by the same
  hard/soft rule as a bounce (`bounce.classify`, docs/channels-and-law.md section 7.2): an
  address status X.1.x (5.1.1 user unknown, 5.1.2 no such domain, ...; not 5.1.7 / 5.1.8, which
  are about our sender) or a user-unknown text -> `InvalidContact`: the router marks the address
  bounced, asks for a repair and tries the next channel. Anything else (5.7.1 policy, 5.6.0
  content refused) -> plain `TerminalError`: the next channel is tried, the address is kept;
- 5yz on MAIL FROM, AUTH failures, a relay without STARTTLS -> `RetryableError`: our envelope
  or our configuration is at fault, not the recipient's address, so the contact must not be
  invalidated; the attempt limit ends it if nobody fixes the relay settings.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass

from gateway.channels.email.bounce import FailureKind, classify, extract_status
from gateway.errors import InvalidContact, RetryableError, TerminalError

TLS_MODES = ("starttls", "implicit", "none")


@dataclass(frozen=True)
class SmtpRelay:
    host: str
    port: int
    tls: str = "starttls"  # one of TLS_MODES
    username: str = ""
    password: str = ""
    timeout_seconds: float = 30.0
    local_hostname: str = "localhost"  # our EHLO name; smtplib's default is getfqdn(), a DNS lookup
    ca_file: str = ""  # PEM CA bundle for a relay with a private CA; empty: the system trust store

    def __post_init__(self) -> None:
        if self.tls not in TLS_MODES:
            raise ValueError(f"smtp tls is one of {', '.join(TLS_MODES)}, got {self.tls!r}")


@dataclass(frozen=True)
class SmtpAccepted:
    code: int  # the relay's answer to the end of DATA
    response: str


def _text(message: bytes | str) -> str:
    return message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)


def _by_code(stage: str, code: int, message: bytes | str, *, about_recipient: bool) -> Exception:
    """`about_recipient`: the stage concerns the recipient or the message (RCPT TO, DATA), not our envelope."""
    text = f"SMTP {code} at {stage}: {_text(message)}"
    if 500 <= code < 600 and about_recipient:
        kind, _ = classify(extract_status(_text(message)), _text(message))
        return InvalidContact(text) if kind is FailureKind.HARD else TerminalError(text)
    return RetryableError(text)


def send_message(relay: SmtpRelay, *, envelope_sender: str, recipient: str, message: bytes, context: ssl.SSLContext | None = None) -> SmtpAccepted:
    """Hand one message to the relay: MAIL FROM `envelope_sender`, RCPT TO `recipient`, DATA `message`."""
    # Certificate and host name are always verified (create_default_context); only the trust anchors change.
    context = context or ssl.create_default_context(cafile=relay.ca_file or None)
    try:
        if relay.tls == "implicit":
            connection: smtplib.SMTP = smtplib.SMTP_SSL(relay.host, relay.port, local_hostname=relay.local_hostname, timeout=relay.timeout_seconds, context=context)
        else:
            connection = smtplib.SMTP(relay.host, relay.port, local_hostname=relay.local_hostname, timeout=relay.timeout_seconds)
        with connection:
            connection.ehlo()
            if relay.tls == "starttls":
                connection.starttls(context=context)
                connection.ehlo()
            if relay.username:
                connection.login(relay.username, relay.password)
            code, response = connection.mail(envelope_sender)
            if code != 250:
                raise _by_code("MAIL FROM", code, response, about_recipient=False)
            code, response = connection.rcpt(recipient)
            if code not in (250, 251):
                raise _by_code("RCPT TO", code, response, about_recipient=True)
            code, response = connection.data(message)
            if code != 250:
                raise _by_code("DATA", code, response, about_recipient=True)
            return SmtpAccepted(code, _text(response))
    except (RetryableError, TerminalError):
        raise
    except smtplib.SMTPAuthenticationError as exc:
        raise RetryableError(f"SMTP AUTH refused ({exc.smtp_code}): check the relay credentials") from exc
    except smtplib.SMTPNotSupportedError as exc:
        raise RetryableError(f"the relay does not offer what the settings require: {exc}") from exc
    except smtplib.SMTPDataError as exc:  # raised by data() for a bad answer to DATA itself
        raise _by_code("DATA", exc.smtp_code, exc.smtp_error, about_recipient=True) from exc
    except smtplib.SMTPResponseException as exc:  # connect greeting, EHLO, STARTTLS
        raise RetryableError(f"SMTP {exc.smtp_code}: {_text(exc.smtp_error)}") from exc
    except (smtplib.SMTPException, OSError) as exc:  # refused, timeout, TLS, dropped connection
        raise RetryableError(f"SMTP connection to {relay.host}:{relay.port} failed: {type(exc).__name__}: {exc}") from exc
