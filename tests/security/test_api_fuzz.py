"""API fuzzing: schemathesis against the app's own OpenAPI document, in process (ASGI), with a real
API key on a seeded store (SQLite, and PostgreSQL) and the official validation artefacts installed.

Every operation of the document is generated from its schema (valid and invalid bodies, query
strings and path parameters); every response must not be a 5xx and must match the documented
status codes, content type and schema. The example count is kept modest so the whole run stays
sane on a loaded machine: FUZZ_EXAMPLES per operation and mode on SQLite, FUZZ_EXAMPLES_POSTGRES
on PostgreSQL (the same generator, so PostgreSQL sees the first, simplest part of what SQLite sees
plus everything a store-specific refusal would need: type and length limits, unknown ids, dates).
"""

from __future__ import annotations

import json
import os
import re
import time

import pytest
import schemathesis
from schemathesis import GenerationMode
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, negative_data_rejection, response_schema_conformance, status_code_conformance

from gateway.app import create_app
from gateway.config import Settings
from tests.factories import bearer, claim_payload, seed_creditors

# What is checked on every response. Not `positive_data_acceptance`: a schema-valid claim may still
# break a business rule the JSON Schema cannot express (a business debtor needs one identifier,
# check digits of an OGM or VAT number), and the 422 naming that rule is the right answer.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance, negative_data_rejection]
# The batch answers 200 with a verdict per item (an invalid claim is refused inside the batch, its
# neighbours kept), so schema-violating items are not a request-level refusal.
NO_NEGATIVE_CHECK = {"POST /v1/claims/batch (negative)"}
# Failures known and accepted, by operation: none at present.
KNOWN: dict[str, str] = {}
FUZZ_EXAMPLES = int(os.environ.get("GATEWAY_FUZZ_EXAMPLES", "40"))
FUZZ_EXAMPLES_POSTGRES = int(os.environ.get("GATEWAY_FUZZ_EXAMPLES_POSTGRES", "20"))
CALLS: dict[str, dict[str, int]] = {}


@pytest.fixture
def fuzz_world(database, standards_dir):
    keys = seed_creditors(database)
    app = create_app(Settings(database_url=database.url, standards_dir=standards_dir), database=database)
    # One real claim, so the fuzzer's requests meet stored data as well as unknown ids.
    from fastapi.testclient import TestClient

    with TestClient(app) as client:
        created = client.post("/v1/claims", content=json.dumps(claim_payload("FUZZ-1")), headers={**bearer(keys.municipality_key), "Content-Type": "application/json"})
        assert created.status_code == 201, created.text
    yield app, keys.municipality_key, "sqlite" if database.engine.dialect.name == "sqlite" else "postgres"


def _fuzz(operation, mode: GenerationMode, label: str, key: str, checks: list, *, examples: int, calls: dict[str, int]):
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)
    def run(case):
        calls[label] = calls.get(label, 0) + 1
        case.call_and_validate(headers=bearer(key), checks=checks)

    return run


def test_every_operation_answers_without_5xx_and_as_documented(fuzz_world):
    # schemathesis' pytest plugin (lazy schemas) does not run under pytest 9, so the operations
    # are walked here, one hypothesis run each; failures are collected per operation.
    app, key, store = fuzz_world
    examples = FUZZ_EXAMPLES if store == "sqlite" else FUZZ_EXAMPLES_POSTGRES
    calls = CALLS.setdefault(store, {})
    started = time.monotonic()
    api = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: dict[str, str] = {}
    operations: list[str] = []
    unsatisfiable: list[str] = []
    known_seen: list[str] = []
    for result in api.get_all_operations():
        operation = result.ok()
        operations.append(f"{operation.method.upper()} {operation.path}")
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            label = f"{operation.method.upper()} {operation.path} ({mode.value})"

            checks = CHECKS if label not in NO_NEGATIVE_CHECK else [c for c in CHECKS if c is not negative_data_rejection]
            try:
                _fuzz(operation, mode, label, key, checks, examples=examples, calls=calls)()
            except Unsatisfiable:
                unsatisfiable.append(label)  # nothing in the operation can be made schema-violating
            except (Exception, BaseExceptionGroup) as failure:  # noqa: BLE001 - collect every operation's failure, then report all
                known = KNOWN.get(label)
                if known is None or known not in str(failure):
                    failures[label] = str(failure)[:3000]
                else:
                    known_seen.append(label)
    print(f"schemathesis on {store}: {len(operations)} operations, {sum(calls.values())} requests ({examples} examples per operation and mode) "
          f"in {time.monotonic() - started:.0f} s; no negative data possible: {unsatisfiable}; known issues seen: {known_seen}")
    # Provider callbacks take any raw body and free path segments: there is nothing to violate.
    assert unsatisfiable == ["POST /v1/callbacks/{source} (negative)", "POST /v1/callbacks/{channel}/{topic} (negative)"]
    assert len(operations) >= 21
    assert failures == {}, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())


