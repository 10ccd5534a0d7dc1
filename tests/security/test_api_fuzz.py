"""API fuzzing: schemathesis against the app's own OpenAPI document, in process (ASGI), with a real
API key on a seeded SQLite store and the official validation artefacts installed.

Every operation of the document is generated from its schema (valid and invalid bodies, query
strings and path parameters); every response must not be a 5xx and must match the documented
status codes, content type and schema. The example count is kept modest (FUZZ_EXAMPLES) so the
whole run stays under two minutes on a loaded machine.
"""

from __future__ import annotations

import json
import os
import shutil

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, negative_data_rejection, response_schema_conformance, status_code_conformance

from gateway.app import create_app
from gateway.config import Settings
from gateway.store.session import Database
from tests.factories import bearer, claim_payload, seed_creditors

# What is checked on every response. Not `positive_data_acceptance`: a schema-valid claim may still
# break a business rule the JSON Schema cannot express (a business debtor needs one identifier,
# check digits of an OGM or VAT number), and the 422 naming that rule is the right answer.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance, negative_data_rejection]
FUZZ_EXAMPLES = int(os.environ.get("GATEWAY_FUZZ_EXAMPLES", "25"))
CALLS: dict[str, int] = {}


@pytest.fixture
def fuzz_world(sqlite_template, standards_dir, tmp_path):
    path = tmp_path / "fuzz.sqlite"
    shutil.copy(sqlite_template, path)
    database = Database(f"sqlite:///{path}")
    keys = seed_creditors(database)
    app = create_app(Settings(database_url=database.url, standards_dir=standards_dir), database=database)
    # One real claim, so the fuzzer's requests meet stored data as well as unknown ids.
    from fastapi.testclient import TestClient

    with TestClient(app) as client:
        created = client.post("/v1/claims", content=json.dumps(claim_payload("FUZZ-1")), headers={**bearer(keys.municipality_key), "Content-Type": "application/json"})
        assert created.status_code == 201, created.text
    yield app, keys.municipality_key
    database.dispose()


def test_every_operation_answers_without_5xx_and_as_documented(fuzz_world):
    # schemathesis' pytest plugin (lazy schemas) does not run under pytest 9, so the operations
    # are walked here, one hypothesis run each; failures are collected per operation.
    app, key = fuzz_world
    api = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: dict[str, str] = {}
    operations = []
    for result in api.get_all_operations():
        operation = result.ok()
        label = f"{operation.method.upper()} {operation.path}"
        operations.append(label)

        @given(case=operation.as_strategy())
        @settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)
        def run(case):
            CALLS[label] = CALLS.get(label, 0) + 1
            case.call_and_validate(headers=bearer(key), checks=CHECKS)

        try:
            run()
        except (Exception, BaseExceptionGroup) as failure:  # noqa: BLE001 - collect every operation's failure, then report all
            failures[label] = str(failure)[:3000]
    assert len(operations) >= 21
    assert failures == {}, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
