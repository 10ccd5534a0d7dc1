"""`gateway peppol lookup`: can a participant receive a document type over Peppol?

    gateway peppol lookup PARTICIPANT_ID [--document-type invoice|credit-note|reminder] [--json]

PARTICIPANT_ID is a Peppol id (`0208:0403019261`, `9925:be0403019261`, optionally prefixed with
`iso6523-actorid-upis::`), or a bare Belgian enterprise number (`0403019261`, `BE0403.019.261`),
for which 0208 is tried before 9925.

Exit codes:

| code | meaning |
|---|---|
| 0 | reachable: an AS4 endpoint serves the document type |
| 1 | final negative: not registered, or the document type is not supported |
| 2 | usage error (bad participant id or option) |
| 3 | temporary failure: DNS or SMP unavailable, or an answer refused (e.g. bad signature); retry later |

The SML zone, DNS server, SMP truststore and timeouts come from the GATEWAY_PEPPOL_* settings
(gateway/config.py); the Peppol sandbox prints the values that point at it.
"""

from __future__ import annotations

import json

import click

from gateway.config import get_settings
from gateway.errors import InvalidInput
from gateway.kit.time import utc_now
from gateway.peppol.discovery import DiscoveryConfig, LookupOutcome, LookupResult, ParticipantDiscovery
from gateway.peppol.smp import DOCUMENT_TYPES

EXIT_REACHABLE = 0
EXIT_NOT_REACHABLE = 1
EXIT_TEMPORARY_FAILURE = 3

EXIT_CODES = {
    LookupOutcome.REACHABLE: EXIT_REACHABLE,
    LookupOutcome.NOT_REGISTERED: EXIT_NOT_REACHABLE,
    LookupOutcome.DOCUMENT_TYPE_NOT_SUPPORTED: EXIT_NOT_REACHABLE,
    LookupOutcome.LOOKUP_FAILED: EXIT_TEMPORARY_FAILURE,
}


def _as_text(result: LookupResult) -> str:
    rows = [
        ("participant", result.participant_id),
        ("document type", f"{result.document_type.key} ({result.document_type.identifier})"),
        ("outcome", str(result.outcome)),
        ("reason", result.reason),
        ("detail", result.detail),
        ("tried", ", ".join(result.tried)),
    ]
    if result.smp_url:
        rows.append(("smp", result.smp_url))
    if result.endpoint is not None:
        cert = result.endpoint.certificate
        rows += [
            ("endpoint", result.endpoint.url),
            ("transport", result.endpoint.transport_profile),
            ("ap certificate", cert.subject.rfc4514_string()),
            ("ap cert valid to", cert.not_valid_after_utc.isoformat()),
        ]
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"{label.ljust(width)}  {value}" for label, value in rows)


@click.command("lookup")
@click.argument("participant_id")
@click.option(
    "--document-type",
    type=click.Choice(list(DOCUMENT_TYPES)),
    default="invoice",
    show_default=True,
    help="Document type to look up.",
)
@click.option(
    "--network",
    type=click.Choice(["production", "test"]),
    default=None,
    help="Peppol network whose SML zone to ask (default: GATEWAY_PEPPOL_NETWORK; GATEWAY_PEPPOL_SML_ZONE, when set, wins).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def lookup_command(ctx: click.Context, participant_id: str, document_type: str, network: str | None, as_json: bool) -> None:
    """Look PARTICIPANT_ID up in the Peppol SML/SMP. Exit 0 reachable, 1 not reachable, 3 retry later."""
    settings = get_settings()
    if network is not None:
        settings = settings.model_copy(update={"peppol_network": network})
    discovery = ParticipantDiscovery(DiscoveryConfig.from_settings(settings))
    now = utc_now()
    try:
        if ":" in participant_id:
            result = discovery.lookup(participant_id, document_type, now=now)
        else:
            result = discovery.lookup_belgian_company(participant_id, document_type, now=now)
    except InvalidInput as exc:
        raise click.BadParameter(exc.message, param_hint="PARTICIPANT_ID") from exc
    click.echo(json.dumps(result.to_dict(), indent=2) if as_json else _as_text(result))
    ctx.exit(EXIT_CODES[result.outcome])


def register(group: click.Group) -> None:
    """Add `peppol lookup` under the `peppol` group, creating the group if no other package has."""
    peppol = group.commands.get("peppol")
    if peppol is None:
        peppol = click.Group("peppol", help="Peppol network and document tools.")
        group.add_command(peppol)
    if not isinstance(peppol, click.Group):
        raise RuntimeError("`gateway peppol` exists but is not a command group")
    peppol.add_command(lookup_command)
