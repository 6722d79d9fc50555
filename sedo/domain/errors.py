"""Errors raised by the core and the service layer.

Entrypoints map them to problem+json (API) or readable messages (CLI).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class SedoError(Exception):
    """Base class: carries an HTTP-ish status and a title users see."""

    status = 500
    title = "internal error"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class NotFound(SedoError):
    status = 404
    title = "not found"


class Conflict(SedoError):
    status = 409
    title = "conflict"


class BadRequest(SedoError):
    status = 400
    title = "bad request"


class TooLarge(SedoError):
    status = 413
    title = "payload too large"


class Unavailable(SedoError):
    """A dependency failed after the state was made safe; the call can be retried."""

    status = 503
    title = "service unavailable"


class TooManyRequests(SedoError):
    """A tenant's quota refuses the request for now; ``retry_after`` seconds (at least 1) say when to
    try again (the API's ``Retry-After`` header). Nothing was stored."""

    status = 429
    title = "too many requests"

    def __init__(self, detail: str, retry_after: int, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.retry_after = max(1, int(retry_after))


@dataclass(frozen=True)
class Problem:
    """One problem in a document, located by a JSON Pointer."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path or '/'}: {self.message}"


class InvalidDefinition(BadRequest):
    """Every problem found in a definition, reported at once."""

    title = "definition is invalid"

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        noun = "problem" if len(problems) == 1 else "problems"
        lines = "\n".join(f"- {p}" for p in problems)
        super().__init__(f"{len(problems)} {noun} found:\n{lines}")


class InvalidInput(BadRequest):
    title = "input does not pass inputSchema validation"


class InvalidAnswer(BadRequest):
    """A ``/complete`` output that breaks the callback step's ``inputSchema``."""

    title = "output does not pass the step's inputSchema validation"
