"""Malformed MIME on the bounce entry points: `POST /v1/callbacks/email/bounce`, the SMTP bounce
receiver and `gateway bounce parse`.

Each hostile message (missing or wrong boundaries, 20,000 parts, 3,000-deep nesting, a 4 MiB
header, 100,000 header fields, unknown charsets, base64 and quoted-printable garbage, NUL bytes,
...) carries a valid VERP token of a real dispatch, so only the parser stands in the way.

- Sent as ordinary mail (a person's From, an ordinary subject), every one gets a clear answer
  (202 with nothing stored, or 401 naming `bounce.mime` / `bounce.empty`; SMTP 250 or 550 5.7.1)
  and nothing changes: no inbound event, no job, the dispatch still `sent`.
- Dressed as a bounce (MAILER-DAEMON, "Undelivered Mail"), an unreadable report is at most a
  soft failure: the debtor's address is never marked bounced and no fallback is queued on the
  strength of a message nobody could read.

Time and memory are measured per message and bounded.
"""

from __future__ import annotations

import json
import smtplib
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from gateway.app import create_app
from gateway.channels.email.bounce import MAX_BOUNCE_BYTES
from gateway.channels.email.bounce_callback import BounceVerifier
from gateway.channels.email.bounce_receiver import BounceReceiver
from gateway.cli import main as gateway_cli
from gateway.store.models import DebtorContact, Dispatch, InboundEvent, Job
from tests.channels.test_email_provider import (  # noqa: F401 - fixtures
    BOUNCE_DOMAIN, CONTACT, MESSAGE_DOMAIN, SECRET, dispatches, issue_without_peppol, sink, world,
)
from tests.security.attack_support import FIGURES, MIB, measure, record
from tests.security.mime_cases import mime_cases

MAX_SECONDS = 5.0
MAX_RSS_GROWTH = 128 * MIB
REFUSED = "https://gateway.example/problems/callback-refused"


def as_ordinary_mail(raw: bytes) -> bytes:
    """The same hostile structure under the header fields of ordinary mail."""
    return raw.replace(b"From: MAILER-DAEMON@mx.example.be", b"From: Jan Janssens <jan@janssens.be>", 1).replace(
        b"Subject: Undelivered Mail Returned to Sender", b"Subject: Re: uw factuur", 1)


@pytest.fixture
def flow(database, world, sink):
    keys, worker, providers, settings = world
    providers.add_verifier(BounceVerifier(secrets=[SECRET], message_domain=MESSAGE_DOMAIN))
    issue_without_peppol(database, keys.municipality_key, "B1")
    worker.drain()
    [dispatch] = dispatches(database)
    assert dispatch.state == "sent"
    with TestClient(create_app(settings, database=database, providers=providers)) as client:
        yield client, worker, providers, dispatch, sink.messages[0].mail_from


def state(database) -> tuple:
    with database.session_scope() as session:
        return (
            session.scalar(select(func.count()).select_from(InboundEvent)),
            sorted((j.kind, j.state) for j in session.scalars(select(Job))),
            [(d.channel, d.state) for d in session.scalars(select(Dispatch).order_by(Dispatch.created_at))],
            [(c.value, c.validity) for c in session.scalars(select(DebtorContact))],
        )


def _bounded(measured, entry: str, name: str) -> None:
    record(entry, name, measured)
    assert measured.seconds < MAX_SECONDS, f"{entry} {name}: {measured.seconds:.2f} s"
    assert measured.rss_growth_bytes < MAX_RSS_GROWTH, f"{entry} {name}: RSS grew {measured.rss_growth_bytes / MIB:.0f} MiB"


def test_hostile_ordinary_mail_gets_a_clear_answer_and_changes_nothing(database, flow):
    client, worker, providers, dispatch, verp = flow
    before = state(database)
    answers = {}
    for name, raw in mime_cases(verp).items():
        measured = measure(lambda: client.post("/v1/callbacks/email/bounce", content=as_ordinary_mail(raw), headers={"Content-Type": "message/rfc822"}), trace_python=False)
        _bounded(measured, "POST /v1/callbacks/email/bounce", name)
        response = measured.result
        if response.status_code == 202:
            assert response.json() == {"stored": 0, "duplicates": 0}, name
            answers[name] = "202 stored 0"
        else:
            assert response.status_code == 401, (name, response.text)
            assert response.json()["type"] == REFUSED
            answers[name] = response.json()["detail"]
    assert answers["nested-3000-deep"] == "not a readable message (bounce.mime): the MIME structure cannot be read: RecursionError"
    assert answers["only-line-breaks"] == "not a readable message (bounce.empty): message is empty"
    assert sum(answer == "202 stored 0" for answer in answers.values()) == len(answers) - 2
    worker.drain()
    assert state(database) == before


def test_hostile_messages_dressed_as_bounces_are_at_most_a_soft_failure(database, flow):
    client, worker, providers, dispatch, verp = flow
    contacts_before = state(database)[3]
    for name, raw in mime_cases(verp).items():
        response = client.post("/v1/callbacks/email/bounce", content=raw, headers={"Content-Type": "message/rfc822"})
        assert response.status_code in (202, 401), (name, response.status_code)
    with database.session_scope() as session:
        # external_id: <dispatch id>:<state>:<bounce identity>
        states = {event.external_id.split(":")[1] for event in session.scalars(select(InboundEvent))}
    assert states <= {"failed_temporary"}
    worker.drain()
    _, _, dispatch_states, contacts = state(database)
    assert [channel for channel, _ in dispatch_states] == ["email"]  # no fallback to paper
    assert dispatch_states[0][1] in ("sent", "failed_temporary", "queued", "in_flight")
    assert contacts == contacts_before == [(CONTACT, "unverified")]


