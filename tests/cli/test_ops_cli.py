"""The operational CLI against a real store: migrate, keys, import (CSV and JSON lines), demo."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from gateway.cli import main
from gateway.store.models import ApiKey, Claim, ClaimLine, CreditorEntity
from tests.factories import claim_payload, consumer_claim, seed_creditors

REPO = Path(__file__).parents[2]


@pytest.fixture
def cli_env(cli_database):
    seed_creditors(cli_database)
    return cli_database


def test_keys_create_and_revoke(cli_env):
    runner = CliRunner()
    created = runner.invoke(main, ["keys", "create", "gent", "--name", "erp-2"])
    assert created.exit_code == 0, created.output
    key = created.output.strip()
    assert key.startswith("gw_")
    revoked = runner.invoke(main, ["keys", "revoke", key])
    assert revoked.exit_code == 0 and revoked.output.strip() == f"revoked {key.split('_')[1]}"
    with cli_env.session_scope() as session:
        row = session.scalar(select(ApiKey).where(ApiKey.prefix == key.split("_")[1]))
        assert row.revoked_at is not None and row.key_hash != key
    unknown = runner.invoke(main, ["keys", "create", "nowhere"])
    assert unknown.exit_code != 0


def test_import_json_lines_reports_accepted_and_refused_rows(cli_env, tmp_path):
    rows = [claim_payload("J1"), consumer_claim("J2"), {**claim_payload("J3"), "currency": "USD"}]
    path = tmp_path / "claims.jsonl"
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\n{not json\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["import", "claims", str(path), "--creditor", "gent"])
    assert result.exit_code == 1
    assert result.stdout.strip().splitlines()[-1] == '{"accepted": 2, "refused": 2}'
    assert "row 3: refused:" in result.stderr and "currency.not_allowed" in result.stderr
    assert "row 4: refused: not valid JSON" in result.stderr
    with cli_env.session_scope() as session:
        assert sorted(session.scalars(select(Claim.number)).all()) == ["J1", "J2"]


def test_import_csv_groups_lines_by_claim_number(cli_env, tmp_path):
    header = "number,type,issue_date,due_date,buyer_reference,debtor_external_id,debtor_kind,debtor_name,debtor_enterprise_number,debtor_street,debtor_postal_code,debtor_city,debtor_country,debtor_email,line_description,line_quantity,line_unit_price,line_vat_category,line_vat_rate\n"
    body = (
        "R1,rent,2026-11-01,2026-12-01,REF1,K1,business,Garage Maes BV,0403019261,Markt 2,9000,Gent,BE,info@maes.be,Huur oktober,1,500.00,E,0\n"
        "R1,rent,2026-11-01,2026-12-01,REF1,K1,business,Garage Maes BV,0403019261,Markt 2,9000,Gent,BE,info@maes.be,Kosten,2,12.50,S,21\n"
        "R2,rent,2026-11-01,2026-12-01,REF2,K2,business,Nobody BV,0403019262,Markt 3,9000,Gent,BE,,Huur,1,10.00,S,21\n"
    )
    path = tmp_path / "claims.csv"
    path.write_text(header + body, encoding="utf-8")
    result = CliRunner().invoke(main, ["import", "claims", str(path), "--creditor", "gent"])
    # R1 line 1 is category E without a reason: refused with the rule; R2 has an invalid enterprise number.
    assert result.exit_code == 1
    assert "row 2: refused" in result.stderr and "vat.exemption_reason" in result.stderr
    assert "row 4: refused" in result.stderr and "enterprise_number.invalid" in result.stderr
    fixed = path.read_text().replace("Huur oktober,1,500.00,E,0", "Huur oktober,1,500.00,S,21")
    path.write_text(fixed)
    result = CliRunner().invoke(main, ["import", "claims", str(path), "--creditor", "gent"])
    assert result.stdout.strip().splitlines()[-1] == '{"accepted": 1, "refused": 1}'
    with cli_env.session_scope() as session:
        claim = session.scalar(select(Claim).where(Claim.number == "R1"))
        assert (claim.total_net, claim.total_vat, claim.total_amount) == (claim.total_net.__class__("525.00"), claim.total_net.__class__("110.25"), claim.total_net.__class__("635.25"))
        assert session.scalar(select(func.count()).select_from(ClaimLine)) == 2


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_demo_runs_end_to_end():
    env = {**os.environ, "GATEWAY_PORT": str(_free_port())}
    result = subprocess.run([sys.executable, "-m", "gateway.cli", "demo", "--no-serve"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "Claims posted through the API" in out and ", 0 refused in batches" in out
    assert "61 accepted" in out
    assert "Idempotency-Key replay returned the first response: yes" in out
    assert "BAD-OGM: HTTP 422 [('structured_communication', 'ogm.checksum')]" in out
    assert "E-mail typo warnings (stored as given, suggestion returned): 2" in out
    assert "First channel chosen per claim: ebox 5, email 20, paper 14, peppol 22" in out
    assert "Documents issued: contact_repair 1, invoice 61 (31 UBL clean under the official XSD + CEN + Peppol rules, 30 PDF letters for consumers); refused: 0" in out
    assert "Dispatches by channel: ebox 5, email 26, paper 15, peppol 22, sms 1" in out  # one address does not exist: paper + repair SMS
    assert "Peppol dispatches through the sandbox access point, by state: accepted 3, delivered 7, failed_permanent 6, paid 4, rejected 2" in out
    assert "Buyer responses (Peppol Invoice Response): AP 7, PD 4, RE 2, UQ 7" in out
    # Peppol's other outcomes: a debtor found by the lookup, and three kinds of undeliverable handed to e-mail.
    assert "Peppol lookups before routing (business debtors without a Peppol id): not_registered 9, reachable 1\n" in out
    assert "  found 0208:0500001247: sent over Peppol, the id recorded on the debtor\n" in out
    assert "Undeliverable over Peppol, handed to e-mail with PDF + UBL: 6\n" in out
    for reason in (
        "PeppolNotReachable: 0208:0300003380: not_registered: sml.not_registered",
        "Rejected: the document fails validation; BV: [BR-CO-15]-Invoice total amount with VAT = Invoice total amount without VAT + Invoice total VAT amount.",
        "EBMS:0004 PEPPOL:NOT_SERVICED: the receiving access point does not serve this participant and document type",
    ):
        assert f"  2 x after peppol failed ({reason}): Peppol failed: e-mail with PDF and UBL\n" in out
    assert "Jobs still pending: 0; failed jobs: 0" in out
    assert "E-mails sent through the local SMTP sink (127.0.0.1:" in out and "): 25\n" in out
    # what was sent, per channel: to, subject or first line, attachments
    assert re.search(r"^  e-mail  \S+@\S+ +Fact\w+ INV\d{6} (van|de) .+INV\d{6}\.pdf$", out, re.MULTILINE), out
    assert "  … and 22 more e-mails\n" in out
    assert "SMS sent through the SMS sandbox: 1\n" in out
    assert re.search(r"^  sms     \+32475360060 +AGB Sport Zonnedorp: uw factuur INV\d{6} kon niet bezorgd word… +2 part\(s\), report DELIVRD$", out, re.MULTILINE), out
    assert "eBox publications through the eBox sandbox: 5\n" in out
    assert re.search(r"^  ebox    citizen \d{11} +OCMW Zonnedorp ?: \w+ INV\d{6} +upfile1$", out, re.MULTILINE), out
    assert "Paper letters handed to the print provider: 15 in var/print/batches/" in out
    assert re.search(r"^  paper   .+  INV\d{6} \(1 page\(s\)\) +[0-9a-f]{64}\.pdf$", out, re.MULTILINE), out
    # the fallback and repair case: the sink refuses one address (550 5.1.1)
    assert "Consumer fallbacks (a channel failed for good; the same document went out on the next): 1\n" in out
    assert re.search(r"^  INV\d{6}: email to an\.peeters0@telenet\.be failed \(InvalidContact: SMTP 550 at RCPT TO: 5\.1\.1 <an\.peeters0@telenet\.be>: "
                     r"Recipient address rejected: User unknown\); address marked invalid; sent by paper instead\n    contact repair asked by sms$", out, re.MULTILINE), out
    assert f"  personal page of An Mertens: http://127.0.0.1:{env['GATEWAY_PORT']}/my/v1." in out


def test_creditors_import_is_all_or_nothing_and_updates_by_code(cli_env, tmp_path):
    entities = [
        {"code": "aalst", "kind": "municipality", "name": "Stad Aalst", "enterprise_number": "0207451227", "vat_number": "BE0207451227", "iban": "BE48 3200 7018 4927", "languages": ["nl"]},
        {"code": "ocmw-aalst", "kind": "ocmw", "name": "OCMW Aalst", "parent": "aalst", "iban": "BE48320070184927"},
    ]
    path = tmp_path / "creditors.json"
    bad = [entities[0], {**entities[1], "iban": "BE48320070184928"}]
    path.write_text(json.dumps(bad))
    refused = CliRunner().invoke(main, ["creditors", "import", str(path)])
    assert refused.exit_code == 1
    assert "1.iban: iban.invalid:" in refused.stderr
    with cli_env.session_scope() as session:
        assert session.scalar(select(func.count()).select_from(CreditorEntity).where(CreditorEntity.code == "aalst")) == 0
    path.write_text(json.dumps(entities))
    created = CliRunner().invoke(main, ["creditors", "import", str(path)])
    assert created.exit_code == 0, created.output
    assert json.loads(created.stdout) == {"aalst": "created", "ocmw-aalst": "created"}
    path.write_text(json.dumps([{**entities[0], "name": "Stad Aalst (nieuw)"}]))
    assert json.loads(CliRunner().invoke(main, ["creditors", "import", str(path)]).stdout) == {"aalst": "updated"}
    with cli_env.session_scope() as session:
        parent = session.scalar(select(CreditorEntity).where(CreditorEntity.code == "aalst"))
        child = session.scalar(select(CreditorEntity).where(CreditorEntity.code == "ocmw-aalst"))
        assert (parent.name, parent.iban, child.parent_id) == ("Stad Aalst (nieuw)", "BE48320070184927", parent.id)


def test_creditors_import_switches_consumer_channels_off_and_refuses_peppol_or_paper(cli_env, tmp_path):
    entity = {"code": "ninove", "kind": "municipality", "name": "Stad Ninove", "iban": "BE48320070184927", "disabled_channels": ["sms", "ebox"]}
    path = tmp_path / "creditors.json"
    path.write_text(json.dumps([entity]))
    created = CliRunner().invoke(main, ["creditors", "import", str(path)])
    assert created.exit_code == 0, created.output
    with cli_env.session_scope() as session:
        assert session.scalar(select(CreditorEntity.disabled_channels).where(CreditorEntity.code == "ninove")) == ["sms", "ebox"]
    path.write_text(json.dumps([{**entity, "disabled_channels": ["paper"]}]))
    refused = CliRunner().invoke(main, ["creditors", "import", str(path)])
    assert refused.exit_code == 1
    assert "0.disabled_channels.0:" in refused.stderr
