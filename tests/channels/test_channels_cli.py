"""`gateway bounce parse`, `gateway sms segments`, `gateway epc-qr` through click."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from gateway.channels.cli import register

SAMPLES = Path(__file__).parent / "bounce_samples"


@pytest.fixture
def cli() -> click.Group:
    @click.group()
    def main() -> None:
        pass

    register(main)
    return main


def run(cli, *args, **kwargs):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, **kwargs)


def test_bounce_parse_json(cli):
    result = run(cli, "bounce", "parse", str(SAMPLES / "09_dsn_three_recipients.eml"), "--json")
    assert result.exit_code == 0
    document = json.loads(result.output)
    assert document["is_bounce"] is True
    assert [{k: r[k] for k in ("address", "kind", "status")} for r in document["recipients"]] == [
        {"address": "boekhouding@example.org", "kind": "hard", "status": "5.1.1"},
        {"address": "financien@example.org", "kind": "soft", "status": "4.4.7"},
    ]
    assert set(document) == {"is_bounce", "recipients", "message_kind", "original_message_id", "verp_token"}
    assert set(document["recipients"][0]) == {"address", "kind", "status", "reason", "action", "diagnostic"}


def test_bounce_parse_json_not_a_bounce(cli):
    result = run(cli, "bounce", "parse", str(SAMPLES / "29_auto_reply_afwezig_subject_only.eml"), "--json")
    document = json.loads(result.output)
    assert (document["is_bounce"], document["recipients"], document["message_kind"]) == (False, [], "auto_reply")


def test_bounce_parse_stdin_and_text_output(cli):
    raw = (SAMPLES / "15_nonstd_qmail_user_unknown.eml").read_bytes()
    result = run(cli, "bounce", "parse", "-", input=raw)
    assert result.exit_code == 0
    assert result.output.splitlines()[:2] == [
        "non_standard_bounce: bounce",
        "  wim.goossens@example.net  hard  5.1.1  user_unknown",
    ]


def test_bounce_parse_errors(cli, tmp_path):
    empty = tmp_path / "empty.eml"
    empty.write_bytes(b"")
    result = CliRunner().invoke(cli, ["bounce", "parse", str(empty), "--json"])
    assert result.exit_code == 1
    assert "bounce.empty" in result.output
    missing = CliRunner().invoke(cli, ["bounce", "parse", str(tmp_path / "nope.eml")])
    assert missing.exit_code == 1
    assert "cannot read" in missing.output


def test_sms_segments(cli):
    result = run(cli, "sms", "segments", "Reçu € 12")
    assert json.loads(result.output) == {
        "encoding": "ucs2", "units": 9, "segments": 1, "per_segment": 70, "remaining": 61, "non_gsm7_characters": ["ç"],
    }


def test_epc_qr(cli, tmp_path):
    svg = tmp_path / "qr.svg"
    result = run(cli, "epc-qr", "--name", "Gemeente Voorbeeld", "--iban", "BE48320070184927", "--amount", "12.30",
                 "--ogm", "+++010/8068/17183+++", "--svg", str(svg))
    assert result.output == "BCD\n002\n1\nSCT\n\nGemeente Voorbeeld\nBE48320070184927\nEUR12.30\n\n010806817183\n"
    assert svg.read_bytes().startswith(b"<svg")
    bad = CliRunner().invoke(cli, ["epc-qr", "--name", "X", "--iban", "BE48320070184927", "--amount", "0"])
    assert bad.exit_code == 1
    assert "amount:" in bad.output and "epc_qr.amount.range" in bad.output
