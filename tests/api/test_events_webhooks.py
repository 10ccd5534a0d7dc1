"""Status events: the pull feed (`GET /v1/events`) and signed webhooks to a receiver on 127.0.0.1,
on SQLite and PostgreSQL, with the real worker."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import uuid
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sqlalchemy.exc
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import select

from gateway.app import create_app
from gateway.cli import main
from gateway.kit.time import utc_now
from gateway.services import webhook_endpoints, webhooks
from gateway.store.models import AuditEvent, Event, Job, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from gateway.workers.run import Worker
from tests.factories import bearer, claim_payload, seed_creditors


class Receiver:
    """An accounting package's webhook endpoint: verifies the signature, answers as scripted."""

    def __init__(self) -> None:
        self.secret = ""
        self.received: list[dict] = []
        self.answers: list[int] = []  # status codes for the next requests; 200 once exhausted
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                timestamp = self.headers["X-Gateway-Timestamp"]
                expected = hmac.new(receiver.secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
                valid = hmac.compare_digest(expected, self.headers["X-Gateway-Signature"])
                status = (receiver.answers.pop(0) if receiver.answers else 200) if valid else 401
                receiver.received.append({"event": json.loads(body), "valid": valid, "status": status, "event_id": self.headers["X-Gateway-Event-Id"]})
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    running = Receiver()
    yield running
    running.close()


@pytest.fixture
def world(database, settings, standards_dir):
    # No wait between webhook retries, so drain() runs the retry at once; three tries at most.
    settings = settings.model_copy(update={"standards_dir": standards_dir, "retry_base_seconds": 0, "max_attempts": 3})
    keys = seed_creditors(database)
    with TestClient(create_app(settings, database=database)) as client:
        yield keys, client, Worker(database, settings, name="t")


def issued_claim(client, worker, key: str, number: str) -> str:
    """A claim whose invoice is issued (one `document.issued` event)."""
    created = client.post("/v1/claims", json=claim_payload(number), headers=bearer(key))
    assert created.status_code == 201, created.text
    worker.drain()
    return created.json()["id"]


def pay(client, key: str, claim_id: str, amount: str = "1.00") -> None:
    response = client.post(f"/v1/claims/{claim_id}/payments", json={"amount": amount, "paid_on": "2026-11-20"}, headers=bearer(key))
    assert response.status_code == 201, response.text


def add_endpoint(database, receiver, code: str = "gent") -> WebhookEndpoint:
    with database.session_scope() as session:
        endpoint = webhook_endpoints.add_by_code(session, code, receiver.url, now=utc_now())
        session.expunge(endpoint)
    receiver.secret = endpoint.secret
    return endpoint


def deliveries(database) -> list[tuple[str, int, list[tuple[int, str, int | None]]]]:
    with database.session_scope() as session:
        rows = session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.created_at)).all()
        return [
            (row.state, row.attempt_count, [(a.number, a.outcome, a.status_code) for a in session.scalars(select(WebhookAttempt).where(WebhookAttempt.delivery_id == row.id).order_by(WebhookAttempt.number))])
            for row in rows
        ]


