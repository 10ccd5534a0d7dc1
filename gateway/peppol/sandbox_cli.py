"""`gateway sandbox ap`: the sandbox Peppol access point (gateway/peppol/sandbox_ap.py) on 127.0.0.1.

    gateway sandbox ap [--port 8731] [--callback-url URL] [--secret S] [--api-key K]

It prints the GATEWAY_PEPPOL_AP_* settings that point the gateway at it. The outcome of each
document is chosen by the last digit of its receiver participant id (table in sandbox_ap.py).
"""

from __future__ import annotations

import secrets
import time

import click

from gateway.config import get_settings

DEFAULT_PORT = 8731


@click.command("ap")
@click.option("--port", type=int, default=DEFAULT_PORT, show_default=True, help="Port on 127.0.0.1 (0: any free port).")
@click.option("--callback-url", default=None, help="Where callbacks go (default: public_base_url + /v1/callbacks/peppol-ap).")
@click.option("--secret", default=None, help="Callback HMAC secret (default: GATEWAY_PEPPOL_AP_CALLBACK_SECRET, else a new random one).")
@click.option("--api-key", default="", help="Bearer key the sandbox requires (empty: none).")
def sandbox_ap(port: int, callback_url: str | None, secret: str | None, api_key: str) -> None:
    """A Peppol access point sandbox: validates, then calls back with MLR / Invoice Responses."""
    from gateway.peppol.sandbox_ap import SandboxAccessPoint

    settings = get_settings()
    secret = secret or settings.peppol_ap_callback_secret or secrets.token_hex(16)
    callback_url = callback_url or f"{settings.public_base_url.rstrip('/')}/v1/callbacks/peppol-ap"
    sandbox = SandboxAccessPoint(standards_dir=settings.standards_dir, secret=secret, callback_url=callback_url, api_key=api_key, port=port).start()
    click.echo(f"Sandbox Peppol access point on {sandbox.base_url}, calling back {callback_url}")
    click.echo(f"export GATEWAY_PEPPOL_AP_BASE_URL={sandbox.base_url}")
    click.echo(f"export GATEWAY_PEPPOL_AP_API_KEY={api_key}")
    click.echo(f"export GATEWAY_PEPPOL_AP_CALLBACK_SECRET={secret}")
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        sandbox.stop()


def register(group: click.Group) -> None:
    """Add `ap` to the shared `gateway sandbox` group (created here when no other module made it)."""
    sandbox = group.commands.get("sandbox")
    if not isinstance(sandbox, click.Group):
        try:
            from gateway.channels.sandbox_cli import sandbox_group as sandbox  # the consumer channels' sandboxes
        except ImportError:
            sandbox = click.Group("sandbox", help="Local sandboxes of outside services (loopback only).")
        group.add_command(sandbox)
    sandbox.add_command(sandbox_ap)
