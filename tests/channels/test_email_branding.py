"""E-mail branding and reminder content, read from the message the SMTP sink received (real SMTP,
store on SQLite and PostgreSQL): the entity's stored logo (the one on its letters) travels inline
as a cid: PNG, an SVG logo drawn to PNG; a consumer's first reminder says it is free and which fees
follow; a fee reminder shows the fee with its own structured communication."""

from __future__ import annotations

import email
import email.policy
import io
from datetime import date, datetime, timezone
from decimal import Decimal

from PIL import Image
from sqlalchemy import select

from gateway import demo_data
from gateway.delivery.router import RoutingDecision
from gateway.domain.claim import Channel
from gateway.dunning import service as dunning
from gateway.dunning import tasks as dunning_tasks
from gateway.letters.logo import PNG, SVG, email_png
from gateway.services import documents
from gateway.store.models import CreditorEntity, Document, DunningStep
from gateway.store.repositories.dunning import DunningRepository
from gateway.workers.registry import Task
from tests.channels.test_consumer_flow import EMAIL, ebox_key, flow, rows, submit  # noqa: F401 - fixtures
from tests.channels.test_email_provider import make_due
from tests.factories import consumer_claim
from tests.letters.test_creditor_logo import png_bytes

SVG_LOGO = (demo_data.DEMO_LOGOS / "zonnedorp.svg").read_bytes()


def utc(*parts) -> datetime:
    return datetime(*parts, tzinfo=timezone.utc)


def set_logo(database, logo: bytes, media_type: str) -> None:
    with database.session_scope() as session:
        gent = session.scalar(select(CreditorEntity).where(CreditorEntity.code == "gent"))
        gent.logo, gent.logo_media_type = logo, media_type
        gent.logo_url = "https://cdn.gent.example/logo.png"  # kept for entities without a stored logo; not used here


def received(sink, index: int = -1):
    return email.message_from_bytes(sink.messages[index].data, policy=email.policy.default)


def inline_logo(message) -> tuple[bytes, str]:
    [logo] = [part for part in message.walk() if part.get_filename() == "logo.png"]
    assert (logo.get_content_type(), logo.get_content_disposition()) == ("image/png", "inline")
    return logo.get_content(), logo["Content-ID"].strip().strip("<>")


def test_the_stored_svg_logo_goes_inline_as_png(database, flow):
    keys, worker, sink, _, _, base_url, _, _ = flow
    set_logo(database, SVG_LOGO, SVG)
    submit(base_url, keys.municipality_key, consumer_claim("L1"))
    worker.drain()
    message = received(sink)
    png, cid = inline_logo(message)
    assert png == email_png(SVG_LOGO, SVG)
    image = Image.open(io.BytesIO(png))
    assert (image.format, image.mode) == ("PNG", "RGBA") and image.size[1] > 60  # drawn at 2x for a 48 px header
    html = message.get_body(("html",)).get_content()
    assert f'<img src="cid:{cid}" alt="Stad Gent" height="48"' in html
    assert "cdn.gent.example" not in html  # the inline logo, not a remote one that clients block


def test_a_stored_png_logo_goes_inline_byte_for_byte(database, flow):
    keys, worker, sink, _, _, base_url, _, _ = flow
    png = png_bytes()
    set_logo(database, png, PNG)
    submit(base_url, keys.municipality_key, consumer_claim("L2"))
    worker.drain()
    assert inline_logo(received(sink))[0] == png


def test_consumer_reminders_state_the_fees_that_follow_and_their_own_fee_with_its_ogm(database, flow):
    keys, worker, sink, _, _, base_url, settings, _ = flow
    claim_id = submit(base_url, keys.municipality_key, consumer_claim("L3"))
    worker.drain()
    with database.session_scope() as session:
        step1 = dunning.evaluate(session, claim_id, today=date(2026, 12, 7), now=utc(2026, 12, 7, 6)).step_id
    with database.session_scope() as session:
        dunning_tasks.send_step(Task(session, settings, database), {"step_id": str(step1)}, utc(2026, 12, 7, 7))
    make_due(database)
    worker.drain()
    first = received(sink)
    text = first.get_body(("plain",)).get_content()
    html = first.get_body(("html",)).get_content()
    with database.session_scope() as session:
        due1 = session.get(DunningStep, step1).new_due_date
    notice = (
        "Dit is een eerste herinnering, zonder kosten. "
        f"Betaalt u niet uiterlijk op {due1.day} januari {due1.year}, dan volgen deze kosten: herinnering stap 2: €\u00a07,50."
    )
    assert notice in text and notice in html
    assert "Bijkomende kosten" not in text  # the first reminder is free

    # step 2 (policy: registered, EUR 15.00 for businesses, 7.50 for a consumer under Book XIX) sent by e-mail here to see the fee line in a mail body
    with database.session_scope() as session:
        step2 = dunning.evaluate(session, claim_id, today=date(2027, 1, 11), now=utc(2027, 1, 11, 6)).step_id
    with database.session_scope() as session:
        repo = DunningRepository(session)
        step = repo.step(step2)
        claim = repo.claim(step.claim_id, for_update=True)
        assert (step.step, step.fee) == (2, Decimal("7.50"))
        documents.issue_reminder(session, claim, step, route=RoutingDecision(Channel.EMAIL, EMAIL, "test: a fee reminder by e-mail"), now=utc(2027, 1, 11, 7), settings=settings)
    make_due(database)
    worker.drain()
    reminder2 = [d for d in rows(database, Document, Document.created_at) if d.kind == "reminder"][-1]
    fee_ogm = reminder2.meta["fee_structured_communication"]
    second = received(sink)
    text = second.get_body(("plain",)).get_content()
    html = second.get_body(("html",)).get_content()
    assert f"Bijkomende kosten:          €\u00a07,50, apart te betalen met mededeling +++{fee_ogm[:3]}/{fee_ogm[3:7]}/{fee_ogm[7:]}+++" in text
    assert f"apart te betalen met mededeling <strong style=\"font-family:Consolas,monospace;\">+++{fee_ogm[:3]}/{fee_ogm[3:7]}/{fee_ogm[7:]}+++</strong>" in html
    assert "Te betalen bedrag:          €\u00a045,00" in text  # the open balance stays under the claim's OGM
    assert "eerste herinnering" not in text and "volgen deze kosten" not in text  # no later fees after step 2
    assert len(sink.messages) == 3  # invoice, reminder 1, reminder 2
