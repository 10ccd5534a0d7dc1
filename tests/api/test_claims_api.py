"""The claims API end to end over HTTP (TestClient), on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from gateway.app import create_app
from gateway.store.models import AuditEvent, Claim, ClaimLine, Debtor, IdempotencyRecord, Job, Payment
from tests.factories import bearer, claim_payload, consumer_claim, seed_creditors


@pytest.fixture
def seeded(database):
    return seed_creditors(database)


@pytest.fixture
def client(settings, database):
    with TestClient(create_app(settings, database=database)) as test_client:
        yield test_client


def count(database, model) -> int:
    with database.session_scope() as session:
        return session.scalar(select(func.count()).select_from(model))


def post_claim(client, key, payload, **headers):
    return client.post("/v1/claims", content=json.dumps(payload), headers={**bearer(key), "Content-Type": "application/json", **headers})


def test_create_claim_stores_it_whole_with_exact_totals_and_an_assigned_ogm(client, seeded, database):
    response = post_claim(client, seeded.municipality_key, claim_payload())
    assert response.status_code == 201, response.text
    body = response.json()
    # 3 x 0.333 = 0.999 -> 1.00 at 21 % (VAT 0.21); 1 x 100.00 at 6 % (VAT 6.00)
    assert (body["total_net"], body["total_vat"], body["total_amount"], body["amount_open"]) == ("101.00", "6.21", "107.21", "107.21")
    assert body["status"] == "open"
    assert body["creditor"] == "gent"
    ogm = body["structured_communication"]
    digits = ogm.strip("+").replace("/", "")
    assert ogm.startswith("+++") and len(digits) == 12 and int(digits[:10]) % 97 in (int(digits[10:]), 0 if digits[10:] == "97" else -1)
    assert body["warnings"] == []
    assert count(database, Claim) == 1 and count(database, ClaimLine) == 2 and count(database, Debtor) == 1
    with database.session_scope() as session:
        job = session.scalar(select(Job))
        assert (job.kind, job.payload, job.state) == ("claim.issue", {"claim_id": body["id"]}, "pending")

    detail = client.get(f"/v1/claims/{body['id']}", headers=bearer(seeded.municipality_key)).json()
    assert [line["net_amount"] for line in detail["lines"]] == ["1.00", "100.00"]
    assert detail["debtor"]["name"] == "Bakkerij Janssens BV"
    assert [event["action"] for event in detail["history"]] == ["claim.created"]
    assert detail["documents"] == [] and detail["dispatches"] == [] and detail["payments"] == []


def test_given_structured_communication_is_kept_and_an_invalid_one_refused(client, seeded, database):
    ok = post_claim(client, seeded.municipality_key, claim_payload(structured_communication="+++010/8068/17183+++"))
    assert ok.status_code == 201
    assert ok.json()["structured_communication"] == "+++010/8068/17183+++"

    bad = post_claim(client, seeded.municipality_key, claim_payload("F2", structured_communication="+++010/8068/17184+++"))
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "application/problem+json"
    assert [(e["field"], e["rule"]) for e in bad.json()["errors"]] == [("structured_communication", "ogm.checksum")]

    reused = post_claim(client, seeded.municipality_key, claim_payload("F3", structured_communication="010806817183"))
    assert reused.status_code == 422
    assert [(e["field"], e["rule"]) for e in reused.json()["errors"]] == [("structured_communication", "ogm.in_use")]
    assert count(database, Claim) == 1


@pytest.mark.parametrize(
    ("mutate", "field", "rule"),
    [
        (lambda p: p["debtor"].update(vat_number="BE0403019262"), "debtor.vat_number", "vat_number.invalid"),
        (lambda p: p["debtor"].update(enterprise_number="0403019262"), "debtor.enterprise_number", "enterprise_number.invalid"),
        (lambda p: p["debtor"].update(national_register_number="85073003329"), "debtor.national_register_number", "national_register_number.invalid"),
        (lambda p: p["debtor"].update(peppol_id="0208-0403019261"), "debtor.peppol_id", "peppol_id.format"),
        (lambda p: p.update(currency="USD"), "currency", "currency.not_allowed"),
        (lambda p: p.update(currency="euro"), "currency", "string_pattern_mismatch"),
        (lambda p: p.update(creditor="no-such-entity"), "creditor", "creditor.unknown"),
        (lambda p: p.update(creditor="az-sint-jan"), "creditor", "creditor.unknown"),
        (lambda p: p.update(due_date="2026-10-01"), "body", "claim.due_before_issue"),
        (lambda p: p["lines"][0].update(unit_price="-1"), "lines.0.unit_price", "greater_than_equal"),
        (lambda p: p["lines"][0].update(vat_category="S", vat_rate="0"), "lines.0", "vat.standard_rate"),
        (lambda p: p["lines"][0].update(vat_category="E", vat_rate="0"), "lines.0", "vat.exemption_reason"),
        (lambda p: p["lines"][1].update(quantity="1.00001"), "lines.1.quantity", "decimal_max_places"),
        (lambda p: p.update(lines=[]), "lines", "too_short"),
        (lambda p: p.pop("issue_date"), "issue_date", "missing"),
        (lambda p: p["debtor"].update(enterprise_number=None, vat_number=None, peppol_id=None), "debtor", "debtor.business_identifier"),
        (lambda p: p.update(surprise="field"), "surprise", "extra_forbidden"),
    ],
)
def test_bad_input_is_a_problem_naming_field_and_rule_and_stores_nothing(client, seeded, database, mutate, field, rule):
    payload = claim_payload()
    mutate(payload)
    response = post_claim(client, seeded.municipality_key, payload)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    assert problem["status"] == 422 and problem["type"].endswith("/invalid-input")
    assert [(e["field"], e["rule"]) for e in problem["errors"]] == [(field, rule)]
    assert count(database, Claim) == 0 and count(database, Debtor) == 0 and count(database, Job) == 0 and count(database, AuditEvent) == 0


def test_malformed_json_unknown_key_and_oversized_body(client, seeded, database):
    malformed = client.post("/v1/claims", content=b'{"number": ', headers={**bearer(seeded.municipality_key), "Content-Type": "application/json"})
    assert malformed.status_code == 400
    assert malformed.json()["errors"][0]["rule"] == "json_invalid"

    unauthorised = post_claim(client, "gw_nope_nope", claim_payload())
    assert unauthorised.status_code == 401
    assert unauthorised.headers["content-type"] == "application/problem+json"
    missing = client.post("/v1/claims", json=claim_payload())
    assert missing.status_code == 401

    huge = client.post("/v1/claims", content=b"x" * (10 * 1024 * 1024), headers={**bearer(seeded.municipality_key), "Content-Type": "application/json"})
    assert huge.status_code == 413
    assert huge.json()["title"] == "Request body too large"
    assert count(database, Claim) == 0


def test_revoked_key_is_refused(client, seeded, database):
    from gateway.kit.time import utc_now
    from gateway.services import auth

    with database.session_scope() as session:
        auth.revoke_key(session, seeded.ocmw_key.split("_")[1], now=utc_now())
    assert post_claim(client, seeded.ocmw_key, claim_payload()).status_code == 401


def test_duplicate_number_is_a_conflict(client, seeded, database):
    assert post_claim(client, seeded.municipality_key, claim_payload("N1")).status_code == 201
    again = post_claim(client, seeded.municipality_key, claim_payload("N1"))
    assert again.status_code == 409
    assert again.json()["errors"] == [{"field": "number", "rule": "claim.number_exists", "message": "claim numbers are unique per creditor entity"}]
    # The same number at another creditor is another claim.
    assert post_claim(client, seeded.hospital_key, claim_payload("N1")).status_code == 201
    assert count(database, Claim) == 2


def test_idempotency_key_replays_the_first_response_and_refuses_another_body(client, seeded, database):
    first = post_claim(client, seeded.municipality_key, claim_payload("I1"), **{"Idempotency-Key": "k-1"})
    replay = post_claim(client, seeded.municipality_key, claim_payload("I1"), **{"Idempotency-Key": "k-1"})
    assert first.status_code == replay.status_code == 201
    assert replay.json() == first.json()
    assert replay.headers["Idempotent-Replayed"] == "true"
    other = post_claim(client, seeded.municipality_key, claim_payload("I2"), **{"Idempotency-Key": "k-1"})
    assert other.status_code == 409
    assert other.json()["errors"][0]["rule"] == "idempotency.key_reused"
    assert count(database, Claim) == 1 and count(database, IdempotencyRecord) == 1


def test_email_typo_is_stored_as_given_with_a_warning(client, seeded, database):
    response = post_claim(client, seeded.municipality_key, consumer_claim("C1", email="an.peeters@hotmial.com"))
    assert response.status_code == 201
    assert response.json()["warnings"] == [
        {"field": "debtor.contacts.0.value", "rule": "email.likely_typo", "message": "did you mean an.peeters@hotmail.com? stored as given: an.peeters@hotmial.com", "suggestion": "an.peeters@hotmail.com"}
    ]
    debtor_id = response.json()["debtor_id"]
    debtor = client.get(f"/v1/debtors/{debtor_id}", headers=bearer(seeded.municipality_key)).json()
    assert debtor["contacts"] == [{"kind": "email", "value": "an.peeters@hotmial.com", "validity": "unverified", "validity_reason": None}]
    assert debtor["consents"] == [{"channel": "email", "given": True, "date": "2026-01-15", "source": "portal"}]


def test_keys_see_only_their_creditor_and_children_where_configured(client, seeded):
    own = post_claim(client, seeded.ocmw_key, claim_payload("O1")).json()
    by_family = post_claim(client, seeded.municipality_family_key, claim_payload("O2", creditor="ocmw-gent"))
    assert by_family.status_code == 201 and by_family.json()["creditor"] == "ocmw-gent"
    # The municipality's own key has no children configured: the OCMW's claim is not there.
    assert client.get(f"/v1/claims/{own['id']}", headers=bearer(seeded.municipality_key)).status_code == 404
    assert client.get(f"/v1/claims/{own['id']}", headers=bearer(seeded.hospital_key)).status_code == 404
    assert client.get(f"/v1/claims/{own['id']}", headers=bearer(seeded.municipality_family_key)).status_code == 200
    assert client.get(f"/v1/debtors/{own['debtor_id']}", headers=bearer(seeded.hospital_key)).status_code == 404
    assert client.post(f"/v1/claims/{own['id']}/cancel", json={"reason": "x"}, headers=bearer(seeded.hospital_key)).status_code == 404
    family_list = client.get("/v1/claims", headers=bearer(seeded.municipality_family_key)).json()
    assert sorted(item["number"] for item in family_list["items"]) == ["O1", "O2"]
    assert client.get("/v1/claims", headers=bearer(seeded.hospital_key)).json()["items"] == []


def test_list_filters_and_cursor_pagination(client, seeded):
    for index in range(7):
        payload = claim_payload(f"L{index}", due_date=f"2026-12-{index + 10:02d}")
        assert post_claim(client, seeded.municipality_key, payload).status_code == 201
    pages, cursor = [], None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/claims", params=params, headers=bearer(seeded.municipality_key)).json()
        pages.append([item["number"] for item in page["items"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == [["L0", "L1", "L2"], ["L3", "L4", "L5"], ["L6"]]
    due = client.get("/v1/claims", params={"due_before": "2026-12-12"}, headers=bearer(seeded.municipality_key)).json()
    assert [item["number"] for item in due["items"]] == ["L0", "L1"]
    bad_cursor = client.get("/v1/claims", params={"cursor": "!!"}, headers=bearer(seeded.municipality_key))
    assert bad_cursor.status_code == 422 and bad_cursor.json()["errors"][0]["rule"] == "cursor.invalid"


def test_payments_move_the_status_through_the_transition_table(client, seeded, database):
    claim = post_claim(client, seeded.municipality_key, claim_payload("P1")).json()
    url, headers = f"/v1/claims/{claim['id']}/payments", bearer(seeded.municipality_key)
    first = client.post(url, json={"amount": "7.21", "paid_on": "2026-11-20", "external_id": "bank-1", "source": "bank_statement"}, headers=headers)
    assert first.status_code == 201
    assert (first.json()["claim"]["status"], first.json()["claim"]["amount_open"]) == ("partially_paid", "100.00")
    repeat = client.post(url, json={"amount": "7.21", "paid_on": "2026-11-20", "external_id": "bank-1", "source": "bank_statement"}, headers=headers)
    assert repeat.status_code == 200 and repeat.json()["claim"]["amount_open"] == "100.00"
    too_much = client.post(url, json={"amount": "100.01", "paid_on": "2026-11-21"}, headers=headers)
    assert too_much.status_code == 422 and too_much.json()["errors"][0]["rule"] == "payment.exceeds_open_amount"
    rest = client.post(url, json={"amount": "100.00", "paid_on": "2026-11-22"}, headers=headers)
    assert rest.json()["claim"]["status"] == "paid"
    assert count(database, Payment) == 2
    # paid is terminal: cancelling is an illegal transition and changes nothing
    cancel = client.post(f"/v1/claims/{claim['id']}/cancel", json={"reason": "oops"}, headers=headers)
    assert cancel.status_code == 409 and cancel.json()["title"] == "Illegal state transition"
    detail = client.get(f"/v1/claims/{claim['id']}", headers=headers).json()
    assert detail["status"] == "paid"
    assert [event["action"] for event in detail["history"]] == ["claim.created", "payment.recorded", "payment.recorded"]


def test_cancel_then_no_more_payments(client, seeded):
    claim = post_claim(client, seeded.municipality_key, claim_payload("X1")).json()
    headers = bearer(seeded.municipality_key)
    cancelled = client.post(f"/v1/claims/{claim['id']}/cancel", json={"reason": "issued twice"}, headers=headers)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    payment = client.post(f"/v1/claims/{claim['id']}/payments", json={"amount": "1.00", "paid_on": "2026-11-22"}, headers=headers)
    assert payment.status_code == 409


def test_patch_debtor_updates_contacts_consents_and_audits(client, seeded, database):
    claim = post_claim(client, seeded.municipality_key, consumer_claim("D1")).json()
    url, headers = f"/v1/debtors/{claim['debtor_id']}", bearer(seeded.municipality_key)
    patched = client.patch(url, json={"language": "fr", "contacts": [{"kind": "email", "value": "an@gmal.com"}, {"kind": "phone", "value": "+32470123456"}], "consents": [{"channel": "sms", "given": True, "date": "2026-11-20", "source": "counter"}]}, headers=headers)
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["language"] == "fr"
    assert [(c["kind"], c["value"]) for c in body["contacts"]] == [("email", "an@gmal.com"), ("phone", "+32470123456")]
    assert [(c["channel"], c["given"]) for c in body["consents"]] == [("email", True), ("sms", True)]
    assert body["warnings"][0]["suggestion"] == "an@gmail.com"
    with database.session_scope() as session:
        actions = session.scalars(select(AuditEvent.action).where(AuditEvent.entity_type == "debtor").order_by(AuditEvent.id)).all()
    assert actions == ["debtor.created", "contact.added", "consent.recorded", "debtor.updated", "contact.removed", "contact.added", "contact.added", "consent.recorded"]
    bad = client.patch(url, json={"contacts": [{"kind": "phone", "value": "call me"}]}, headers=headers)
    assert bad.status_code == 422 and bad.json()["errors"][0]["rule"] == "phone.format"


def test_batch_accepts_and_refuses_each_item_on_its_own(client, seeded, database):
    items = [claim_payload("B1"), claim_payload("B2", currency="USD"), claim_payload("B1"), {"number": "B4"}, consumer_claim("B5")]
    response = client.post("/v1/claims/batch", json={"claims": items}, headers=bearer(seeded.municipality_key))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["accepted"], body["refused"]) == (2, 3)
    assert [r["status"] for r in body["results"]] == ["accepted", "refused", "refused", "refused", "accepted"]
    assert body["results"][1]["problem"]["errors"][0]["rule"] == "currency.not_allowed"
    assert body["results"][2]["problem"]["errors"][0]["rule"] == "claim.number_exists"
    assert {(e["field"], e["rule"]) for e in body["results"][3]["problem"]["errors"]} >= {("claims.3.type", "missing"), ("claims.3.debtor", "missing")}
    assert count(database, Claim) == 2 and count(database, Job) == 2


def test_batch_over_the_limit_stores_nothing(client, seeded, database, settings):
    items = [claim_payload(f"M{index}") for index in range(settings.max_batch_items + 1)]
    response = client.post("/v1/claims/batch", json={"claims": items}, headers=bearer(seeded.municipality_key))
    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "claims", "rule": "batch.too_many_items", "message": f"a batch holds at most 1000 claims, got 1001"}]
    assert count(database, Claim) == 0


def test_validate_endpoint_is_behind_the_api_key(client, seeded):
    xml = b'<?xml version="1.0"?><Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"/>'
    assert client.post("/v1/validate", content=xml, headers={"Content-Type": "application/xml"}).status_code == 401
    # The test settings point at an empty standards folder: never "valid" without the official checks.
    refused = client.post("/v1/validate", content=xml, headers={**bearer(seeded.municipality_key), "Content-Type": "application/xml"})
    assert refused.status_code == 503
    assert refused.headers["content-type"] == "application/problem+json"
