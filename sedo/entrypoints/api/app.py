"""The Connexion app: the same one behind ``make run`` and behind API Gateway."""

from __future__ import annotations

import logging
from typing import Any

import connexion
from botocore.exceptions import BotoCoreError, ClientError
from connexion.exceptions import OAuthProblem, ProblemException
from connexion.lifecycle import ConnexionRequest, ConnexionResponse
from connexion.middleware import MiddlewarePosition
from connexion.problem import problem
from connexion.resolver import Resolver
from starlette.exceptions import HTTPException

from sedo.auth.errors import AuthError
from sedo.bootstrap import ApiServices
from sedo.config import Settings
from sedo.domain.errors import InvalidDefinition, Problem, SedoError, TooManyRequests, Unavailable
from sedo.entrypoints.api import auth, static
from sedo.entrypoints.api.guards import BodyGuard, PathGuard
from sedo.entrypoints.api.handlers import Handlers
from sedo.entrypoints.api.problems import Routes, aws_problem, framework_problem, internal_error
from sedo.entrypoints.api.validators import VALIDATOR_MAP

log = logging.getLogger("sedo.api")
# Connexion warns on every request to an operation that accepts JSON and YAML.
logging.getLogger("connexion.operations.openapi3").setLevel(logging.ERROR)

PROBLEM_BASE = "https://sedo.dev/problems/"


def _slug(title: str) -> str:
    return PROBLEM_BASE + "-".join(title.lower().replace("/", " ").split())


def sedo_problem(_request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    assert isinstance(exc, SedoError)
    ext: dict[str, Any] = {}
    if isinstance(exc, InvalidDefinition):
        ext["errors"] = [{"path": p.path or "/", "message": p.message} for p in exc.problems]
    elif "errors" in exc.extra:
        ext["errors"] = [
            {"path": e.path or "/", "message": e.message} if isinstance(e, Problem) else {"message": e}
            for e in exc.extra["errors"]
        ]
    if exc.status >= 500:
        log.warning("request failed: %s", exc.detail)
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, (TooManyRequests, Unavailable)) else None
    return problem(exc.status, exc.title, exc.detail, type=_slug(exc.title), ext=ext or None, headers=headers)


def undecodable_body(_request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    return problem(
        400,
        "bad request",
        "the body is not valid UTF-8 text; send UTF-8 encoded JSON or YAML",
        type=_slug("bad request"),
    )


def auth_problem(_request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    """401/403 as problem+json with ``WWW-Authenticate: Bearer`` (RFC 6750)."""
    refusal = auth.as_auth_error(exc)
    headers = {"WWW-Authenticate": refusal.challenge}
    return problem(refusal.status, refusal.title, refusal.detail, type=_slug(refusal.title), headers=headers)


def too_deep(_request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    """A last line of defence: the limits stop deep nesting before any parser recurses."""
    title = "too deeply nested"
    return problem(400, title, "the request nests objects or arrays too deeply", type=_slug(title))


def create_app(services: ApiServices, settings: Settings) -> connexion.FlaskApp:
    verifier = auth.verifier_from_settings(settings)  # no way to verify tokens: refuse to start
    handlers = Handlers(services)
    app = connexion.FlaskApp(__name__, specification_dir=str(settings.openapi_path.parent))
    app.add_api(
        settings.openapi_path.name,
        resolver=Resolver(function_resolver=lambda operation_id: getattr(handlers, operation_id)),
        pythonic_params=True,
        strict_validation=True,
        validate_responses=False,
        swagger_ui_options=None,
        security_map=auth.security_map(verifier),
        validator_map=VALIDATOR_MAP,
    )
    static.register(app, settings.openapi_path)  # the console, Swagger UI and the spec: public pages
    app.add_middleware(PathGuard, position=MiddlewarePosition.BEFORE_ROUTING)
    app.add_middleware(BodyGuard, position=MiddlewarePosition.BEFORE_VALIDATION)
    app.add_error_handler(SedoError, sedo_problem)
    app.add_error_handler(UnicodeDecodeError, undecodable_body)
    app.add_error_handler(AuthError, auth_problem)
    app.add_error_handler(OAuthProblem, auth_problem)
    app.add_error_handler(RecursionError, too_deep)
    framework = framework_problem(Routes(settings.openapi_path))
    app.add_error_handler(ProblemException, framework)  # Connexion's: 415, and the validators' (already sedo's)
    app.add_error_handler(HTTPException, framework)  # Starlette's and Flask's: 404, 405
    app.add_error_handler(ClientError, aws_problem)  # botocore's: throttled or down for now -> 503
    app.add_error_handler(BotoCoreError, aws_problem)
    app.add_error_handler(Exception, internal_error)
    return app