def test_events_are_paged_in_order_and_never_show_another_creditors(database, world):
    keys, client, worker = world
    claim_id = issued_claim(client, worker, keys.municipality_key, "E1")
    pay(client, keys.municipality_key, claim_id, "1.00")
    pay(client, keys.municipality_key, claim_id, "2.00")
    hospital_claim = issued_claim(client, worker, keys.hospital_key, "H1")
    pay(client, keys.hospital_key, hospital_claim, "5.00")

    first = client.get("/v1/events", params={"limit": 2}, headers=bearer(keys.municipality_key)).json()
    second = client.get("/v1/events", params={"limit": 2, "after": first["next_cursor"]}, headers=bearer(keys.municipality_key)).json()
    events = first["items"] + second["items"]
    assert [(e["type"], e["claim_id"], e["data"].get("amount")) for e in events] == [
        ("document.issued", claim_id, None), ("payment.recorded", claim_id, "1.00"), ("payment.recorded", claim_id, "2.00"),
    ]
    assert [len(first["items"]), len(second["items"])] == [2, 1]
    assert events[0]["data"]["number"] == "INV000001" and events[0]["data"]["action"] == "document.issued"
    # Polling with the last cursor returns nothing new, and keeps the cursor.
    empty = client.get("/v1/events", params={"after": second["next_cursor"]}, headers=bearer(keys.municipality_key)).json()
    assert empty == {"items": [], "next_cursor": second["next_cursor"]}

    hospital = client.get("/v1/events", headers=bearer(keys.hospital_key)).json()
    assert [(e["type"], e["claim_id"]) for e in hospital["items"]] == [("document.issued", hospital_claim), ("payment.recorded", hospital_claim)]
    assert client.get("/v1/events", headers=bearer(keys.ocmw_key)).json() == {"items": [], "next_cursor": None}
    bad = client.get("/v1/events", params={"after": "!!"}, headers=bearer(keys.municipality_key))
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")
    # 8 bytes above the signed 64-bit id range (found by the API fuzz test: it was a 500 on SQLite).
    huge = base64.urlsafe_b64encode((2**64 - 1).to_bytes(8, "big")).decode().rstrip("=")
    refused = client.get("/v1/events", params={"after": huge}, headers=bearer(keys.municipality_key))
    assert (refused.status_code, [(e["field"], e["rule"]) for e in refused.json()["errors"]]) == (422, [("after", "cursor.invalid")])


def test_a_webhook_is_delivered_signed_once(database, world, receiver):
    keys, client, worker = world
    claim_id = issued_claim(client, worker, keys.municipality_key, "W1")
    add_endpoint(database, receiver)
    pay(client, keys.municipality_key, claim_id, "3.00")
    worker.drain()

    [received] = receiver.received
    assert received["valid"] is True and received["status"] == 200
    assert (received["event"]["type"], received["event"]["claim_id"], received["event"]["data"]["amount"]) == ("payment.recorded", claim_id, "3.00")
    assert deliveries(database) == [("delivered", 1, [(1, "delivered", 200)])]

    # A repeated job (or a second worker) for the same delivery sends nothing again.
    with database.session_scope() as session:
        delivery_id = session.scalar(select(WebhookDelivery.id))
        event_id, endpoint_id = session.execute(select(WebhookDelivery.event_id, WebhookDelivery.endpoint_id)).one()
    assert webhooks.deliver(database, worker.settings, delivery_id) == "not_deliverable"
    assert len(receiver.received) == 1
    # And a second delivery of the same event to the same endpoint cannot exist.
    with pytest.raises(sqlalchemy.exc.IntegrityError):
        with database.session_scope() as session:
            session.add(WebhookDelivery(event_id=event_id, endpoint_id=endpoint_id, state="pending", attempt_count=0, created_at=utc_now()))
    assert len(receiver.received) == 1


def test_a_503_is_retried_and_then_delivered(database, world, receiver):
    keys, client, worker = world
    claim_id = issued_claim(client, worker, keys.municipality_key, "W2")
    add_endpoint(database, receiver)
    receiver.answers = [503]
    pay(client, keys.municipality_key, claim_id)
    worker.drain()

    assert [(r["status"], r["valid"]) for r in receiver.received] == [(503, True), (200, True)]
    assert receiver.received[0]["event_id"] == receiver.received[1]["event_id"]
    assert deliveries(database) == [("delivered", 2, [(1, "retrying", 503), (2, "delivered", 200)])]


