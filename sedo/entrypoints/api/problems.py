"""Every error the API answers is sedo's problem+json, whoever raised it.

sedo's own errors (:class:`~sedo.domain.errors.SedoError`), the validators' (see
validators.py) and authentication's have handlers in app.py. What is left comes from
the framework: an unknown path (404), a method the path does not take (405), a media
type the operation does not accept (415), and whatever else Connexion or Starlette
raise as an ``HTTPException``. Each gets one of sedo's ``type`` URIs, a ``detail`` that
says what to change and, where there is something to list, ``errors``. An unexpected
exception is a 500 that names no internals; AWS busy or unreachable for now is a 503 with
``Retry-After``.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import yaml
from connexion.exceptions import ProblemException, UnsupportedMediaTypeProblem
from connexion.http_facts import HTTP_STATUS_CODES
from connexion.lifecycle import ConnexionRequest, ConnexionResponse
from connexion.problem import problem
from starlette.exceptions import HTTPException

from sedo.adapters.aws import transient
from sedo.domain.errors import Unavailable
from sedo.entrypoints.api.validators import PROBLEM_BASE

log = logging.getLogger("sedo.api")

METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def slug(title: str) -> str:
    return PROBLEM_BASE + "-".join(title.lower().replace("/", " ").split())


class Routes:
    """The spec's paths and their methods, to say what a path or method should have been."""

    def __init__(self, spec: Path) -> None:
        document = yaml.safe_load(spec.read_text())
        self.paths: list[tuple[str, re.Pattern[str], list[str]]] = []
        for template, item in (document.get("paths") or {}).items():
            methods = [m.upper() for m in METHODS if m in (item or {})]
            pattern = re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$")
            self.paths.append((template, pattern, methods))

    def methods(self, path: str) -> tuple[str, list[str]] | None:
        for template, pattern, methods in self.paths:
            if pattern.match(path):
                return template, methods
        return None

    def templates(self) -> list[str]:
        return [template for template, _, _ in self.paths]


def _media_problem(request: ConnexionRequest, exc: ProblemException) -> ConnexionResponse:
    media = request.headers.get("content-type") or "none"
    expected = re.findall(r"'([^']+)'", str(exc.detail or ""))
    wanted = " or ".join(expected) if expected else "a media type the operation accepts"
    title = "unsupported media type"
    return problem(
        415,
        title,
        f"the body's media type is {media}; send {wanted} (set the Content-Type header)",
        type=slug(title),
        ext={"errors": [{"path": "/", "message": f"media type {media} is not accepted; use {wanted}"}]},
    )


def framework_problem(routes: Routes) -> Any:
    """The handler for ``HTTPException`` (Connexion's problems are a kind of it)."""

    def handle(request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
        assert isinstance(exc, HTTPException)
        if isinstance(exc, ProblemException) and str(exc.type or "").startswith(PROBLEM_BASE):
            return exc.to_problem()  # already sedo's (validators.py)
        if isinstance(exc, UnsupportedMediaTypeProblem):
            return _media_problem(request, exc)
        path = request.url.path if hasattr(request, "url") else str(request.scope.get("path", ""))
        status = exc.status_code
        if status == 404:
            title = "not found"
            samples = ", ".join(routes.templates()[:4])
            detail = f"there is no {path}; the API's paths are in openapi/sedo.yaml (such as {samples})"
            return problem(404, title, detail, type=slug(title))
        if status == 405:
            title = "method not allowed"
            found = routes.methods(path)
            allowed = found[1] if found else []
            detail = f"{request.method} is not allowed on {path}; use {', '.join(allowed) or 'another path'}"
            headers = {"Allow": ", ".join(allowed)} if allowed else None
            return problem(405, title, detail, type=slug(title), headers=headers)
        title = str(getattr(exc, "title", None) or HTTP_STATUS_CODES.get(status, "error")).lower()
        if status >= 500:
            log.error("request failed: %r", exc)
            return problem(status, title, "the request could not be served; retry later", type=slug(title))
        detail = str(exc.detail or title)
        return problem(status, title, detail, type=slug(title), headers=getattr(exc, "headers", None))

    return handle


def internal_error(_request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    log.error("unexpected error", exc_info=exc)
    title = "internal error"
    return problem(
        500, title, "sedo failed to handle the request; retry, and report it if it persists", type=slug(title)
    )


def aws_problem(request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    """AWS failing for now (throttled past botocore's retries, a 5xx, a timeout) is a 503 the
    client may retry after ``Retry-After``; any other AWS error is sedo's own fault (500)."""
    if not transient(exc):
        return internal_error(request, exc)
    log.warning("request failed, AWS is busy or unreachable: %s", exc)
    title = "service unavailable"
    detail = "sedo's storage or queue is busy; nothing was left half-done, retry after Retry-After seconds"
    return problem(503, title, detail, type=slug(title), headers={"Retry-After": str(Unavailable.retry_after)})
