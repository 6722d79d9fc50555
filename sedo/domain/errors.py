"""Errors raised by the core and the service layer.

Entrypoints map them to problem+json (API) or readable messages (CLI).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class SedoError(Exception):
    """Base class: carries an HTTP-ish status and a title users see (a subclass names its own as
    class keywords: ``class NotFound(SedoError, status=404, title="not found")``)."""

    status = 500
    title = "internal error"

    def __init_subclass__(cls, *, status: int | None = None, title: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if status is not None:
            cls.status = status
        if title is not None:
            cls.title = title

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class NotFound(SedoError, status=404, title="not found"):
    """What the request names does not exist."""


class Conflict(SedoError, status=409, title="conflict"):
    """The request clashes with the stored state."""


class BadRequest(SedoError, status=400, title="bad request"):
    """The request itself is wrong; retrying it unchanged fails again."""


class TooLarge(SedoError, status=413, title="payload too large"):
    """A value is past one of the size limits (sedo/domain/limits.py)."""


class Unavailable(SedoError, status=503, title="service unavailable"):
    """A dependency failed after the state was made safe; the call can be retried (the API's
    ``Retry-After`` header says after how many seconds)."""

    retry_after = 1


class TooManyRequests(SedoError, status=429, title="too many requests"):
    """A tenant's quota refuses the request for now; ``retry_after`` seconds (at least 1) say when to
    try again (the API's ``Retry-After`` header). Nothing was stored."""

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


class InvalidDefinition(BadRequest, title="definition is invalid"):
    """Every problem found in a definition, reported at once."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        noun = "problem" if len(problems) == 1 else "problems"
        lines = "\n".join(f"- {p}" for p in problems)
        super().__init__(f"{len(problems)} {noun} found:\n{lines}")


class InvalidInput(BadRequest, title="input does not pass inputSchema validation"):
    """An execution's input breaks its definition's ``inputSchema``."""


class InvalidAnswer(BadRequest, title="output does not pass the step's inputSchema validation"):
    """A ``/complete`` output that breaks the callback step's ``inputSchema``."""