def test_webhook_retries_wait_longer_after_each_failed_try(database, settings, standards_dir, receiver):
    # A real base (30 s): each retry waits base × 2^(n-1) after the n-th failed try, counted from its end.
    settings = settings.model_copy(update={"standards_dir": standards_dir, "retry_base_seconds": 30, "max_attempts": 4})
    keys = seed_creditors(database)
    worker = Worker(database, settings, name="t")
    with TestClient(create_app(settings, database=database)) as client:
        claim_id = issued_claim(client, worker, keys.municipality_key, "W5")
        add_endpoint(database, receiver)
        receiver.answers = [503, 429, 500]
        pay(client, keys.municipality_key, claim_id)
        delays = []
        for _ in range(4):
            worker.drain()
            with database.session_scope() as session:
                delivery = session.scalar(select(WebhookDelivery))
                if delivery.state == "retrying":
                    last = session.scalar(select(WebhookAttempt).where(WebhookAttempt.delivery_id == delivery.id, WebhookAttempt.number == delivery.attempt_count))
                    [job] = session.scalars(select(Job).where(Job.kind == webhooks.DELIVER, Job.state == "pending")).all()
                    assert (job.run_after, job.dedup_key) == (delivery.next_attempt_at, f"{webhooks.DELIVER}:{delivery.id}:{delivery.attempt_count + 1}")
                    delays.append((delivery.attempt_count, delivery.next_attempt_at - last.finished_at))
                    job.run_after = utc_now()  # due now: the test does not wait out the delay
    assert delays == [(1, timedelta(seconds=30)), (2, timedelta(seconds=60)), (3, timedelta(seconds=120))]
    assert [r["status"] for r in receiver.received] == [503, 429, 500, 200]
    assert deliveries(database) == [("delivered", 4, [(1, "retrying", 503), (2, "retrying", 429), (3, "retrying", 500), (4, "delivered", 200)])]


def test_a_400_fails_after_one_attempt(database, world, receiver):
    keys, client, worker = world
    claim_id = issued_claim(client, worker, keys.municipality_key, "W3")
    add_endpoint(database, receiver)
    receiver.answers = [400]
    pay(client, keys.municipality_key, claim_id)
    worker.drain()

    assert [r["status"] for r in receiver.received] == [400]
    assert deliveries(database) == [("failed", 1, [(1, "failed", 400)])]


def test_5xx_stops_after_max_attempts(database, world, receiver):
    keys, client, worker = world
    claim_id = issued_claim(client, worker, keys.municipality_key, "W4")
    add_endpoint(database, receiver)
    receiver.answers = [500, 502, 503, 200]
    pay(client, keys.municipality_key, claim_id)
    worker.drain()

    assert [r["status"] for r in receiver.received] == [500, 502, 503]
    assert deliveries(database) == [("failed", 3, [(1, "retrying", 500), (2, "retrying", 502), (3, "failed", 503)])]


def test_only_the_creditors_active_endpoints_get_its_events(database, world, receiver):
    keys, client, worker = world
    hospital_claim = issued_claim(client, worker, keys.hospital_key, "H2")
    add_endpoint(database, receiver, "gent")
    paused = add_endpoint(database, receiver, "az-sint-jan")
    with database.session_scope() as session:
        session.get(WebhookEndpoint, paused.id).active = False
    pay(client, keys.hospital_key, hospital_claim)
    worker.drain()
    assert receiver.received == [] and deliveries(database) == []
    with database.session_scope() as session:
        assert session.scalars(select(Event.type).order_by(Event.id)).all() == ["document.issued", "payment.recorded"]


def test_cli_adds_an_endpoint_and_prints_its_secret_once(database, cli_database):
    seed_creditors(database)
    result = CliRunner().invoke(main, ["webhooks", "add", "gent", "https://erp.example/hooks"])
    missing = CliRunner().invoke(main, ["webhooks", "add", "nope", "https://erp.example/hooks"])
    assert result.exit_code == 0, result.output
    with database.session_scope() as session:
        [endpoint] = session.scalars(select(WebhookEndpoint)).all()
        assert (endpoint.url, endpoint.active, len(endpoint.secret)) == ("https://erp.example/hooks", True, 64)
        assert result.output.count(endpoint.secret) == 1
    assert missing.exit_code == 1 and "no creditor entity with code nope" in missing.output


# --- endpoint management: API and CLI -------------------------------------------------------------


def audit_trail(database, endpoint_id) -> list[tuple[str, str]]:
    with database.session_scope() as session:
        return [(e.action, e.actor) for e in session.scalars(select(AuditEvent).where(AuditEvent.entity_id == uuid.UUID(str(endpoint_id))).order_by(AuditEvent.id))]


