"""Subcommands of this package; `gateway.cli` calls `register`.

    gateway dunning check-policy FILE...     exit 0 when every file loads, 1 otherwise (names the rules)
    gateway dunning lump-sum AMOUNT          Book XIX maximum lump sum (art. XIX.4 CEL)
    gateway dunning wik AMOUNT               Dutch WIK collection costs (Stb. 2012, 141)
    gateway dunning interest AMOUNT FROM TO  interest at the Belgian reference rate (both days included)
    gateway dunning presumption DATE         Book XIX / WIK start dates for a reminder sent on DATE
    gateway dunning holidays YEAR            Belgian (or --nl Dutch) public holidays
    gateway dunning walk POLICY DUE AMOUNT   a shipped ladder's timeline from DUE to escalation
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation

import click

from gateway.dunning import calendar as legal_calendar
from gateway.dunning.legal import book_xix_lump_sum, reference_rate_interest, wik_collection_costs
from gateway.dunning.policy import PolicyRefused, load_policy
from gateway.dunning.rates import RateUnknown


def _amount(value: str) -> Decimal:
    try:
        amount = Decimal(value)
    except InvalidOperation as error:
        raise click.BadParameter(f"not a decimal amount: {value!r}") from error
    if not amount.is_finite():
        raise click.BadParameter(f"not a finite amount: {value!r}")
    return amount


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as error:
        raise click.BadParameter(f"not an ISO date: {value!r}") from error


@click.group("dunning")
def dunning_group() -> None:
    """Dunning policies and legal computations."""


@dunning_group.command("check-policy")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
def check_policy(files: tuple[str, ...]) -> None:
    """Load each policy FILE; print every broken rule; exit 1 if any file is refused."""
    failed = False
    for path in files:
        try:
            policy = load_policy(path)
        except PolicyRefused as error:
            failed = True
            click.echo(f"REFUSED {path}")
            for problem in error.problems:
                click.echo(f"  {problem.rule}  {problem.field}: {problem.message}")
        else:
            click.echo(f"OK      {path}  {policy.reference}  {policy.legal_regime.value}  {len(policy.steps)} steps -> {policy.escalation.kind.value}")
    raise SystemExit(1 if failed else 0)


@dunning_group.command("lump-sum")
@click.argument("amount")
def lump_sum(amount: str) -> None:
    """Book XIX maximum lump sum for an outstanding AMOUNT."""
    result = book_xix_lump_sum(_amount(amount))
    click.echo(f"{result.amount}  ({result.rule}: {result.explanation}; {result.rule_set_version})")


@dunning_group.command("wik")
@click.argument("amount")
def wik(amount: str) -> None:
    """WIK collection costs for a principal AMOUNT (min 40, max 6775)."""
    result = wik_collection_costs(_amount(amount))
    click.echo(f"{result.amount}  ({result.rule}: {result.explanation}; {result.rule_set_version})")


@dunning_group.command("interest")
@click.argument("amount")
@click.argument("first_day")
@click.argument("last_day")
def interest(amount: str, first_day: str, last_day: str) -> None:
    """Interest on AMOUNT from FIRST_DAY to LAST_DAY at the half-yearly reference rate."""
    try:
        result = reference_rate_interest(_amount(amount), _day(first_day), _day(last_day))
    except RateUnknown as error:
        click.echo(f"error: {error.message}", err=True)
        raise SystemExit(1) from error
    click.echo(f"{result.amount}  ({result.explanation}; rates {result.rate_version}; {result.rule_set_version})")


@dunning_group.command("presumption")
@click.argument("sent_on")
def presumption(sent_on: str) -> None:
    """When the term of a reminder sent on SENT_ON starts (Book XIX) or receipt is presumed (WIK)."""
    day = _day(sent_on)
    click.echo(f"BE paper (3rd working day):      {legal_calendar.book_xix_paper_start(day).isoformat()}")
    click.echo(f"BE electronic (next day):        {legal_calendar.book_xix_electronic_start(day).isoformat()}")
    click.echo(f"NL presumed receipt (2nd day):   {legal_calendar.wik_presumed_receipt(day).isoformat()}")


@dunning_group.command("holidays")
@click.argument("year", type=int)
@click.option("--nl", "dutch", is_flag=True, help="Dutch holidays (Algemene termijnenwet) instead of Belgian ones")
def holidays(year: int, dutch: bool) -> None:
    """Public holidays of YEAR."""
    table = legal_calendar.dutch_holidays(year) if dutch else legal_calendar.belgian_holidays(year)
    for day, name in sorted(table.items()):
        click.echo(f"{day.isoformat()}  {name}")


@dunning_group.command("walk")
@click.argument("policy_id")
@click.argument("due_date")
@click.argument("amount")
@click.option("--channel", type=click.Choice(["email", "paper", "peppol", "ebox", "sms"]), default="email", show_default=True)
@click.option("--debtor", type=click.Choice(["consumer", "business"]), default=None, help="default: the policy's first debtor kind")
def walk_command(policy_id: str, due_date: str, amount: str, channel: str, debtor: str | None) -> None:
    """Print the timeline of shipped policy POLICY_ID for a claim of AMOUNT due on DUE_DATE."""
    from gateway.domain.claim import Channel, DebtorKind
    from gateway.dunning.policy import shipped_policies
    from gateway.dunning.rules import ClaimFacts
    from gateway.dunning.simulate import walk

    policies = shipped_policies()
    if policy_id not in policies:
        raise click.BadParameter(f"unknown policy {policy_id!r}; shipped: {', '.join(sorted(policies))}")
    policy = policies[policy_id]
    kind = DebtorKind(debtor) if debtor else sorted(policy.debtor_kinds)[0]
    facts = ClaimFacts("walk", _amount(amount), _day(due_date), sorted(policy.claim_types)[0], policy.fiscal, kind)
    try:
        events = walk(facts, policy, channel=Channel(channel))
    except RateUnknown as error:
        click.echo(f"error: {error.message}", err=True)
        raise SystemExit(1) from error
    click.echo(f"{policy.reference}  due {facts.due_date.isoformat()}  amount {facts.principal}")
    for event in events:
        d = event.decision
        if d.step is not None:
            used = event.channel.value if event.channel else "visit"
            click.echo(f"{event.day.isoformat()}  step {d.step} {d.step_key:<36} {used:<16} fee {d.fee:>7}  pay by {d.new_due_date}")
        elif d.escalation is not None:
            extra = "".join(f"  {a.rule} {a.amount}" for a in d.amounts)
            if d.fee:
                extra += f"  fee {d.fee}" + (f" + {d.fee_vat_percent} % VAT" if d.fee_vat_percent else "")
            click.echo(f"{event.day.isoformat()}  escalate {d.escalation_list}{extra}")
        else:
            click.echo(f"{event.day.isoformat()}  wait {d.reason}: {d.detail}")


def register(group: click.Group) -> None:
    """Add this package's subcommands to the top-level `gateway` group."""
    group.add_command(dunning_group)
