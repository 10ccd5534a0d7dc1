"""POST /v1/validate: validate one UBL document (raw XML body) with the official artefacts.

200 with the validation report (also when the document is invalid: the report says why),
400 problem for malformed XML or a DOCTYPE / ENTITY declaration (XXE, entity expansion),
413 problem above the XML size limit, 503 problem when the official artefacts are not installed
(the gateway never answers "valid" without having run them). Authentication is added where the
router is included.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from gateway.api.errors import problem_response
from gateway.config import Settings, get_settings
from gateway.peppol.standards import StandardsMissing
from gateway.peppol.validate import RULE_CHOICES, validate_document
from gateway.peppol.xmlsafe import XmlRejected

router = APIRouter()

STANDARDS_MISSING_TYPE = "https://gateway.example/problems/standards-missing"
INVALID_PARAMETER_TYPE = "https://gateway.example/problems/invalid-parameter"

_XML_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/xml": {"schema": {"type": "string", "format": "binary"}}},
    }
}


def _settings(request: Request) -> Settings:
    return getattr(request.app.state, "settings", None) or get_settings()


@router.post(
    "/v1/validate",
    summary="Validate a UBL Invoice, CreditNote, Reminder or ApplicationResponse",
    openapi_extra=_XML_BODY,
    responses={
        400: {"description": "Malformed XML, DOCTYPE/ENTITY declaration, or unknown `rules`"},
        413: {"description": "The document is larger than the XML size limit"},
        422: {"description": "A parameter breaks a rule (e.g. text.nul)", "content": {"application/problem+json": {}}},
        503: {"description": "The official validation artefacts are not installed"},
    },
)
async def validate_xml(request: Request, rules: str = "auto") -> Any:
    """Body: the XML document. `rules`: auto (from the root element) | billing | t111 | t71."""
    if rules not in RULE_CHOICES:
        return problem_response(
            400, "Unknown rule set", f"rules must be one of {', '.join(RULE_CHOICES)}, not {rules!r}",
            problem_type=INVALID_PARAMETER_TYPE, instance=request.url.path,
        )
    body = await request.body()
    standards_dir = _settings(request).standards_dir
    try:
        # CPU-bound (~10 ms per invoice): keep it off the event loop.
        report = await run_in_threadpool(validate_document, body, rules=rules, standards_dir=standards_dir)
    except StandardsMissing as exc:
        return problem_response(
            503, "Validation artefacts are not installed", str(exc),
            problem_type=STANDARDS_MISSING_TYPE, instance=request.url.path,
        )
    except XmlRejected as exc:
        return problem_response(
            exc.status_code, exc.title, exc.message, problem_type=exc.problem_type, instance=request.url.path
        )
    return JSONResponse(report.to_dict())
