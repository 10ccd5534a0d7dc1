"""The published JSON Schema of the claim payload (`schemas/claim.schema.json`), generated from `ClaimIn`."""

from __future__ import annotations

import json

from gateway.api.payloads import ClaimIn

SCHEMA_ID = "https://gateway.example/schemas/claim.schema.json"


def claim_json_schema() -> dict:
    schema = ClaimIn.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}


def render() -> str:
    return json.dumps(claim_json_schema(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


if __name__ == "__main__":  # pragma: no cover - `python -m gateway.api.schema_export > schemas/claim.schema.json`
    print(render(), end="")