def test_a_key_manages_its_own_endpoints_and_a_disabled_one_gets_nothing(database, world, receiver):
    keys, client, worker = world
    claim_id = issued_claim(client, worker, keys.municipality_key, "M1")
    own = bearer(keys.municipality_key)
    created = client.post("/v1/webhook-endpoints", json={"url": receiver.url}, headers=own)
    assert created.status_code == 201, created.text
    endpoint = created.json()
    receiver.secret = endpoint.pop("secret")
    assert len(receiver.secret) == 64 and endpoint["created_at"] == endpoint["updated_at"]
    assert {k: v for k, v in endpoint.items() if k not in ("id", "created_at", "updated_at")} == {"creditor": "gent", "url": receiver.url, "active": True, "removed_at": None}
    listed = client.get("/v1/webhook-endpoints", headers=own).json()
    assert listed == {"items": [endpoint]}  # the secret is shown once, never listed

    disabled = client.post(f"/v1/webhook-endpoints/{endpoint['id']}/disable", headers=own)
    assert (disabled.status_code, disabled.json()["active"]) == (200, False)
    pay(client, keys.municipality_key, claim_id, "1.00")
    worker.drain()
    assert receiver.received == [] and deliveries(database) == []  # a disabled endpoint gets no delivery

    enabled = client.post(f"/v1/webhook-endpoints/{endpoint['id']}/enable", headers=own)
    assert (enabled.status_code, enabled.json()["active"]) == (200, True)
    pay(client, keys.municipality_key, claim_id, "2.00")
    worker.drain()
    assert [(r["valid"], r["event"]["data"]["amount"]) for r in receiver.received] == [(True, "2.00")]  # from the next event on

    assert client.delete(f"/v1/webhook-endpoints/{endpoint['id']}", headers=own).status_code == 204
    assert client.get("/v1/webhook-endpoints", headers=own).json() == {"items": []}
    for method, path in [("DELETE", ""), ("POST", "/enable"), ("POST", "/disable")]:
        gone = client.request(method, f"/v1/webhook-endpoints/{endpoint['id']}{path}", headers=own)
        assert (gone.status_code, gone.json()["type"]) == (404, "https://gateway.example/problems/not-found")
    pay(client, keys.municipality_key, claim_id, "3.00")
    worker.drain()
    assert len(receiver.received) == 1
    prefix = keys.municipality_key.split("_")[1]
    assert audit_trail(database, endpoint["id"]) == [(action, f"api_key:{prefix}") for action in (
        "webhook_endpoint.added", "webhook_endpoint.disabled", "webhook_endpoint.enabled", "webhook_endpoint.removed")]
    with database.session_scope() as session:
        [row] = session.scalars(select(WebhookEndpoint)).all()
        assert (row.active, row.removed_at is not None) == (False, True)  # removed, kept for its delivery history


def test_endpoints_are_isolated_per_creditor_and_refuse_bad_input(database, world):
    keys, client, _ = world
    family = client.post("/v1/webhook-endpoints", json={"url": "https://erp.example/ocmw", "creditor": "ocmw-gent"}, headers=bearer(keys.municipality_family_key))
    assert (family.status_code, family.json()["creditor"]) == (201, "ocmw-gent")
    ocmw_id = family.json()["id"]
    hospital = client.post("/v1/webhook-endpoints", json={"url": "https://his.example/hooks"}, headers=bearer(keys.hospital_key)).json()
    # The OCMW's own key and the family key see the OCMW endpoint; the municipality's plain key and the hospital do not.
    seen = {name: [e["id"] for e in client.get("/v1/webhook-endpoints", headers=bearer(key)).json()["items"]]
            for name, key in [("ocmw", keys.ocmw_key), ("family", keys.municipality_family_key), ("gent", keys.municipality_key), ("hospital", keys.hospital_key)]}
    assert seen == {"ocmw": [ocmw_id], "family": [ocmw_id], "gent": [], "hospital": [hospital["id"]]}
    for method, path in [("DELETE", ""), ("POST", "/disable"), ("POST", "/enable")]:
        assert client.request(method, f"/v1/webhook-endpoints/{ocmw_id}{path}", headers=bearer(keys.hospital_key)).status_code == 404
    stolen = client.post("/v1/webhook-endpoints", json={"url": "https://x.example/h", "creditor": "gent"}, headers=bearer(keys.ocmw_key))
    assert (stolen.status_code, [(e["field"], e["rule"]) for e in stolen.json()["errors"]]) == (422, [("creditor", "creditor.unknown")])
    for url, rule in [("ftp://erp.example/hooks", "url.scheme"), ("https://", "url.invalid"), ("https://erp.example/a b", "url.invalid")]:
        refused = client.post("/v1/webhook-endpoints", json={"url": url}, headers=bearer(keys.hospital_key))
        assert (refused.status_code, [(e["field"], e["rule"]) for e in refused.json()["errors"]]) == (422, [("url", rule)]), url
    with database.session_scope() as session:
        assert sorted(session.scalars(select(WebhookEndpoint.url))) == ["https://erp.example/ocmw", "https://his.example/hooks"]
        assert session.get(WebhookEndpoint, uuid.UUID(ocmw_id)).active is True


