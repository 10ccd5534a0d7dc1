"""RFC 9457 problem responses: every error names the field path and the rule it broke."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway.errors import FieldProblem, GatewayError, InvalidInput

log = logging.getLogger("gateway.api")
PROBLEM_JSON = "application/problem+json"


def problem_body(status: int, title: str, detail: str, *, problem_type: str = "about:blank", instance: str | None = None, problems: list[FieldProblem] | None = None) -> dict:
    body = {"type": problem_type, "title": title, "status": status, "detail": detail}
    if instance:
        body["instance"] = instance
    if problems:
        body["errors"] = [{"field": p.field, "rule": p.rule, "message": p.message} for p in problems]
    return body


def problem_response(status: int, title: str, detail: str, *, headers: dict[str, str] | None = None, **kwargs) -> JSONResponse:
    return JSONResponse(problem_body(status, title, detail, **kwargs), status_code=status, media_type=PROBLEM_JSON, headers=headers)


def field_path(location: tuple, prefix: str = "") -> str:
    parts = [str(part) for part in location if part not in ("body",)]
    path = ".".join(parts)
    return f"{prefix}.{path}" if prefix and path else (prefix or path or "body")


def problems_from_validation(errors: list[dict], prefix: str = "") -> list[FieldProblem]:
    return [FieldProblem(field_path(tuple(error["loc"]), prefix), error["type"], error["msg"]) for error in errors]


def invalid_input_from(exc: ValidationError, prefix: str = "") -> InvalidInput:
    problems = problems_from_validation(exc.errors(include_url=False), prefix)
    if any(problem.rule == "json_invalid" for problem in problems):
        error = InvalidInput("the body is not valid JSON", problems=problems)
        error.status_code = 400
        return error
    return InvalidInput(f"{len(problems)} field(s) break a rule", problems=problems)


def install(app: FastAPI) -> None:
    @app.exception_handler(GatewayError)
    async def _gateway_error(request: Request, exc: GatewayError) -> JSONResponse:
        return problem_response(
            exc.status_code, exc.title, exc.message, problem_type=exc.problem_type, instance=request.url.path, problems=exc.problems,
            headers=getattr(exc, "headers", None),  # e.g. Retry-After on a 429
        )

    @app.exception_handler(RequestValidationError)
    async def _request_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = problems_from_validation(list(exc.errors()))
        status = 400 if any(p.rule == "json_invalid" for p in problems) else 422
        return problem_response(status, InvalidInput.title, f"{len(problems)} field(s) break a rule", problem_type=InvalidInput.problem_type, instance=request.url.path, problems=problems)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem_response(exc.status_code, str(exc.detail), str(exc.detail), instance=request.url.path)

    @app.exception_handler(DataError)
    async def _data_error(request: Request, exc: DataError) -> JSONResponse:
        # PostgreSQL refuses U+0000 in text; what gateway/api/limits.py does not check before (a form
        # field of the admin or personal pages) is still the client's input, not our failure.
        if "NUL (0x00)" in str(exc.orig):
            message = "a text field contains the NUL character (U+0000), which no text field may hold"
            return problem_response(422, InvalidInput.title, message, problem_type=InvalidInput.problem_type, instance=request.url.path,
                                    problems=[FieldProblem("body", "text.nul", message)])
        return await _unexpected(request, exc)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s", request.url.path)
        return problem_response(500, "Internal error", "the gateway failed; nothing was half-stored", instance=request.url.path)
