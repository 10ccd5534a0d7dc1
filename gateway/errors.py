"""Error types shared by every layer.

Expected business errors carry an HTTP status code and, where a single input field is to
blame, the field path and the rule it broke, so the API can answer with an RFC 9457 problem
that names both. Outbound calls raise `RetryableError` (timeouts, connection errors, 5xx, 429)
or `TerminalError` (4xx, invalid documents, unknown recipients); the worker backs off on the
first and ends the dispatch on the second.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldProblem:
    """One broken rule on one input field. `field` is a dotted path such as `lines.0.unit_price`."""

    field: str
    rule: str
    message: str


class GatewayError(Exception):
    status_code: int = 400
    problem_type: str = "about:blank"
    title: str = "Bad request"

    def __init__(self, message: str, *, problems: list[FieldProblem] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.problems = problems or []


class InvalidInput(GatewayError):
    status_code = 422
    problem_type = "https://gateway.example/problems/invalid-input"
    title = "The request breaks a validation rule"

    @classmethod
    def single(cls, field: str, rule: str, message: str) -> "InvalidInput":
        return cls(message, problems=[FieldProblem(field, rule, message)])


class NotFound(GatewayError):
    status_code = 404
    problem_type = "https://gateway.example/problems/not-found"
    title = "Not found"


class Conflict(GatewayError):
    status_code = 409
    problem_type = "https://gateway.example/problems/conflict"
    title = "Conflict"


class IllegalTransition(GatewayError):
    """A lifecycle was asked to move along an edge its transition table does not have."""

    status_code = 409
    problem_type = "https://gateway.example/problems/illegal-transition"
    title = "Illegal state transition"

    def __init__(self, lifecycle: str, current: str, target: str) -> None:
        super().__init__(f"{lifecycle}: cannot go from {current!r} to {target!r}")
        self.lifecycle = lifecycle
        self.current = current
        self.target = target


class RetryableError(Exception):
    """An outbound call failed in a way that may succeed later (timeout, 5xx, 429, DNS)."""


class TerminalError(Exception):
    """An outbound call failed for good (4xx, invalid document, unknown recipient)."""


class InvalidContact(TerminalError):
    """Terminal, and the debtor's contact itself is to blame: the relay refused the recipient with
    an X.1.x address status (user unknown, no such domain), or a hard bounce, or an SMS UNDELIV.

    Only this failure marks the contact invalid and asks the debtor to repair it. Every other
    `TerminalError` (our DKIM key, a message we could not compose, an operator REJECTD, a policy
    block) falls back to the next channel but leaves the contact as it was."""
