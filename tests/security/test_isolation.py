"""Isolation between creditors, generated from the route table.

For every route of `create_app()` (see routes.py: an unclassified route fails here with its
path), a key or admin user of one creditor tries to read or change another creditor's claims,
debtors, documents, payments, holds, escalations, events and dispatches:

- a route that addresses an object by id answers 404 (never 403: existence is not revealed),
- a list, search or export never shows the other creditor's rows,
- a create naming the other creditor is refused,
- and afterwards not one row of the database has changed.

Creditor families: a key with `includes_children` sees its children, never its parent or its
siblings; a key without it sees only its own entity. The same holds for admin users.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from gateway.api import dunning as dunning_api
from gateway.app import create_app
from tests.factories import bearer, claim_payload
from tests.security.routes import CLASSIFICATION, Kind, route_table, unclassified
from tests.security.snapshot import changes, snapshot
from tests.security.world import TODAY, Victim, World, seed_world
from tests.web.seed import PASSWORD

# Path parameters of OBJECT routes, filled with the victim's objects.
PARAMS = {
    "claim_id": lambda v: v.claim_id, "debtor_id": lambda v: v.debtor_id, "document_id": lambda v: v.document_id,
    "hold_id": lambda v: v.hold_id, "entry_id": lambda v: v.entry_id, "dispatch_id": lambda v: v.dispatch_id, "plan_id": lambda v: v.plan_id,
    "endpoint_id": lambda v: v.webhook_id,
}
# Valid bodies, so that a refusal can only come from the ownership check, not from validation.
BODIES = {
    ("POST", "/v1/claims/{claim_id}/payments"): {"amount": "10.00", "paid_on": "2026-11-30", "external_id": "stolen"},
    ("POST", "/v1/claims/{claim_id}/cancel"): {"reason": "cancelled by a stranger"},
    ("PATCH", "/v1/debtors/{debtor_id}"): {"name": "Changed by a stranger", "contacts": [{"kind": "email", "value": "thief@example.com"}]},
    ("POST", "/v1/claims/{claim_id}/credit-notes"): {"reason": "credited by a stranger"},
    ("POST", "/v1/claims/{claim_id}/holds"): {"kind": "manual", "reason": "stranger", "author": "stranger"},
    ("POST", "/v1/claims/{claim_id}/holds/{hold_id}/end"): {"author": "stranger"},
    ("POST", "/v1/claims/{claim_id}/payment-plan"): {"months": 3, "first_due_date": "2027-01-01"},
    ("POST", "/v1/escalations/{entry_id}/approve"): {"approved_by": "stranger"},
    ("POST", "/v1/payment-plans/{plan_id}/confirmation"): {"confirmed_on": "2026-12-01", "source": "stranger", "author": "stranger"},
    # the victim's claim OGM and one of its instalments' OGMs, each as a bank statement line
    ("POST", "/v1/payments"): lambda v: [{"reference": ogm, "amount": "1.00", "paid_on": "2026-11-30", "external_id": f"stolen-{i}"} for i, ogm in enumerate((v.ogm, v.instalment_ogm))],
}
ADMIN_FORMS = {
    ("POST", "/admin/undeliverable/{dispatch_id}/resend"): {"value": "thief@example.com"},
    ("POST", "/admin/undeliverable/{dispatch_id}/unreachable"): {},
    ("POST", "/admin/escalations/{entry_id}/approve"): {"reference": "stranger"},
    # The list's entries travel in the form, not the path: the victim's entry.
    ("POST", "/admin/escalations/approve-list"): lambda victim: {"kind": "dwangbevel", "approving_body": "college_van_burgemeester_en_schepenen", "entry_id": str(victim.entry_id)},
}
# Rows that signing in, and only signing in, may add or touch.
SESSION_TABLES = frozenset({"admin_session", "admin_user", "api_key"})

# (victim, attacking key): parent, child with and without includes_children, sibling, stranger.
KEY_ATTACKS = [
    ("gent", "ocmw-family"),  # a child's family key does not see its parent
    ("gent", "agb-gent"),  # nor does a plain child key
    ("gent", "az-sint-jan"),  # a stranger
    ("agb-gent", "ocmw-family"),  # a sibling (with its own children) does not see its sibling
    ("agb-gent", "woonzorg-gent"),  # a sibling's child neither
    ("agb-gent", "gent"),  # the parent's key without includes_children sees only the parent itself
]
ADMIN_ATTACKS = [("gent", "ocmw-gent"), ("gent", "az-sint-jan"), ("agb-gent", "ocmw-gent"), ("agb-gent", "woonzorg-gent")]


PERSONAL_SECRET = "personal-link-secret-for-the-isolation-test"


@pytest.fixture
def app(settings, database):
    application = create_app(settings.model_copy(update={"personal_link_secret": PERSONAL_SECRET}), database=database)
    application.dependency_overrides[dunning_api.today] = lambda: TODAY
    return application


@pytest.fixture
def client(app):
    with TestClient(app) as test_client:
        counted = test_client.request

        def request(*args, **kwargs):
            test_client.requests_made = getattr(test_client, "requests_made", 0) + 1
            return counted(*args, **kwargs)

        test_client.request = request  # counts the requests of a sweep for the README figures
        yield test_client


def _requests(client) -> int:
    return getattr(client, "requests_made", 0)


@pytest.fixture
def world(client, database) -> World:
    return seed_world(client, database)


def test_every_route_is_classified(settings, database):
    missing = unclassified(create_app(settings, database=database))
    assert missing == [], f"routes without an isolation class (add them to tests/security/routes.py): {missing}"


def test_classification_names_no_route_that_is_gone(settings, database):
    served = set(route_table(create_app(settings, database=database)))
    assert sorted(set(CLASSIFICATION) - served) == []


def _markers(victim: Victim) -> list[str]:
    """Strings that must never appear in an answer to another creditor."""
    digits = re.sub(r"\D", "", victim.ogm)
    return [victim.claim_number, victim.email, str(victim.claim_id), str(victim.debtor_id), str(victim.escalated_claim_id),
            str(victim.document_id), str(victim.dispatch_id), str(victim.entry_id), str(victim.creditor_id), str(victim.webhook_id), digits,
            str(victim.plan_id), re.sub(r"\D", "", victim.instalment_ogm)]


def _assert_no_leak(response, victim: Victim, what: str, asked: str = "") -> None:
    """`asked`: the URL requested; an id the caller gave may be echoed back in the 404."""
    text = response.text
    leaked = [marker for marker in _markers(victim) if marker in text and marker not in asked]
    assert leaked == [], f"{what} shows {victim.code}'s data: {leaked}"


def _fill(path: str, victim: Victim) -> str:
    def value(match: re.Match) -> str:
        name = match.group(1)
        assert name in PARAMS, f"{path}: the isolation test does not know path parameter {name!r}; add it to PARAMS"
        return str(PARAMS[name](victim))

    return re.sub(r"\{(\w+)\}", value, path)


def _api_attack(client: TestClient, method: str, path: str, kind: Kind, victim: Victim, key: str, world: World) -> None:
    # Both ways of presenting a key: the stranger uses X-API-Key, the others the bearer header.
    credentials = {"X-API-Key": key} if key == world.keys["az-sint-jan"] else bearer(key)
    headers = {**credentials, "Content-Type": "application/json"}
    what = f"{method} {path} with {victim.code}'s data"
    if kind is Kind.OBJECT:
        url = _fill(path, victim)
        body = BODIES.get((method, path), {})
        for one in body(victim) if callable(body) else [body]:
            response = client.request(method, url, content=json.dumps(one), headers=headers)
            assert response.status_code == 404, f"{what}: {response.status_code} {response.text}"
            assert response.json()["type"] == "https://gateway.example/problems/not-found"
            _assert_no_leak(response, victim, what, url)
    elif kind is Kind.LIST:
        for params in _list_queries(path, victim):
            response = client.request(method, path, params=params, headers=headers)
            assert response.status_code == 200, f"{what} {params}: {response.status_code} {response.text}"
            _assert_no_leak(response, victim, f"{what} {params}", str(params))
            if path == "/v1/claims" and params:
                assert response.json()["items"] == [], f"{what} {params}"
    elif kind is Kind.CREATE:
        payload = claim_payload("STOLEN-1", creditor=victim.code)
        body = {"claims": [payload]} if path.endswith("/batch") else payload
        if path == "/v1/webhook-endpoints":
            body = {"creditor": victim.code, "url": "https://attacker.example/hooks"}
        response = client.request(method, path, content=json.dumps(body), headers=headers)
        problems = response.json()["results"][0]["problem"]["errors"] if path.endswith("/batch") else response.json()["errors"]
        assert [(p["field"], p["rule"]) for p in problems] == [("creditor", "creditor.unknown")], f"{what}: {response.text}"
    elif kind is Kind.PROVIDER:
        # An API key is no provider signature: nothing is stored, whatever it claims.
        body = json.dumps({"event_id": "forged", "document_id": str(victim.dispatch_id), "status": "paid"})
        response = client.request(method, path.replace("{source}", "peppol-ap").replace("{channel}", "email").replace("{topic}", "bounce"), content=body, headers=headers)
        assert response.status_code in (401, 404), f"{what}: {response.status_code}"
    elif kind is Kind.STATELESS:
        response = client.request(method, path, content=b"<Invoice/>", headers={**credentials, "Content-Type": "application/xml"})
        assert response.status_code in (200, 204, 400, 503), f"{what}: {response.status_code}"  # 503: no official artefacts here
        _assert_no_leak(response, victim, what)
    elif kind is Kind.PAY_LINK:
        # An API key is no signed link: a token naming the victim's document under another secret is a 404.
        from gateway.kit import pay_link

        url = path.replace("{token}", pay_link.sign(b"not-the-gateway-secret", victim.document_id))
        response = client.request(method, url, headers=headers, follow_redirects=False)
        assert response.status_code == 404, f"{what}: {response.status_code}"
        _assert_no_leak(response, victim, what, url)
    elif kind is Kind.PUBLIC and method == "GET":
        response = client.get(_fill_public(path), headers=headers)
        assert response.status_code < 500
        _assert_no_leak(response, victim, what)


def _fill_public(path: str) -> str:
    return path.replace("{language}", "en")


def _list_queries(path: str, victim: Victim) -> list[dict]:
    if path == "/v1/claims":
        return [{}, {"debtor_id": str(victim.debtor_id)}, {"number": victim.claim_number}, {"structured_communication": victim.ogm}]
    if path in ("/v1/escalations/export", "/admin/escalations/export"):
        return [{"kind": "dwangbevel"}]
    if path == "/admin/search":
        return [{"q": victim.claim_number}, {"q": victim.email}, {"q": victim.ogm}, {"q": "Bakkerij"}]
    if path == "/admin/dashboard":
        return [{"start": "2020-01-01", "end": "2030-12-31"}]
    return [{}]


def test_keys_never_reach_another_creditors_data(app, client, database, world):
    own_claim = client.post("/v1/claims", content=json.dumps(claim_payload("OWN-1")), headers={**bearer(world.keys["az-sint-jan"]), "Content-Type": "application/json"}).json()
    before = snapshot(database, skip=SESSION_TABLES)
    routes = [(m, p, CLASSIFICATION[(m, p)]) for m, p in route_table(app)
              if not p.startswith("/admin") and m != "MOUNT" and CLASSIFICATION[(m, p)] is not Kind.PERSONAL]
    client.requests_made = 0
    for victim_code, attacker in KEY_ATTACKS:
        victim = world.victims[victim_code]
        for method, path, kind in routes:
            _api_attack(client, method, path, kind, victim, world.keys[attacker], world)
        # One's own claim may not pull another creditor's claim into a payment plan.
        if attacker == "az-sint-jan":
            plan = {"claim_ids": [str(victim.claim_id)], "months": 3, "first_due_date": "2027-01-01"}
            response = client.post(f"/v1/claims/{own_claim['id']}/payment-plan", json=plan, headers=bearer(world.keys[attacker]))
            assert response.status_code == 404, response.text
    changed, added = changes(before, snapshot(database, skip=SESSION_TABLES))
    assert changed == [] and added == {}
    assert len(routes) >= 21
    print(f"isolation, keys: {len(routes)} routes x {len(KEY_ATTACKS)} (victim, attacker) pairs, {_requests(client)} requests")


def test_family_keys_see_their_children_and_plain_keys_only_themselves(client, database, world):
    gent, agb = world.victims["gent"], world.victims["agb-gent"]
    for key, claim, expected in [
        ("gent-family", agb.claim_id, 200), ("gent-family", gent.claim_id, 200), ("gent", gent.claim_id, 200), ("gent", agb.claim_id, 404),
        ("agb-gent", agb.claim_id, 200), ("ocmw-family", agb.claim_id, 404),
    ]:
        assert client.get(f"/v1/claims/{claim}", headers=bearer(world.keys[key])).status_code == expected, (key, claim)
    care_home = client.post("/v1/claims", content=json.dumps(claim_payload("WZ-1", creditor="woonzorg-gent")), headers={**bearer(world.keys["ocmw-family"]), "Content-Type": "application/json"})
    assert care_home.status_code == 201, care_home.text
    claim_id = care_home.json()["id"]
    assert client.get(f"/v1/claims/{claim_id}", headers=bearer(world.keys["ocmw-family"])).status_code == 200
    assert client.get(f"/v1/claims/{claim_id}", headers=bearer(world.keys["gent-family"])).status_code == 200  # a grandchild
    assert client.get(f"/v1/claims/{claim_id}", headers=bearer(world.keys["ocmw-gent"])).status_code == 404  # no includes_children
    listed = {item["number"] for item in client.get("/v1/claims", params={"limit": 200}, headers=bearer(world.keys["gent-family"])).json()["items"]}
    assert {gent.claim_number, agb.claim_number, "WZ-1"} <= listed
    assert [e["claim_id"] for e in client.get("/v1/escalations", headers=bearer(world.keys["gent"])).json()["items"]] == [str(gent.escalated_claim_id)]


def _csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def _sign_in(client: TestClient, email: str) -> str:
    client.cookies.clear()
    page = client.get("/admin/signin")
    response = client.post("/admin/signin", data={"email": email, "password": PASSWORD, "csrf_token": _csrf_of(page.text), "next": "/admin/dashboard"}, follow_redirects=False)
    assert response.status_code == 303, response.text
    return _csrf_of(client.get("/admin/undeliverable").text)


def test_admin_users_never_reach_another_creditors_data(app, client, database, world):
    routes = [(m, p, CLASSIFICATION[(m, p)]) for m, p in route_table(app) if p.startswith("/admin") and m != "MOUNT"]
    before = snapshot(database, skip=SESSION_TABLES)
    client.requests_made = 0
    for victim_code, attacker in ADMIN_ATTACKS:
        victim = world.victims[victim_code]
        csrf = _sign_in(client, world.admins[attacker])
        for method, path, kind in routes:
            what = f"{method} {path} by {attacker}'s admin with {victim.code}'s data"
            if kind is Kind.OBJECT:
                url = _fill(path, victim)
                if method == "GET":
                    response = client.get(url)
                else:
                    form = ADMIN_FORMS.get((method, path))
                    assert form is not None, f"{path}: add the form the isolation test posts to ADMIN_FORMS"
                    form = form(victim) if callable(form) else form
                    response = client.post(url, data={**form, "csrf_token": csrf}, follow_redirects=False)
                assert response.status_code == 404, f"{what}: {response.status_code}"
                _assert_no_leak(response, victim, what, url)
            elif kind is Kind.LIST:
                for params in _list_queries(path, victim):
                    response = client.get(path, params=params)
                    assert response.status_code == 200, f"{what}: {response.status_code}"
                    _assert_no_leak(response, victim, f"{what} {params}", str(params))  # the search box echoes the query
            elif kind is Kind.PUBLIC and method == "GET":
                response = client.get(_fill_public(path), follow_redirects=False)
                assert response.status_code < 500
                _assert_no_leak(response, victim, what)
            elif kind is not Kind.PUBLIC:
                pytest.fail(f"{what}: the admin sweep does not handle kind {kind}")
    changed, added = changes(before, snapshot(database, skip=SESSION_TABLES))
    assert changed == [] and added == {}
    print(f"isolation, admin users: {len(routes)} routes x {len(ADMIN_ATTACKS)} (victim, attacker) pairs, {_requests(client)} requests")
    # Positive control: the parent's admin sees its child's claim and the bounced case.
    _sign_in(client, world.admins["gent"])
    assert client.get(f"/admin/claims/{world.victims['agb-gent'].claim_id}").status_code == 200
    assert world.victims["agb-gent"].email in client.get("/admin/undeliverable").text


def test_a_debtor_with_the_same_external_id_at_another_creditor_is_a_different_debtor(client, database, world):
    victim = world.victims["gent"]
    key = world.keys["az-sint-jan"]
    created = client.post("/v1/claims", content=json.dumps(claim_payload("AZ-SAME-DEBTOR")), headers={**bearer(key), "Content-Type": "application/json"}).json()
    detail = client.get(f"/v1/claims/{created['id']}", headers=bearer(key)).json()
    assert uuid.UUID(detail["debtor"]["id"]) != victim.debtor_id
    assert client.get(f"/v1/debtors/{victim.debtor_id}", headers=bearer(world.keys["gent"])).json()["name"] == "Bakkerij Janssens BV"


def _victim_rows(database, victim: Victim, own: set[uuid.UUID]) -> dict:
    """Everything of the victim a personal page could touch: its debtors, contacts, consents, claims,
    payment requests; `own`: the link holders' own debtors, which their pages may change."""
    with database.engine.connect() as connection:
        from sqlalchemy import select as sql_select

        from gateway.store.base import Base

        tables = Base.metadata.tables
        claims = tables["claim"]
        claim_rows = connection.execute(sql_select(claims).where(claims.c.creditor_id == victim.creditor_id, claims.c.debtor_id.not_in(own))).all()
        debtor_ids = {row.debtor_id for row in claim_rows}
        result = {"claim": sorted(map(tuple, claim_rows))}
        for name, column in (("debtor", "id"), ("debtor_contact", "debtor_id"), ("debtor_consent", "debtor_id")):
            table = tables[name]
            result[name] = sorted(map(tuple, connection.execute(sql_select(table).where(table.c[column].in_(debtor_ids))).all()))
        requests = tables["payment_request"]
        result["payment_request"] = sorted(map(tuple, connection.execute(sql_select(requests).where(requests.c.claim_id.in_({row.id for row in claim_rows}))).all()))
        return result


