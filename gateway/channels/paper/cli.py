"""`gateway print close-batch [--drop-dir DIR] [--json]`: publish pending letters as one batch.

Run it when the print provider should collect (cron, e.g. once a working day before the pickup).
Exit code 0 also when nothing was pending (prints that), so a cron job stays quiet.
"""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.group("print")
def print_group() -> None:
    """Paper letters for the print provider."""


@print_group.command("close-batch")
@click.option("--drop-dir", type=click.Path(file_okay=False, path_type=Path), default=None, help="drop folder (default: GATEWAY_PRINT_DROP_DIR, var/print)")
@click.option("--json", "as_json", is_flag=True, help="print the batch summary as JSON")
def close_batch_command(drop_dir: Path | None, as_json: bool) -> None:
    """Move the complete pending letters into a new batch folder and write its manifest.csv last."""
    from gateway.channels.paper.drop import close_batch
    from gateway.config import get_settings
    from gateway.kit.time import utc_now

    folder = drop_dir or get_settings().print_drop_dir
    try:
        summary = close_batch(folder, now=utc_now())
    except OSError as exc:
        raise click.ClickException(f"cannot close a batch in {folder}: {exc.strerror or exc}") from exc
    if as_json:
        click.echo(json.dumps(summary.to_json() if summary else {"batch": None, "letters": 0}))
        return
    if summary is None:
        click.echo(f"nothing pending in {folder / 'pending'}")
        return
    click.echo(f"batch {summary.name}: {summary.letters} letters ({summary.registered} registered), {summary.pages} pages -> {summary.path}")
    for key in summary.skipped:
        click.echo(f"left pending (PDF missing or not matching its sidecar): {key}", err=True)


def register(group: click.Group) -> None:
    group.add_command(print_group)
