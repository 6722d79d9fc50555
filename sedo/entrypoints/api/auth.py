"""The API's side of authentication: Connexion's bearer handler and its 401/403 answers.

Every operation but ``GET /sedo/health`` needs ``Authorization: Bearer <JWT>``
(openapi/sedo.yaml declares the scheme; Connexion's security middleware calls the
bearer-info function of :func:`security_map` before a request is validated or
handled). The token, its tenants claim and the roles are sedo/auth/ (see
:mod:`sedo.auth`); this module wires them in:

- :func:`verifier_from_settings`: the :class:`~sedo.auth.verifier.TokenVerifier` the
  settings describe. There is no switch that turns authentication off: without a way
  to verify tokens the API refuses to start (:class:`~sedo.auth.errors.ConfigurationError`).
- :func:`security_map`: verifies the token, then :func:`~sedo.auth.grants.authorize`
  checks the routed operation's role for the tenant in its path.
- :func:`as_auth_error`: what each refusal answers. No token, or one that is
  malformed, expired, not yet valid, wrongly signed, or for another issuer or
  audience: 401 with ``WWW-Authenticate: Bearer``. A valid token that does not grant
  the path's tenant, or grants a lesser role: 403.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sedo.auth.errors import AuthError, ConfigurationError, unauthenticated
from sedo.auth.grants import authorize
from sedo.auth.verifier import TokenVerifier

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from sedo.config import Settings

MISSING_TOKEN = (
    "this operation needs 'Authorization: Bearer <token>' "  # noqa: S105 - a message, not a secret
    "(locally, 'make run' prints one and 'sedo token --tenant <id> --role <role>' mints more)"
)


def verifier_from_settings(settings: Settings) -> TokenVerifier:
    """The verifier the settings describe; :class:`ConfigurationError` says what is missing."""
    issuer, audience = settings.jwt_issuer, settings.jwt_audience
    if not issuer or not audience:
        raise ConfigurationError(
            "the sedo API needs a way to verify bearer tokens and none is configured: set SEDO_JWT_ISSUER "
            "and SEDO_JWT_AUDIENCE (keys then come from the issuer's JWKS, or from SEDO_JWT_PUBLIC_KEY / "
            "SEDO_JWT_PUBLIC_KEY_FILE). Locally, 'make run' configures this itself."
        )
    if not settings.jwt_public_key and not settings.jwt_jwks_url:
        from urllib.parse import urlsplit

        if urlsplit(issuer).scheme not in ("https", "http"):
            raise ConfigurationError(
                f"SEDO_JWT_ISSUER is {issuer!r}: with no SEDO_JWT_PUBLIC_KEY or SEDO_JWT_JWKS_URL it must be "
                "the issuer's https URL (its JWKS is found through /.well-known/openid-configuration)"
            )
    return TokenVerifier(
        issuer=issuer,
        audience=audience,
        public_key_pem=settings.jwt_public_key,
        jwks_url=settings.jwt_jwks_url,
        tenants_claim=settings.jwt_tenants_claim,
        leeway_seconds=settings.jwt_leeway_seconds,
        admin_claim=settings.jwt_admin_claim,
    )


def bearer_info(verifier: TokenVerifier) -> Callable[[str, Any], Awaitable[dict[str, Any]]]:
    """Connexion's bearer-info function: verify, then authorize the routed operation."""

    async def token_info(token: str, request: Any) -> dict[str, Any]:
        if verifier.uses_jwks:
            from starlette.concurrency import run_in_threadpool

            principal = await run_in_threadpool(verifier.principal, token)  # may fetch keys
        else:
            principal = verifier.principal(token)
        scope = request.scope
        operation_id = scope.get("extensions", {}).get("connexion_routing", {}).get("operation_id")
        tenant_id = scope.get("path_params", {}).get("tenantId")
        authorize(principal, operation_id, tenant_id)
        return {"sub": principal.subject, "tenants": dict(principal.tenants), "admin": principal.admin}

    return token_info


def security_map(verifier: TokenVerifier) -> dict[str, type]:
    """Connexion's bearer handler, with the verifier as its bearer-info function."""
    from connexion.security import BearerSecurityHandler

    info = bearer_info(verifier)

    class SedoBearerHandler(BearerSecurityHandler):  # type: ignore[misc]
        def _resolve_func(self, security_scheme: Any) -> Any:
            return info

    return {"bearer": SedoBearerHandler}


def as_auth_error(exc: Exception) -> AuthError:
    """The refusal to answer: sedo's own, or one for Connexion's (no bearer token, an unusable header)."""
    if isinstance(exc, AuthError):
        return exc
    if "invalid authorization header" in str(getattr(exc, "detail", "")).lower():
        return unauthenticated("the Authorization header is not 'Bearer <token>'", error="invalid_request")
    return AuthError(401, MISSING_TOKEN)


__all__ = ["MISSING_TOKEN", "as_auth_error", "bearer_info", "security_map", "verifier_from_settings"]
