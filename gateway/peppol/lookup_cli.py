"""Subcommands of this package; `gateway.cli` calls `register`."""

from __future__ import annotations

import click


def register(group: click.Group) -> None:
    """Add this package's subcommands to the top-level `gateway` group."""