def test_a_personal_link_reaches_only_its_own_debtors_data(app, client, database, world):
    """Generic over the /my routes: a valid link of another debtor (at another creditor, and at the
    same creditor) is used with the victim's document and claim ids and the victim's identifiers
    in the form; every object answer is a 404, no page shows the victim, nothing of it changes."""
    from gateway.kit import personal_link
    from gateway.kit.time import utc_now
    from gateway.services import consumer_page
    from tests.factories import consumer_claim

    victim = world.victims["gent"]
    secret = PERSONAL_SECRET.encode()
    tokens = {}
    own: set[uuid.UUID] = set()
    for code, number, email in (("az-sint-jan", "AZ-C1", "stranger@telenet.be"), ("gent", "GENT-C1", "neighbour@telenet.be")):
        payload = consumer_claim(number, email=email)
        payload["debtor"]["external_id"] = f"C-{code}"
        if code == "gent":
            payload["debtor"]["national_register_number"] = "90020100031"
        created = client.post("/v1/claims", content=json.dumps(payload), headers={**bearer(world.keys[code]), "Content-Type": "application/json"})
        assert created.status_code == 201, created.text
        detail = client.get(f"/v1/claims/{created.json()['id']}", headers=bearer(world.keys[code])).json()
        own.add(uuid.UUID(detail["debtor"]["id"]))
        tokens[code] = personal_link.issue(secret, uuid.UUID(detail["debtor"]["id"]), world.creditor_ids[code], now=utc_now(), valid_for=timedelta(days=1))
    routes = [(m, p) for m, p in route_table(app) if CLASSIFICATION.get((m, p)) is Kind.PERSONAL]
    assert len(routes) >= 8
    before = _victim_rows(database, victim, own)
    for code, token in tokens.items():
        values = {"token": token, "document_id": str(victim.document_id), "claim_id": str(victim.claim_id), "confirmation": "forged.confirmation"}
        for method, path in routes:
            url = re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)
            what = f"{method} {path} with {code}'s link and {victim.code}'s data"
            if method == "GET":
                response = client.get(url, follow_redirects=False)
            else:
                form = {"form_token": consumer_page.form_token(secret, token), "debtor_id": str(victim.debtor_id), "claim_id": str(victim.claim_id),
                        "email": "thief@example.com", "phone": "+32470999999", "code": "000000", "mode": "qr"}
                response = client.post(url, data=form, follow_redirects=False)
            if "{document_id}" in path or "{claim_id}" in path or "{confirmation}" in path:
                assert response.status_code == 404, f"{what}: {response.status_code}"
            else:
                assert response.status_code in (200, 303, 429), f"{what}: {response.status_code}"
            _assert_no_leak(response, victim, what, url)
    assert _victim_rows(database, victim, own) == before
