"""POST /v1/validate: report JSON, 400/413 problems for refused XML, 503 without artefacts."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from gateway.api.validate import router
from gateway.config import Settings

BASE = "peppol-bis-billing-3/examples/base-example.xml"
INVOICE_RESPONSE = "peppol-invoice-response/examples/InvoiceResponse_Example.xml"


def client_for(standards_dir: Path) -> TestClient:
    app = FastAPI()
    app.state.settings = Settings(standards_dir=standards_dir)
    app.include_router(router)
    return TestClient(app)


@pytest.fixture
def client(standards_dir: Path) -> TestClient:
    return client_for(standards_dir)


def post(client: TestClient, body: bytes, **params: str):
    return client.post("/v1/validate", content=body, params=params, headers={"Content-Type": "application/xml"})


def test_valid_invoice(client, shared_standards):
    response = post(client, (shared_standards / BASE).read_bytes())
    assert response.status_code == 200
    assert response.json() == {"file": None, "document_type": "Invoice", "valid": True, "errors": [], "warnings": []}


def test_invalid_invoice_is_a_200_report(client, shared_standards):
    xml = (shared_standards / BASE).read_bytes().replace(
        b'<cbc:TaxInclusiveAmount currencyID="EUR">1656.25', b'<cbc:TaxInclusiveAmount currencyID="EUR">1656.26'
    )
    response = post(client, xml)
    assert response.status_code == 200
    body = response.json()
    assert body["valid"] is False
    assert [(e["rule"], e["flag"], e["location"]) for e in body["errors"]] == [
        ("BR-CO-15", "fatal", "/Invoice[1]"),
        ("BR-CO-16", "fatal", "/Invoice[1]/cac:LegalMonetaryTotal[1]"),
    ]


def test_rules_query_forces_a_rule_set(client, shared_standards):
    response = post(client, (shared_standards / INVOICE_RESPONSE).read_bytes(), rules="t71")
    assert response.status_code == 200
    assert response.json()["valid"] is False
    assert "PEPPOL-T71-R001" in [e["rule"] for e in response.json()["errors"]]


def _assert_problem(response, status: int) -> dict:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert {"type", "title", "status", "detail"} <= set(body)
    assert body["status"] == status
    return body


def test_xxe_is_a_400_problem(client):
    body = _assert_problem(post(client, b'<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>'), 400)
    assert body["type"] == "https://gateway.example/problems/unsafe-xml"
    assert "DOCTYPE" in body["detail"]
    assert "root:" not in body["detail"]


def test_malformed_xml_is_a_400_problem(client):
    body = _assert_problem(post(client, b"<Invoice>"), 400)
    assert body["type"] == "https://gateway.example/problems/malformed-xml"


def test_unknown_rules_is_a_400_problem(client, shared_standards):
    body = _assert_problem(post(client, (shared_standards / BASE).read_bytes(), rules="xrechnung"), 400)
    assert "xrechnung" in body["detail"]


def test_missing_artefacts_is_a_503_problem(tmp_path, shared_standards):
    response = post(client_for(tmp_path / "not-installed"), (shared_standards / BASE).read_bytes())
    body = _assert_problem(response, 503)
    assert body["type"] == "https://gateway.example/problems/standards-missing"
    assert "gateway standards install" in body["detail"]
