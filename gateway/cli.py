"""The `gateway` command line.

Each feature package registers its own subcommands through a `register(group)` function, so
this file only wires them together.
"""

from __future__ import annotations

import click

from gateway.channels.cli import register as register_channel_commands
from gateway.channels.paper.cli import register as register_print_commands
from gateway.channels.sandbox_cli import register as register_sandbox_commands
from gateway.dunning.cli import register as register_dunning_commands
from gateway.ops_cli import register as register_ops_commands
from gateway.peppol.cli import register as register_peppol_commands
from gateway.peppol.lookup_cli import register as register_lookup_commands
from gateway.peppol.render_cli import register as register_render_commands
from gateway.peppol.sandbox_cli import register as register_peppol_sandbox_commands
from gateway.services.webhooks_cli import register as register_webhook_commands
from gateway.web.cli import register as register_admin_commands


@click.group()
@click.version_option(package_name="gateway")
def main() -> None:
    """Peppol and e-invoice gateway."""


register_ops_commands(main)
register_peppol_commands(main)
register_render_commands(main)
register_lookup_commands(main)
register_dunning_commands(main)
register_channel_commands(main)
register_sandbox_commands(main)
register_admin_commands(main)
register_webhook_commands(main)
register_print_commands(main)
register_peppol_sandbox_commands(main)  # after the channels' `sandbox` group: adds `sandbox ap` to it


if __name__ == "__main__":  # pragma: no cover
    main()
