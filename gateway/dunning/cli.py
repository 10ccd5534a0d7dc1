"""Subcommands of this package; `gateway.cli` calls `register`.

    gateway dunning check-policy FILE...     exit 0 when every file loads, 1 otherwise (names the rules)
    gateway dunning lump-sum AMOUNT          Book XIX maximum lump sum (art. XIX.4 CEL)
    gateway dunning wik AMOUNT               Dutch WIK collection costs (Stb. 2012, 141)
    gateway dunning interest AMOUNT FROM TO  interest at the Belgian reference rate (both days included)
    gateway dunning presumption DATE         Book XIX / WIK start dates for a reminder sent on DATE
    gateway dunning holidays YEAR            Belgian (or --nl Dutch) public holidays
    gateway dunning walk POLICY DUE AMOUNT   a shipped ladder's timeline from DUE to escalation
    gateway dunning run [--as-of DATE]       decide and record for every dunnable claim in the database (--today: alias)
    gateway dunning scan [--as-of DATE]      queue one dunning.evaluate job per dunnable claim (for the worker; --today: alias)
    gateway dunning assign CREDITOR TYPE POLICY [--fiscal]   assign a shipped policy (else: by creditor kind)
    gateway dunning export-list KIND [--approving-body B] [--format csv|pdf] -o FILE   an escalation list as CSV or PDF for the bailiff
    gateway dunning plan --policy FILE|ID --claims FILE --as-of DATE [--json]   decisions without a database
    gateway dunning rates list               the rate table in force (shipped + GATEWAY_DUNNING_RATES_FILE)
    gateway dunning rates check FILE         would FILE merge into the shipped table? exit 0/1 naming the rules

Commands that compute interest use the table in force: the shipped one merged with the file
GATEWAY_DUNNING_RATES_FILE names (schemas/dunning-rates.schema.json); a bad file stops them (exit 1).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation

import click

from gateway.dunning import calendar as legal_calendar
from gateway.dunning.legal import book_xix_lump_sum, reference_rate_interest, wik_collection_costs
from gateway.dunning.policy import PolicyRefused, load_policy
from gateway.dunning.rates import RateTable, RatesRefused, RateUnknown, configured_rates, load_rates_file


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


def _rates_in_force() -> RateTable:
    """Shipped rates merged with GATEWAY_DUNNING_RATES_FILE; a refused file ends the command (exit 1)."""
    from gateway.config import get_settings

    try:
        return configured_rates(get_settings().dunning_rates_file)
    except RatesRefused as error:
        _echo_refused("GATEWAY_DUNNING_RATES_FILE", error)
        raise SystemExit(1) from error


def _echo_refused(what: str, error) -> None:
    click.echo(f"REFUSED {what}: {error.message}", err=True)
    for problem in error.problems:
        click.echo(f"  {problem.rule}  {problem.field}: {problem.message}", err=True)


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
            click.echo(f"OK      {path}  {policy.reference}  {policy.regime_label()}  {len(policy.steps)} steps -> {policy.escalation.kind.value}")
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
        result = reference_rate_interest(_amount(amount), _day(first_day), _day(last_day), rates=_rates_in_force())
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
    events = walk(facts, policy, channel=Channel(channel), rates=_rates_in_force())
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


@dunning_group.command("plan")
@click.option("--policy", "policy_ref", required=True, help="a policy FILE or the id of a shipped policy")
@click.option("--claims", "claims_path", required=True, type=click.Path(exists=True, dir_okay=False), help="JSON file, see gateway/dunning/plan.py")
@click.option("--as-of", "as_of", required=True, help="ISO date to decide for")
@click.option("--json", "as_json", is_flag=True, help="the decisions as one JSON document (compact, one decision per line)")
@click.option("-o", "--output", "output", default=None, type=click.Path(dir_okay=False, writable=True),
              help="write to FILE instead of standard output (written whole or not at all)")
@click.option("--rates", "rates_path", default=None, type=click.Path(exists=True, dir_okay=False),
              help="a rate file to merge instead of GATEWAY_DUNNING_RATES_FILE (schemas/dunning-rates.schema.json)")
def plan_command(policy_ref: str, claims_path: str, as_of: str, as_json: bool, output: str | None, rates_path: str | None) -> None:
    """One dunning decision per claim in CLAIMS as of AS_OF, without a database; exit 1 on a bad file.

    A claim whose interest needs a rate the table does not publish gets `wait rate_unknown` naming
    the period; the other claims are decided as usual. A bad claim refuses the whole file: nothing
    is written (the output file is only put in place once every claim is decided)."""
    import gc
    import io
    import json
    import os
    import tempfile
    from pathlib import Path

    from gateway.dunning import plan as planner
    from gateway.dunning.policy import shipped_policies
    from gateway.errors import InvalidInput

    today = _day(as_of)
    if rates_path:
        try:
            rates = load_rates_file(rates_path)
        except RatesRefused as error:
            _echo_refused(rates_path, error)
            raise SystemExit(1) from error
    else:
        rates = _rates_in_force()
    try:
        policy = shipped_policies().get(policy_ref) or load_policy(policy_ref)
    except (PolicyRefused, OSError) as error:
        click.echo(f"error: policy {policy_ref}: {getattr(error, 'message', error)}", err=True)
        raise SystemExit(1) from error
    if output:
        folder = os.path.dirname(os.path.abspath(output))
        handle, partial = tempfile.mkstemp(prefix=".dunning-plan-", dir=folder)
        sink = os.fdopen(handle, "wb", buffering=1 << 20)
    else:
        partial, sink = None, io.BytesIO()
    try:
        try:
            # The parsed claims live until the end and hold no reference cycles: keep the cyclic
            # collector from walking millions of them again and again, while they are read (a
            # million claims: 3-4 times the parse itself) and while the decisions are made.
            gc.disable()
            try:
                document = planner.loads(Path(claims_path).read_bytes())
            finally:
                gc.freeze()
                gc.enable()
            decisions = planner.iter_plan(document, policy, today=today, rates=rates)
            if as_json:
                planner.write_plan_json(sink, decisions, policy=policy, today=today)
            else:
                _write_plan_text(sink, decisions, policy=policy, today=today)
            del document
        except json.JSONDecodeError as error:
            click.echo(f"REFUSED {claims_path}\n  PLAN-JSON  $: {error}", err=True)
            raise SystemExit(1) from error
        except InvalidInput as error:
            click.echo(f"REFUSED {claims_path}", err=True)
            for problem in getattr(error, "problems", []) or []:
                click.echo(f"  {problem.rule}  {problem.field}: {problem.message}", err=True)
            if not getattr(error, "problems", None):
                click.echo(f"  {error.message}", err=True)
            raise SystemExit(1) from error
    except BaseException:
        sink.close()
        if partial:
            os.unlink(partial)
        raise
    finally:
        gc.unfreeze()
    if partial:
        sink.close()
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(partial, 0o666 & ~mask)  # as a file opened for writing would be (mkstemp makes it private)
        os.replace(partial, output)
    else:
        click.echo(sink.getvalue(), nl=False)  # bytes go to the binary stdout


def _write_plan_text(sink, decisions, *, policy, today) -> None:
    from gateway.dunning import plan as planner

    sink.write(f"{policy.reference}  as of {today.isoformat()}\n".encode())
    for number, decision in decisions:
        d = planner.decision_json(number, decision)
        what = {"send_step": f"step {d['step']} {d['step_key']} fee {d['fee']} pay by {d['new_due_date']}",
                "escalate": f"escalate {d['escalation_list']}"}.get(d["action"], f"wait {d['reason']}: {d['detail']}")
        sink.write(f"{d['number']:<20} open {d['amount_open']:>10}  {what}\n".encode())


def _database():
    from gateway.config import get_settings
    from gateway.store.session import Database

    return Database(get_settings().database_url)


def _today_option(value: str | None):
    from gateway.dunning.service import local_today
    from gateway.kit.time import utc_now

    return _day(value) if value else local_today(utc_now())


AS_OF_HELP = "ISO date to decide for (default: today in Brussels); --today is the older name"


@dunning_group.command("run")
@click.option("--as-of", "--today", "today_text", default=None, metavar="YYYY-MM-DD", help=AS_OF_HELP)
def run_command(today_text: str | None) -> None:
    """Decide for every open claim and record send/escalate decisions; a second run the same day changes nothing."""
    from gateway.dunning import service
    from gateway.kit.time import utc_now

    today = _today_option(today_text)
    rates = _rates_in_force()
    database = _database()
    try:
        report = service.run(database, today=today, now=utc_now(), rates=rates)
    finally:
        database.dispose()
    click.echo(f"dunning run {today.isoformat()}: {report.evaluated} claims evaluated")
    for action in ("send_step", "escalate"):
        click.echo(f"  recorded {action:<10} {report.recorded.get(action, 0)}")
    click.echo(f"  already recorded    {report.already_recorded}")
    for reason, number in sorted(report.waiting.items()):
        click.echo(f"  wait {reason:<15} {number}")
    for rule, number in sorted(report.refused.items()):
        click.echo(f"  refused {rule:<12} {number}")


@dunning_group.command("scan")
@click.option("--as-of", "--today", "today_text", default=None, metavar="YYYY-MM-DD", help=AS_OF_HELP)
def scan_command(today_text: str | None) -> None:
    """Queue one dunning.evaluate job per open claim; the worker records the decisions."""
    from gateway.dunning import service
    from gateway.kit.time import utc_now

    today = _today_option(today_text)
    database = _database()
    try:
        with database.session_scope() as session:
            queued = service.scan(session, today=today, now=utc_now())
    finally:
        database.dispose()
    click.echo(f"queued {queued} dunning.evaluate jobs for {today.isoformat()}")


@dunning_group.command("assign")
@click.argument("creditor_code")
@click.argument("claim_type", type=click.Choice(["invoice", "rent", "lease", "retribution", "tax_assessment"]))
@click.argument("policy_id")
@click.option("--fiscal", is_flag=True, help="for fiscal claims (tax assessments)")
@click.option("--author", default="cli", show_default=True)
def assign_command(creditor_code: str, claim_type: str, policy_id: str, fiscal: bool, author: str) -> None:
    """Assign shipped policy POLICY_ID to CREDITOR_CODE's claims of CLAIM_TYPE (replaces an earlier assignment)."""
    from gateway.dunning import service
    from gateway.errors import GatewayError
    from gateway.kit.time import utc_now

    database = _database()
    try:
        with database.session_scope() as session:
            row = service.assign_policy(session, creditor_code, claim_type, fiscal=fiscal, policy_id=policy_id, author=author, now=utc_now())
            click.echo(f"{creditor_code} {claim_type} fiscal={row.fiscal} -> {row.policy_id}")
    except GatewayError as error:
        click.echo(f"error: {error.message}", err=True)
        raise SystemExit(1) from error
    finally:
        database.dispose()


