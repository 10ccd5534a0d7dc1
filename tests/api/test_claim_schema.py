"""`schemas/claim.schema.json` is what the API accepts: same file as generated, and the same verdicts."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest
from pydantic import ValidationError

from gateway.api.payloads import ClaimIn
from gateway.api.schema_export import render
from tests.factories import claim_payload, consumer_claim

SCHEMA_FILE = Path(__file__).parents[2] / "schemas" / "claim.schema.json"


def test_published_schema_is_the_generated_one():
    assert SCHEMA_FILE.read_text(encoding="utf-8") == render(), "run: python -m gateway.api.schema_export > schemas/claim.schema.json"


def _variants():
    yield "business", claim_payload(), True
    yield "consumer", consumer_claim("C1"), True
    yield "example", ClaimIn.model_config["json_schema_extra"]["examples"][0], True
    for name, mutate in {
        "missing number": lambda p: p.pop("number"),
        "extra field": lambda p: p.update(colour="blue"),
        "bad type": lambda p: p.update(type="gift"),
        "bad currency": lambda p: p.update(currency="eur"),
        "no lines": lambda p: p.update(lines=[]),
        "bad debtor kind": lambda p: p["debtor"].update(kind="alien"),
        "bad language": lambda p: p["debtor"].update(language="es"),
        "bad vat category": lambda p: p["lines"][0].update(vat_category="X"),
        "bad unit code": lambda p: p["lines"][0].update(unit_code="pieces"),
        "bad country": lambda p: p["debtor"]["address"].update(country="Belgium"),
        "missing address": lambda p: p["debtor"].pop("address"),
        "bad contact kind": lambda p: p["debtor"].update(contacts=[{"kind": "fax", "value": "123"}]),
    }.items():
        payload = claim_payload()
        mutate(payload)
        yield name, payload, False


@pytest.mark.parametrize(("name", "payload", "valid"), list(_variants()), ids=[v[0] for v in _variants()])
def test_schema_and_api_model_agree(name, payload, valid):
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    schema_ok = jsonschema.Draft202012Validator(schema).is_valid(json.loads(json.dumps(payload)))
    try:
        ClaimIn.model_validate(copy.deepcopy(payload))
        model_ok = True
    except ValidationError:
        model_ok = False
    assert (schema_ok, model_ok) == (valid, valid)
