"""`gateway sandbox ...`: local stand-ins for the outside world, on 127.0.0.1 only.

`gateway sandbox smtp` runs the SMTP sink (gateway/channels/email/sink.py): every message is
accepted and written to `var/mail/*.eml`. Point the gateway at it with GATEWAY_SMTP_HOST=127.0.0.1,
GATEWAY_SMTP_PORT=<port>, GATEWAY_SMTP_TLS=none.

`gateway email bounce-receiver` runs the SMTP receiver for bounces (bounce_receiver.py) against
the configured store: mail for the VERP bounce domain is verified and stored in the callback
inbox like `POST /v1/callbacks/email/bounce`.
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from gateway.config import PROJECT_ROOT, get_settings

DEFAULT_MAIL_DIR = PROJECT_ROOT / "var" / "mail"


@click.group("sandbox")
def sandbox_group() -> None:
    """Local sandboxes of outside services (loopback only)."""


@sandbox_group.command("smtp")
@click.option("--port", type=int, default=2525, show_default=True, help="Port on 127.0.0.1 (0: any free port).")
@click.option("--mail-dir", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_MAIL_DIR, show_default=True, help="Where each message is written as .eml.")
def smtp_sink(port: int, mail_dir: Path) -> None:
    """An SMTP sink that keeps every message it is given."""
    from gateway.channels.email.sink import SmtpSink

    sink = SmtpSink(port=port, mail_dir=mail_dir).start()
    click.echo(f"SMTP sink on 127.0.0.1:{sink.port}, writing to {mail_dir}")
    click.echo(f"  GATEWAY_SMTP_HOST=127.0.0.1 GATEWAY_SMTP_PORT={sink.port} GATEWAY_SMTP_TLS=none")
    _run_until_interrupted(sink.stop)


@click.group("email")
def email_group() -> None:
    """The e-mail channel's services."""


@email_group.command("bounce-receiver")
@click.option("--host", default=None, help="Listen address (default: settings.email_bounce_receiver_host).")
@click.option("--port", type=int, default=None, help="Port (default: settings.email_bounce_receiver_port).")
def bounce_receiver(host: str | None, port: int | None) -> None:
    """Receive bounces over SMTP for the VERP bounce domain and store them in the callback inbox."""
    from gateway.channels.email.bounce_callback import BounceVerifier
    from gateway.channels.email.bounce_receiver import BounceReceiver
    from gateway.store.session import Database

    settings = get_settings()
    if not settings.email_verp_secret:
        raise click.ClickException("GATEWAY_EMAIL_VERP_SECRET is empty: bounce intake is disabled")
    verifier = BounceVerifier(secrets=[settings.email_verp_secret.encode()], message_domain=settings.email_message_domain)
    receiver = BounceReceiver(
        Database(settings.database_url), verifier, bounce_domain=settings.email_bounce_domain,
        host=host or settings.email_bounce_receiver_host, port=settings.email_bounce_receiver_port if port is None else port,
    ).start()
    click.echo(f"Bounce receiver for @{settings.email_bounce_domain} on {host or settings.email_bounce_receiver_host}:{receiver.port}")
    _run_until_interrupted(receiver.stop)


def _run_until_interrupted(stop) -> None:
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        stop()


def register(group: click.Group) -> None:
    """Add `sandbox` and `email` to the top-level `gateway` group."""
    group.add_command(sandbox_group)
    group.add_command(email_group)