@dunning_group.command("export-list")
@click.argument("kind", type=click.Choice(["dwangbevel", "dwangschrift", "bailiff", "disconnection"]))
@click.option("--approving-body", default=None, help="only this approving body's entries, e.g. college_van_burgemeester_en_schepenen")
@click.option("--status", type=click.Choice(["pending", "approved"]), default=None)
@click.option("--format", "export_format", type=click.Choice(["csv", "pdf"]), default="csv", show_default=True, help="pdf: the same values plus approval lines and totals")
@click.option("-o", "--output", "output", required=True, type=click.Path(dir_okay=False, writable=True), help="file to write")
def export_list_command(kind: str, approving_body: str | None, status: str | None, export_format: str, output: str) -> None:
    """Write escalation list KIND (all creditor entities) as CSV with the evidence columns, or as PDF for the bailiff."""
    from pathlib import Path

    from gateway.dunning import export
    from gateway.kit.time import utc_now

    database = _database()
    try:
        with database.session_scope() as session:
            items = export.rows(session, export.all_creditor_ids(session), kind=kind, approving_body=approving_body, status=status)
    finally:
        database.dispose()
    if export_format == "pdf":
        Path(output).write_bytes(export.to_pdf(items, kind=kind, approving_body=approving_body, status=status, generated_at=utc_now()))
    else:
        Path(output).write_text(export.to_csv(items), encoding="utf-8", newline="")
    click.echo(f"{len(items)} {kind} entries written to {output}")