@pytest.mark.parametrize("query", [{"due_before": "0"}, {"due_after": "86400"}, {"due_before": "2026-1-5"}])
def test_a_date_that_is_not_iso_8601_is_refused(fuzz_world, query):
    """Found by the fuzzer: pydantic's lax parsing read an integer string as Unix time (due_before=0
    was 1970-01-01). Dates are ISO 8601 only, in query strings and bodies alike."""
    from fastapi.testclient import TestClient

    app, key, _ = fuzz_world
    [(name, value)] = query.items()
    with TestClient(app) as client:
        response = client.get("/v1/claims", params=query, headers=bearer(key))
        assert response.status_code == 422
        assert [(e["field"], e["rule"]) for e in response.json()["errors"]] == [(f"query.{name}", "date.iso_8601")]
        body = claim_payload("ISO-1", issue_date=value)
        created = client.post("/v1/claims", content=json.dumps(body), headers={**bearer(key), "Content-Type": "application/json"})
        assert created.status_code == 422
        assert [(e["field"], e["rule"]) for e in created.json()["errors"]] == [("issue_date", "date.iso_8601")]


def test_a_nul_character_or_a_cursor_beyond_bigint_is_refused_with_its_field_on_both_stores(fuzz_world):
    """Found by the fuzzer on PostgreSQL: `GET /v1/claims?number=%00` was a 500 (PostgreSQL text
    cannot hold U+0000; SQLite can). A NUL anywhere a text field comes from is now a 422 naming the
    field, with nothing stored, the same on both stores."""
    from fastapi.testclient import TestClient

    app, key, store = fuzz_world
    json_headers = {**bearer(key), "Content-Type": "application/json"}
    with TestClient(app) as client:
        claim_id = client.get("/v1/claims", headers=bearer(key)).json()["items"][0]["id"]
        body = claim_payload("NUL-1")
        body["debtor"]["name"] = "Bakkerij\u0000Janssens"
        hold = {"kind": "dispute", "reason": "contested\u0000", "author": "finance"}
        cases = [
            (client.get("/v1/claims", params={"number": "F\x00"}, headers=bearer(key)), "query.number"),
            (client.get("/v1/escalations", params={"approving_body": "\x00"}, headers=bearer(key)), "query.approving_body"),
            (client.post("/v1/claims", content=json.dumps(body), headers=json_headers), "debtor.name"),
            (client.post(f"/v1/claims/{claim_id}/holds", content=json.dumps(hold), headers=json_headers), "reason"),
        ]
        for response, field in cases:
            assert response.status_code == 422, (field, response.text)
            assert [(e["field"], e["rule"]) for e in response.json()["errors"]] == [(field, "text.nul")]
        # A form field of the admin pages is not read ahead; PostgreSQL's refusal becomes the same 422
        # (SQLite can store a NUL: there the sign-in simply fails).
        page = client.get("/admin/signin")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        signin = client.post("/admin/signin", data={"email": "a\x00@b.be", "password": "x", "csrf_token": token})
        if store == "postgres":
            assert (signin.status_code, [(e["field"], e["rule"]) for e in signin.json()["errors"]]) == (422, [("body", "text.nul")])
        else:
            assert signin.status_code == 401
        # Also found on PostgreSQL: a cursor above the BIGINT range was a 500 (NumericValueOutOfRange).
        import base64

        beyond = base64.urlsafe_b64encode((2**63).to_bytes(8, "big")).decode().rstrip("=")
        refused = client.get("/v1/events", params={"after": beyond}, headers=bearer(key))
        assert (refused.status_code, [(e["field"], e["rule"]) for e in refused.json()["errors"]]) == (422, [("after", "cursor.invalid")])
        # A backslash followed by the text "u0000" is not a NUL: stored as written.
        body = claim_payload("NUL-2", buyer_reference="PO\\u0000")
        created = client.post("/v1/claims", content=json.dumps(body), headers=json_headers)
        assert created.status_code == 201, created.text
        assert client.get(f"/v1/claims/{created.json()['id']}", headers=bearer(key)).json()["buyer_reference"] == "PO\\u0000"
        assert sorted(c["number"] for c in client.get("/v1/claims", headers=bearer(key)).json()["items"]) == ["FUZZ-1", "NUL-2"]  # NUL-1 not stored