def test_deliveries_waiting_for_an_endpoint_that_is_disabled_are_cancelled(database, world, receiver):
    keys, client, worker = world
    claim_id = issued_claim(client, worker, keys.municipality_key, "M2")
    endpoint = add_endpoint(database, receiver)
    pay(client, keys.municipality_key, claim_id)  # a delivery and its job are queued now
    assert client.post(f"/v1/webhook-endpoints/{endpoint.id}/disable", headers=bearer(keys.municipality_key)).status_code == 200
    worker.drain()
    assert receiver.received == []
    assert deliveries(database) == [("cancelled", 0, [])]  # no request, so no attempt row
    with database.session_scope() as session:
        assert session.scalar(select(WebhookDelivery.last_error)) == "endpoint disabled"


def test_cli_lists_disables_enables_and_removes_endpoints(database, cli_database):
    seed_creditors(database)
    runner = CliRunner()
    runner.invoke(main, ["webhooks", "add", "gent", "https://erp.example/gent"])
    runner.invoke(main, ["webhooks", "add", "az-sint-jan", "https://his.example/hooks"])
    with database.session_scope() as session:
        ids = {e.url: str(e.id) for e in session.scalars(select(WebhookEndpoint))}
    gent, hospital = ids["https://erp.example/gent"], ids["https://his.example/hooks"]
    disabled = runner.invoke(main, ["webhooks", "disable", gent])
    listed = runner.invoke(main, ["webhooks", "list"])
    only_gent = runner.invoke(main, ["webhooks", "list", "gent", "--json"])
    enabled = runner.invoke(main, ["webhooks", "enable", gent])
    removed = runner.invoke(main, ["webhooks", "remove", hospital])
    after = runner.invoke(main, ["webhooks", "list"])
    with_removed = runner.invoke(main, ["webhooks", "list", "--all"])
    unknown = runner.invoke(main, ["webhooks", "disable", str(uuid.uuid4())])
    again = runner.invoke(main, ["webhooks", "enable", hospital])
    assert (disabled.exit_code, disabled.output) == (0, f"webhook endpoint {gent} disabled: https://erp.example/gent\n")
    assert listed.output == f"{gent}  gent  disabled  https://erp.example/gent\n{hospital}  az-sint-jan  active  https://his.example/hooks\n"
    [row] = json.loads(only_gent.output)
    assert (row["id"], row["creditor"], row["url"], row["active"], row["removed_at"], "secret" in row) == (gent, "gent", "https://erp.example/gent", False, None, False)
    assert (enabled.exit_code, removed.exit_code) == (0, 0)
    assert after.output == f"{gent}  gent  active  https://erp.example/gent\n"
    assert with_removed.output == f"{gent}  gent  active  https://erp.example/gent\n{hospital}  az-sint-jan  removed  https://his.example/hooks\n"
    assert unknown.exit_code == 1 and "no webhook endpoint" in unknown.output
    assert again.exit_code == 1 and f"no webhook endpoint {hospital}" in again.output  # removed is for good
    assert [action for action, _ in audit_trail(database, gent)] == ["webhook_endpoint.added", "webhook_endpoint.disabled", "webhook_endpoint.enabled"]
