"""Creditor logos: migration 0006, `gateway creditors import` with `logo_file`, and the refusals."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image
from sqlalchemy import inspect, select

from gateway import demo_data
from gateway.cli import main
from gateway.domain.document import DocumentRuleError
from gateway.letters.logo import MAX_LOGO_BYTES, PNG, SVG, sniff
from gateway.letters.render import render_letter
from gateway.store.migrate import downgrade, upgrade
from gateway.store.models import AuditEvent, CreditorEntity
from tests.letters.test_render import letter, qr_payloads

SVG_BYTES = (demo_data.DEMO_LOGOS / "zonnedorp.svg").read_bytes()


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (80, 30), (198, 40, 40)).save(buffer, format="PNG")
    return buffer.getvalue()


def entity(code: str, **extra) -> dict:
    return {"code": code, "kind": "municipality", "name": f"Gemeente {code.title()}", "iban": "BE48320070184927", **extra}


def write(tmp_path: Path, entities: list[dict], files: dict[str, bytes]) -> Path:
    (tmp_path / "logos").mkdir(exist_ok=True)
    for name, data in files.items():
        (tmp_path / "logos" / name).write_bytes(data)
    path = tmp_path / "creditors.json"
    path.write_text(json.dumps(entities), encoding="utf-8")
    return path


def stored_logos(database) -> dict[str, tuple[bytes | None, str | None]]:
    with database.session_scope() as session:
        return {row.code: (row.logo, row.logo_media_type) for row in session.scalars(select(CreditorEntity).order_by(CreditorEntity.code))}


def test_migration_0006_adds_the_two_nullable_columns_and_goes_back(database):
    columns = {column["name"]: column for column in inspect(database.engine).get_columns("creditor_entity")}
    assert columns["logo"]["nullable"] and columns["logo_media_type"]["nullable"]
    assert columns["logo_media_type"]["type"].length == 40
    if database.engine.dialect.name == "sqlite":  # a private copy: safe to go down and up again
        downgrade(database.url, "0005")
        assert {"logo", "logo_media_type"}.isdisjoint(c["name"] for c in inspect(database.engine).get_columns("creditor_entity"))
        upgrade(database.url)
        assert {"logo", "logo_media_type"} <= {c["name"] for c in inspect(database.engine).get_columns("creditor_entity")}


def test_import_stores_svg_and_png_logos_sniffed_from_their_bytes(cli_database, tmp_path):
    png = png_bytes()
    # The PNG is deliberately named .svg: the type comes from the bytes, never the name.
    path = write(tmp_path, [entity("zonnedorp", logo_file="logos/zonnedorp.svg"), entity("delta", logo_file="logos/delta.svg"), entity("plain")],
                 {"zonnedorp.svg": SVG_BYTES, "delta.svg": png})

    result = CliRunner().invoke(main, ["creditors", "import", str(path)])

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"zonnedorp": "created", "delta": "created", "plain": "created"}
    assert stored_logos(cli_database) == {"delta": (png, PNG), "plain": (None, None), "zonnedorp": (SVG_BYTES, SVG)}


def test_reimport_without_logo_file_keeps_the_logo_and_with_one_replaces_it(cli_database, tmp_path):
    png = png_bytes()
    CliRunner().invoke(main, ["creditors", "import", str(write(tmp_path, [entity("zonnedorp", logo_file="logos/a.svg")], {"a.svg": SVG_BYTES}))])
    kept = CliRunner().invoke(main, ["creditors", "import", str(write(tmp_path, [entity("zonnedorp", name="Gemeente Zonnedorp")], {}))])
    assert kept.exit_code == 0, kept.output
    assert stored_logos(cli_database) == {"zonnedorp": (SVG_BYTES, SVG)}
    replaced = CliRunner().invoke(main, ["creditors", "import", str(write(tmp_path, [entity("zonnedorp", logo_file="logos/b.png")], {"b.png": png}))])
    assert replaced.exit_code == 0, replaced.output
    assert stored_logos(cli_database) == {"zonnedorp": (png, PNG)}


def test_a_logo_of_exactly_200_kb_is_accepted(cli_database, tmp_path):
    largest = png_bytes().ljust(MAX_LOGO_BYTES, b"\0")
    path = write(tmp_path, [entity("zonnedorp", logo_file="logos/big.png")], {"big.png": largest})
    result = CliRunner().invoke(main, ["creditors", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert stored_logos(cli_database)["zonnedorp"] == (largest, PNG)


GIF = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"


@pytest.mark.parametrize(
    ("file_name", "content", "rule"),
    [
        ("big.png", png_bytes().ljust(MAX_LOGO_BYTES + 1, b"\0"), "logo_file.too_large"),
        ("logo.gif", GIF, "logo_file.type"),
        ("fake.png", GIF, "logo_file.type"),
        ("page.svg", b"<html><body>not an svg</body></html>", "logo_file.type"),
        ("broken.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><rect', "logo_file.type"),
        ("missing.svg", None, "logo_file.not_found"),
    ],
)
def test_a_bad_logo_file_refuses_the_whole_file_naming_entity_field_and_rule(cli_database, tmp_path, file_name, content, rule):
    files = {file_name: content} if content is not None else {}
    path = write(tmp_path, [entity("ok", logo_file=None), entity("zonnedorp", logo_file=f"logos/{file_name}")], files)

    result = CliRunner().invoke(main, ["creditors", "import", str(path)])

    assert result.exit_code == 1
    assert result.stderr.startswith(f"1.logo_file: {rule}: ")
    assert "nothing imported" in result.stderr
    assert stored_logos(cli_database) == {}
    with cli_database.session_scope() as session:
        assert session.scalars(select(AuditEvent)).all() == []


def test_an_svg_with_an_external_entity_is_refused_by_the_renderer_too():
    # The import refuses it (tests/security/test_svg_logo_attacks.py); the renderer is the second gate.
    hostile = b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]><svg xmlns="http://www.w3.org/2000/svg"><text>&x;</text></svg>'
    assert sniff(hostile) is None
    with pytest.raises(DocumentRuleError) as refused:
        render_letter(letter(logo=hostile))
    assert [(p.field, p.rule) for p in refused.value.problems] == [("logo", "letter.logo.svg_doctype")]


@pytest.mark.parametrize("code", [code for code, *_ in demo_data.CREDITORS])
def test_every_demo_creditor_has_an_svg_logo_that_renders(code):
    data, media_type = demo_data.creditor_logo(code)
    assert (sniff(data), media_type) == (SVG, SVG) and len(data) < 2_000
    pdf = render_letter(letter(logo=data))
    assert len(qr_payloads(pdf)) == 1
