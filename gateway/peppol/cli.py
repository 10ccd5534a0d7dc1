"""Subcommands of this package; `gateway.cli` calls `register`.

    gateway standards install [--from DIR]   copy (or download) and verify the official artefacts
    gateway standards verify                 check the installed set against schemas/standards.lock
    gateway validate [--json] [--rules auto|billing|t111|t71] [--continue-after-xsd] [--strict] FILE...

Exit codes of `validate`: 0 every file valid, 1 at least one is not, 2 usage error or the
official artefacts are not installed (nothing was validated).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from gateway.config import get_settings
from gateway.peppol import standards, xmlsafe
from gateway.peppol.validate import RULE_CHOICES, ValidationReport, read_local_document, rejected_report, validate_document, validate_many

EXIT_VALID = 0
EXIT_INVALID = 1
EXIT_USAGE = 2
# From this many files on, `gateway validate` uses the process pool (starting it costs ~1 s).
POOL_THRESHOLD = 16


@click.group("standards")
def standards_group() -> None:
    """Install and check the official UBL / Peppol validation artefacts."""


@standards_group.command("install")
@click.option(
    "--from",
    "from_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Copy from this folder (e.g. ../shared/standards) instead of downloading the official releases.",
)
def standards_install(from_dir: Path | None) -> None:
    """Install every artefact of schemas/standards.lock, verifying each sha256 (all or nothing)."""
    dest = get_settings().standards_dir
    if from_dir is not None and not from_dir.is_dir():
        raise click.UsageError(f"--from {from_dir}: no such directory")
    source = str(from_dir) if from_dir is not None else "the official release URLs"
    try:
        installed = standards.install(from_dir, dest)
    except standards.StandardsError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    click.echo(f"installed {len(installed)} artefacts from {source} into {dest} (all sha256 verified)")


@standards_group.command("verify")
def standards_verify() -> None:
    """Check that every artefact is installed with the sha256 of the lock (exit 2 if not)."""
    dest = get_settings().standards_dir
    try:
        checked = standards.check_installed(dest)
    except standards.StandardsMissing as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    click.echo(f"ok: {len(checked)} artefacts in {dest} match schemas/standards.lock")


@click.command("validate")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list, one object per file.")
@click.option("--rules", type=click.Choice(RULE_CHOICES), default="auto", show_default=True,
              help="Force a rule set instead of choosing it from the document.")
@click.option("--continue-after-xsd", is_flag=True, help="Run the Schematron rules even after an XSD error.")
@click.option("--strict", is_flag=True, help="Treat warnings as failures (the bar for documents we emit).")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
def validate_command(as_json: bool, rules: str, continue_after_xsd: bool, strict: bool, files: tuple[Path, ...]) -> None:
    """Validate UBL files with the official XSD and Schematron rules (local files up to 20 MiB)."""
    missing = [str(path) for path in files if not path.is_file()]
    if missing:
        raise click.UsageError(f"no such file: {', '.join(missing)}")
    try:
        reports = _validate_files(list(files), rules=rules, continue_after_xsd=continue_after_xsd)
    except standards.StandardsMissing as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    if as_json:
        click.echo(json.dumps([report.to_dict() for report in reports], indent=2, ensure_ascii=False))
    else:
        for report in reports:
            _print_report(report)
    passed = all(report.clean if strict else report.valid for report in reports)
    sys.exit(EXIT_VALID if passed else EXIT_INVALID)


def _validate_files(files: list[Path], *, rules: str, continue_after_xsd: bool) -> list[ValidationReport]:
    if len(files) >= POOL_THRESHOLD:
        return validate_many(files, rules=rules, continue_after_xsd=continue_after_xsd, max_bytes=xmlsafe.MAX_LOCAL_FILE_BYTES)
    reports = []
    for path in files:
        try:
            # Local files may be larger than what the API or a callback may send (xmlsafe.MAX_LOCAL_FILE_BYTES).
            xml = read_local_document(path, xmlsafe.MAX_LOCAL_FILE_BYTES)
            reports.append(
                validate_document(xml, rules=rules, continue_after_xsd=continue_after_xsd, file=str(path), max_bytes=xmlsafe.MAX_LOCAL_FILE_BYTES)
            )
        except xmlsafe.XmlRejected as exc:
            reports.append(rejected_report(str(path), exc))
    return reports


def _print_report(report: ValidationReport) -> None:
    verdict = "valid" if report.valid else "INVALID"
    counts = f"{len(report.errors)} error(s), {len(report.warnings)} warning(s)"
    click.echo(f"{report.file}: {verdict} ({report.document_type or 'unknown'}; {counts})")
    for issue in (*report.errors, *report.warnings):
        click.echo(f"  {issue.flag:<7} {issue.rule:<24} {issue.location}")
        click.echo(f"          {issue.message}")


def register(group: click.Group) -> None:
    """Add this package's subcommands to the top-level `gateway` group."""
    group.add_command(standards_group)
    group.add_command(validate_command)