@dunning_group.group("rates")
def rates_group() -> None:
    """The versioned interest-rate table and an operator's additions (GATEWAY_DUNNING_RATES_FILE)."""


def _echo_table(table: RateTable) -> None:
    click.echo(f"rates {table.version}")
    for name, rows in table.tables.items():
        click.echo(name)
        for row in rows:
            percent = "unknown" if row.percent is None else f"{row.percent} %"
            origin = "" if row.origin == "shipped" else f"  [{row.origin}]"
            click.echo(f"  {row.period:<8} {row.valid_from.isoformat()}..{row.valid_to.isoformat()}  {percent:<9} {row.confidence}  {row.source or '-'}{origin}")


@rates_group.command("list")
def rates_list() -> None:
    """Print the table in force: every period, its rate (or unknown), confidence and source."""
    _echo_table(_rates_in_force())


@rates_group.command("check")
@click.argument("file", type=click.Path(dir_okay=False))
def rates_check(file: str) -> None:
    """Check that FILE merges into the shipped table (schema, no overlap, no gap); print the result."""
    try:
        table = load_rates_file(file)
    except RatesRefused as error:
        click.echo(f"REFUSED {file}")
        for problem in error.problems:
            click.echo(f"  {problem.rule}  {problem.field}: {problem.message}")
        raise SystemExit(1) from error
    click.echo(f"OK      {file}  -> rates {table.version}")
    for name, rows in table.tables.items():
        for row in rows:
            if row.origin != "shipped":
                click.echo(f"  {name} {row.period} {row.valid_from.isoformat()}..{row.valid_to.isoformat()} {row.percent} % ({row.source})")


def register(group: click.Group) -> None:
    """Add this package's subcommands to the top-level `gateway` group."""
    group.add_command(dunning_group)