def test_hostile_messages_over_smtp_get_250_or_550_and_change_nothing(database, flow):
    client, worker, providers, dispatch, verp = flow
    before = state(database)
    verifier = providers.verifiers["email/bounce"]
    codes = {}
    with BounceReceiver(database, verifier, bounce_domain=BOUNCE_DOMAIN) as receiver:
        with smtplib.SMTP("127.0.0.1", receiver.port, local_hostname="localhost", timeout=30) as smtp:
            for name, raw in mime_cases(verp).items():
                def send():
                    try:
                        smtp.sendmail("", [verp], as_ordinary_mail(raw))
                        return 250
                    except smtplib.SMTPDataError as refused:
                        smtp.rset()
                        return (refused.smtp_code, refused.smtp_error.decode())

                measured = measure(send, trace_python=False)
                _bounded(measured, "SMTP bounce receiver", name)
                codes[name] = measured.result
    assert codes["nested-3000-deep"] == (550, "5.7.1 Bounce refused: not a readable message (bounce.mime): the MIME structure cannot be read: RecursionError")
    assert codes["only-line-breaks"] == 250  # the receiver adds Delivered-To, so the message is not empty: not a bounce
    # RFC 5321 section 4.5.3.1.6: a text line is at most 1000 octets with CRLF; aiosmtpd says so.
    too_long = {name for name, raw in mime_cases(verp).items() if max(len(line) for line in as_ordinary_mail(raw).split(b"\r\n")) > 998}
    assert too_long == {"boundary-never-closed", "header-of-4-mib", "to-with-50k-addresses", "base64-garbage", "nul-and-binary", "no-header-body-separator"}
    assert {name: code for name, code in codes.items() if name in too_long} == {name: (500, "Line too long (see RFC5321 4.5.3.1.6)") for name in too_long}
    assert {name for name, code in codes.items() if code != 250} == too_long | {"nested-3000-deep"}
    worker.drain()
    assert state(database) == before


def test_bounce_parse_cli_answers_every_hostile_message(tmp_path: Path):
    verp = "bounces+0190c0de-0000-7000-8000-000000000001.abcdefabcdefabcd@" + BOUNCE_DOMAIN
    for name, raw in mime_cases(verp).items():
        path = tmp_path / f"{name}.eml"
        path.write_bytes(raw)
        measured = measure(lambda: CliRunner().invoke(gateway_cli, ["bounce", "parse", "--json", str(path)]), trace_python=False)
        _bounded(measured, "gateway bounce parse", name)
        result = measured.result
        if name == "nested-3000-deep":
            assert (result.exit_code, result.output) == (1, "Error: bounce.mime: the MIME structure cannot be read: RecursionError\n")
        elif name == "only-line-breaks":
            assert (result.exit_code, result.output) == (1, "Error: bounce.empty: message is empty\n")
        else:
            assert result.exit_code == 0, (name, result.output)
            report = json.loads(result.output)
            assert report["recipients"] == [], name  # nothing readable is invented


def test_oversized_messages_are_refused(database, flow, tmp_path: Path):
    client, worker, providers, dispatch, verp = flow
    before = state(database)
    # Over SMTP: aiosmtpd takes up to 32 MiB, the parser refuses above 25 MiB with a clear 550.
    line = b"x" * 998 + b"\r\n"
    big = as_ordinary_mail(mime_cases(verp)["wrong-boundary"]) + line * (MAX_BOUNCE_BYTES // len(line) + 1)
    with BounceReceiver(database, providers.verifiers["email/bounce"], bounce_domain=BOUNCE_DOMAIN) as receiver:
        with smtplib.SMTP("127.0.0.1", receiver.port, local_hostname="localhost", timeout=60) as smtp:
            with pytest.raises(smtplib.SMTPDataError) as refused:
                smtp.sendmail("", [verp], big)
    assert refused.value.smtp_code == 550
    assert refused.value.smtp_error.decode().startswith("5.7.1 Bounce refused: not a readable message (bounce.too_large): message is ")
    assert state(database) == before
    response = client.post("/v1/callbacks/email/bounce", content=b"x" * (5 * MIB + 1), headers={"Content-Type": "message/rfc822"})
    assert (response.status_code, response.json()["type"]) == (413, "https://gateway.example/problems/too-large")
    path = tmp_path / "huge.eml"
    with path.open("wb") as handle:
        handle.write(b"Subject: x\r\n\r\n")
        handle.truncate(MAX_BOUNCE_BYTES + 1)
    result = CliRunner().invoke(gateway_cli, ["bounce", "parse", str(path)])
    assert (result.exit_code, result.output) == (1, f"Error: bounce.too_large: message is {MAX_BOUNCE_BYTES + 1} bytes; the limit is {MAX_BOUNCE_BYTES}\n")


def test_print_figures():
    """Not a check: prints the measured figures (run with -s) for the README."""
    for entry, rows in sorted(FIGURES.items()):
        worst = max(rows, key=lambda row: row[1])
        print(f"{entry}: {len(rows)} cases, slowest {worst[0]} {worst[1] * 1000:.0f} ms, max RSS growth {max(r[3] for r in rows) / MIB:.1f} MiB")
