"""Participant discovery before routing (SQLite and PostgreSQL, loopback DNS + signed SMP, sandbox AP):
a business debtor with only an enterprise number and/or a VAT number is looked up (0208 before 9925)
by `claim.issue`, and each of the four outcomes routes the claim as it should."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from gateway.peppol.sandbox_smp import DEFAULT_AP_ENDPOINT, PeppolSandbox, SandboxParticipant
from gateway.peppol.sml import sml_hostname
from gateway.store.models import AuditEvent, Claim, Debtor, Document, Job
from tests.factories import claim_payload, seed_creditors
from tests.peppol.fixtures_discovery import test_pki, untrusted_pki  # noqa: F401 - fixtures
from tests.peppol.peppol_world import World, create, dispatches, make_due, settle

FOUND_0208 = "0420000102"  # registered as 0208:...; the sandbox AP answers delivered + MLR AP (digit 2)
VAT_ONLY = "0420001090"  # registered only as 9925:be...; the sandbox AP answers accepted (digit 0)
NOT_REGISTERED = "0420000201"  # nowhere
NOT_REGISTERED_NO_EMAIL = "0420000991"
CREDIT_NOTES_ONLY = "0420000397"  # registered as 0208:..., but the SMP lists credit notes only
SMP_DOWN = "0420000496"  # the SMP answers HTTP 500 (until a test repairs it)
DNS_DOWN = "0420000595"  # the SML's DNS answers SERVFAIL
PARTICIPANTS = (
    SandboxParticipant(f"0208:{FOUND_0208}"),
    SandboxParticipant(f"9925:be{VAT_ONLY}"),
    SandboxParticipant(f"0208:{CREDIT_NOTES_ONLY}", document_types=("credit-note",)),
    SandboxParticipant(f"0208:{SMP_DOWN}", smp_status=500),
    SandboxParticipant(f"0208:{DNS_DOWN}", dns_ok=False),
)


@pytest.fixture
def world(database, settings, standards_dir, test_pki, untrusted_pki):  # noqa: F811
    settings = settings.model_copy(update={"standards_dir": standards_dir, "max_attempts": 3, "retry_base_seconds": 30})
    keys = seed_creditors(database)
    with PeppolSandbox(PARTICIPANTS, pki=test_pki, untrusted_pki=untrusted_pki) as smp:
        running = World(database, settings, keys, smp, test_pki)
        yield running
        running.stop()


def business(number: str, *, enterprise_number: str | None = None, vat_number: str | None = None, email: bool = True) -> dict:
    """A claim whose business debtor has no Peppol id, only the identifiers given."""
    payload = claim_payload(number)
    payload["debtor"] = {
        **payload["debtor"], "external_id": f"D-{number}", "enterprise_number": enterprise_number, "vat_number": vat_number, "peppol_id": None,
        "contacts": [{"kind": "email", "value": f"boekhouding-{number.lower()}@example.be"}] if email else [],
    }
    return payload


def history(database, number: str) -> list[tuple[str, dict]]:
    with database.session_scope() as session:
        claim = session.scalar(select(Claim).where(Claim.number == number))
        return [(e.action, e.data) for e in session.scalars(select(AuditEvent).where(AuditEvent.entity_id == claim.id).order_by(AuditEvent.id))]


def debtor_of(database, number: str) -> Debtor:
    with database.session_scope() as session:
        claim = session.scalar(select(Claim).where(Claim.number == number))
        return session.get(Debtor, claim.debtor_id)


def test_a_debtor_found_under_0208_goes_over_peppol_and_the_id_is_recorded(database, world):
    ap = world.start_ap(callback_url=None)
    ap.callback_url = world.serve()
    create(world, business("L-0208", enterprise_number=FOUND_0208))
    settle(world)
    [dispatch] = dispatches(database)
    found = f"0208:{FOUND_0208}"
    reason = f"Peppol participant {found} found by SML/SMP lookup (smp.endpoint_found; asked {found})"
    assert (dispatch.channel, dispatch.recipient, dispatch.state, dispatch.routing_reason) == ("peppol", found, "delivered", reason)
    debtor = debtor_of(database, "L-0208")
    assert debtor.peppol_id == found
    with database.session_scope() as session:
        [recorded] = session.scalars(select(AuditEvent).where(AuditEvent.entity_id == debtor.id, AuditEvent.action == "debtor.peppol_id_found")).all()
        claim_id = session.scalar(select(Claim.id).where(Claim.number == "L-0208"))
        invoice = session.scalar(select(Document))
    assert (recorded.actor, recorded.entity_type, recorded.data) == ("worker", "debtor", {
        "peppol_id": found, "tried": [found], "rule": "smp.endpoint_found", "smp_url": world.smp.smp.base_url,
        "endpoint": DEFAULT_AP_ENDPOINT, "claim_id": str(claim_id),
    })
    routed = dict(history(database, "L-0208"))["claim.routed"]
    assert routed == {"channel": "peppol", "recipient": found, "reason": reason,
                      "peppol_lookup": {"outcome": "reachable", "rule": "smp.endpoint_found", "tried": [found], "attempts": 1}}
    assert b'<cbc:EndpointID schemeID="0208">0420000102</cbc:EndpointID>' in invoice.content
    # 0208 answered, so 9925 was never asked; the send reused the cached answer (one DNS query in all).
    assert world.smp.dns.queries == [sml_hostname(found, world.smp.zone)]
    assert ap.requests == 1


def test_a_debtor_with_only_a_vat_number_is_found_under_9925_after_0208(database, world):
    ap = world.start_ap(callback_url=None)
    ap.callback_url = world.serve()
    create(world, business("L-9925", vat_number=f"BE{VAT_ONLY}"))
    settle(world)
    [dispatch] = dispatches(database)
    found, first = f"9925:be{VAT_ONLY}", f"0208:{VAT_ONLY}"
    assert (dispatch.channel, dispatch.recipient, dispatch.state, dispatch.routing_reason) == (
        "peppol", found, "accepted", f"Peppol participant {found} found by SML/SMP lookup (smp.endpoint_found; asked {first}, {found})")
    assert debtor_of(database, "L-9925").peppol_id == found
    assert world.smp.dns.queries == [sml_hostname(first, world.smp.zone), sml_hostname(found, world.smp.zone)]


def test_final_negative_answers_route_to_email_or_paper_and_say_why(database, world):
    ap = world.start_ap(callback_url=None)
    create(world, business("L-NONE", enterprise_number=NOT_REGISTERED, vat_number=f"BE{NOT_REGISTERED}"))
    create(world, business("L-CN", enterprise_number=CREDIT_NOTES_ONLY))
    create(world, business("L-PAPER", enterprise_number=NOT_REGISTERED_NO_EMAIL, email=False))
    world.worker.drain()
    rows = {(d.channel, d.recipient): d.routing_reason for d in dispatches(database)}
    assert rows == {
        ("email", "boekhouding-l-none@example.be"):
            f"not on Peppol (not_registered: sml.not_registered; asked 0208:{NOT_REGISTERED}, 9925:be{NOT_REGISTERED}): e-mail with PDF and UBL",
        ("email", "boekhouding-l-cn@example.be"):
            f"not on Peppol (document_type_not_supported: smp.document_type_not_listed; asked 0208:{CREDIT_NOTES_ONLY}, 9925:be{CREDIT_NOTES_ONLY}): e-mail with PDF and UBL",
        ("paper", "Markt 1, 9000 Gent, BE"):
            f"not on Peppol (not_registered: sml.not_registered; asked 0208:{NOT_REGISTERED_NO_EMAIL}, 9925:be{NOT_REGISTERED_NO_EMAIL}) and no usable e-mail: paper",
    }
    assert dict(history(database, "L-CN"))["claim.routed"]["peppol_lookup"] == {
        "outcome": "document_type_not_supported", "rule": "smp.document_type_not_listed",
        "tried": [f"0208:{CREDIT_NOTES_ONLY}", f"9925:be{CREDIT_NOTES_ONLY}"], "attempts": 1}
    assert [debtor_of(database, n).peppol_id for n in ("L-NONE", "L-CN", "L-PAPER")] == [None, None, None]
    assert ap.requests == 0


def deferrals(database) -> list[tuple[int, timedelta, int]]:
    """(failed try, delay until the next one, the try its claim.issue job is for), per deferral recorded on a claim."""
    with database.session_scope() as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.action == "claim.routing_deferred").order_by(AuditEvent.id)).all()
        jobs = {job.payload["lookup_attempt"]: job for job in session.scalars(select(Job).where(Job.kind == "claim.issue", Job.dedup_key.like("%:lookup:%")))}
        return [(e.data["attempt"], datetime.fromisoformat(e.data["next_try_at"]) - e.at, jobs[e.data["attempt"] + 1].payload["lookup_attempt"]) for e in events]


def test_a_failed_lookup_is_retried_later_not_taken_for_an_answer(database, world):
    world.start_ap(callback_url=None)
    create(world, business("L-RETRY", enterprise_number=SMP_DOWN))
    world.worker.drain()
    assert dispatches(database) == []
    with database.session_scope() as session:
        assert session.scalar(select(Document)) is None  # nothing issued while the route is open
    [(action, deferred)] = [entry for entry in history(database, "L-RETRY") if entry[0] == "claim.routing_deferred"]
    detail = deferred.pop("detail")
    next_try = deferred["next_try_at"]
    assert deferred == {
        "reason": f"Peppol lookup failed (smp.http_500): routed again at {next_try}", "rule": "smp.http_500",
        "tried": [f"0208:{SMP_DOWN}", f"9925:be{SMP_DOWN}"], "attempt": 1, "max_attempts": 3, "next_try_at": next_try,
    }
    assert detail.startswith(f"SMP answered HTTP 500 for {world.smp.smp.base_url}/iso6523-actorid-upis%3A%3A0208%3A{SMP_DOWN}")
    assert deferrals(database) == [(1, timedelta(seconds=30), 2)]
    with database.session_scope() as session:
        [retry] = session.scalars(select(Job).where(Job.dedup_key.like("%:lookup:2"))).all()
        assert (retry.state, retry.run_after) == ("pending", datetime.fromisoformat(next_try))
    # The SMP is back: the next try finds the participant and the claim goes over Peppol.
    world.smp.smp.participants[f"0208:{SMP_DOWN}"] = SandboxParticipant(f"0208:{SMP_DOWN}")
    make_due(database)
    world.worker.drain()
    [dispatch] = dispatches(database)
    assert (dispatch.channel, dispatch.recipient, dispatch.state) == ("peppol", f"0208:{SMP_DOWN}", "sent")
    assert [action for action, _ in history(database, "L-RETRY")] == [
        "claim.created", "claim.routing_deferred", "claim.routed", "document.issued"]
    assert dict(history(database, "L-RETRY"))["claim.routed"]["peppol_lookup"]["attempts"] == 2


def test_after_the_attempt_limit_a_failing_lookup_falls_back_and_says_so(database, world):
    world.start_ap(callback_url=None)
    create(world, business("L-DNS", enterprise_number=DNS_DOWN))
    for _ in range(3):
        world.worker.drain()
        make_due(database)
    # Two deferrals (30 s, then 60 s: 30 s × 2^(n-1)), then the third failure routes without Peppol.
    assert deferrals(database) == [(1, timedelta(seconds=30), 2), (2, timedelta(seconds=60), 3)]
    [dispatch] = dispatches(database)
    assert (dispatch.channel, dispatch.recipient, dispatch.routing_reason) == (
        "email", "boekhouding-l-dns@example.be",
        f"Peppol lookup failed 3 times (sml.dns_no_server; asked 0208:{DNS_DOWN}, 9925:be{DNS_DOWN}): e-mail with PDF and UBL")
    assert [action for action, _ in history(database, "L-DNS")] == [
        "claim.created", "claim.routing_deferred", "claim.routing_deferred", "claim.routed", "document.issued"]
    assert debtor_of(database, "L-DNS").peppol_id is None
