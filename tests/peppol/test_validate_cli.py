"""`gateway validate`: exit 0 all valid, 1 any invalid, 2 usage error or missing artefacts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway.cli import main as gateway_cli

BASE = "peppol-bis-billing-3/examples/base-example.xml"
MLR = "peppol-mlr/examples/MessageLevelResponse_Example.xml"


@pytest.fixture
def files(shared_standards: Path, tmp_path: Path) -> dict[str, Path]:
    base = (shared_standards / BASE).read_bytes()
    made = {
        "valid": shared_standards / BASE,
        "mlr": shared_standards / MLR,
        "r003": base.replace(b"<cbc:BuyerReference>0150abc</cbc:BuyerReference>", b""),
        "warning": base.replace(b"<cbc:ID>Snippet1</cbc:ID>", b"<cbc:ProfileExecutionID>1</cbc:ProfileExecutionID><cbc:ID>Snippet1</cbc:ID>", 1),
        "xsd": base.replace(b"<cbc:BuyerReference>0150abc</cbc:BuyerReference>", b"<cbc:BuyerRef>0150abc</cbc:BuyerRef>"),
        "xxe": b'<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>',
    }
    for name, content in list(made.items()):
        if isinstance(content, bytes):
            path = tmp_path / f"{name}.xml"
            path.write_bytes(content)
            made[name] = path
    return made


def run(*args: object):
    return CliRunner().invoke(gateway_cli, ["validate", *map(str, args)])


def test_all_valid_exits_0(files, standards_dir, gateway_env):
    gateway_env(standards_dir)
    result = run(files["valid"], files["mlr"])
    assert result.exit_code == 0, result.output
    assert f"{files['valid']}: valid (Invoice; 0 error(s), 0 warning(s))" in result.output
    assert f"{files['mlr']}: valid (ApplicationResponse; 0 error(s), 0 warning(s))" in result.output


def test_any_invalid_exits_1_with_json_report(files, standards_dir, gateway_env):
    gateway_env(standards_dir)
    result = run("--json", files["valid"], files["r003"])
    assert result.exit_code == 1
    reports = json.loads(result.stdout)
    assert [sorted(report) for report in reports] == [["document_type", "errors", "file", "valid", "warnings"]] * 2
    assert reports[0] == {"file": str(files["valid"]), "document_type": "Invoice", "valid": True, "errors": [], "warnings": []}
    assert reports[1]["valid"] is False
    assert [(e["rule"], e["flag"], e["location"]) for e in reports[1]["errors"]] == [
        ("PEPPOL-EN16931-R003", "fatal", "/Invoice[1]"),
    ]
    assert sorted(reports[1]["errors"][0]) == ["flag", "location", "message", "rule"]


def test_xsd_error_and_continue_after_xsd(files, standards_dir, gateway_env):
    gateway_env(standards_dir)
    result = run("--json", files["xsd"])
    assert result.exit_code == 1
    assert [e["rule"] for e in json.loads(result.stdout)[0]["errors"]] == ["XSD"]
    result = run("--json", "--continue-after-xsd", files["xsd"])
    assert [e["rule"] for e in json.loads(result.stdout)[0]["errors"]] == ["XSD", "PEPPOL-EN16931-R003"]


def test_forced_rules(files, standards_dir, gateway_env):
    gateway_env(standards_dir)
    result = run("--json", "--rules", "t111", files["mlr"])
    assert result.exit_code == 1
    # The MLR example checked against the Invoice Response (T111) rules instead of T71.
    assert sorted(e["rule"] for e in json.loads(result.stdout)[0]["errors"]) == [
        "PEPPOL-T111-B00802", "PEPPOL-T111-B02002", "PEPPOL-T111-B02803", "PEPPOL-T111-B02902",
        "PEPPOL-T111-B03903", "PEPPOL-T111-R001", "PEPPOL-T111-R003", "PEPPOL-T111-R008",
    ]


def test_warnings_pass_unless_strict(files, standards_dir, gateway_env):
    gateway_env(standards_dir)
    result = run("--json", files["warning"])
    assert result.exit_code == 0
    assert [w["rule"] for w in json.loads(result.stdout)[0]["warnings"]] == ["UBL-CR-003"]
    assert run("--strict", files["warning"]).exit_code == 1
    assert run("--strict", files["valid"]).exit_code == 0


def test_unsafe_xml_is_reported_invalid(files, standards_dir, gateway_env):
    gateway_env(standards_dir)
    result = run("--json", files["xxe"], files["valid"])
    assert result.exit_code == 1
    reports = json.loads(result.stdout)
    assert [(e["rule"], e["flag"]) for e in reports[0]["errors"]] == [("XML", "fatal")]
    assert "DOCTYPE" in reports[0]["errors"][0]["message"]
    assert reports[1]["valid"] is True


def test_missing_artefacts_exit_2(files, tmp_path, gateway_env):
    gateway_env(tmp_path / "not-installed")
    result = run("--json", files["valid"])
    assert result.exit_code == 2
    assert "official validation artefacts are missing" in result.output
    assert "valid" not in result.stdout


@pytest.mark.parametrize("args", [["--rules", "xrechnung", "x.xml"], [], ["does-not-exist.xml"]])
def test_usage_errors_exit_2(args, standards_dir, gateway_env):
    gateway_env(standards_dir)
    assert run(*args).exit_code == 2


def test_many_files_use_the_pool_with_the_same_verdicts(files, standards_dir, gateway_env):
    gateway_env(standards_dir)
    names = ["valid", "r003", "xxe", "mlr"] * 4  # 16 files: the pool threshold
    result = run("--json", *(files[name] for name in names))
    assert result.exit_code == 1
    reports = json.loads(result.stdout)
    assert [r["file"] for r in reports] == [str(files[name]) for name in names]
    assert [r["valid"] for r in reports] == [True, False, False, True] * 4
