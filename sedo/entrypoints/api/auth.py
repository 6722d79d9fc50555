"""Who may call the API: bearer JWTs naming tenants and a role per tenant.

Every operation but ``GET /sedo/health`` needs ``Authorization: Bearer <JWT>``
(openapi/sedo.yaml declares the scheme; Connexion's security middleware calls
:meth:`TokenVerifier.token_info` before a request is validated or handled).

The token
---------
A JWT signed with an asymmetric key (ES256/384/512, RS256/384/512, PS256/384/512,
EdDSA; never ``none`` or HMAC), with ``exp``, ``iss`` equal to the configured
issuer, and the configured audience in ``aud`` (or, for Cognito access tokens,
which carry no ``aud``, in ``client_id``). Its tenants claim (``sedo:tenants`` by
default; ``SEDO_JWT_TENANTS_CLAIM`` renames it) grants roles per tenant, either as
an object or, for identity providers that emit only strings (Cognito custom
attributes), as a string of ``tenant:role`` pairs::

    "sedo:tenants": {"123": "author", "456": "viewer"}
    "sedo:tenants": "123:author 456:viewer"          (spaces or commas between pairs)

Roles, each including the one before: ``viewer`` (read), ``operator`` (also start,
cancel, complete/fail/heartbeat steps), ``author`` (also create, update and delete
definitions). :data:`OPERATION_ROLES` names the least role of each operation, for
the tenant in its path; that tenant is the only one the request touches.

Answers: no token, or one that is malformed, expired, not yet valid, wrongly
signed, or for another issuer or audience: 401 with ``WWW-Authenticate: Bearer``.
A valid token that does not grant the path's tenant, or grants a lesser role: 403.

Verification keys
-----------------
- Locally: ``make run`` creates an EC P-256 key pair (``$SEDO_LOCAL_DIR/jwt-signing-key.pem``),
  verifies with its public key (issuer ``sedo-local``, audience ``sedo``), and
  prints a token; ``sedo token`` mints more with the same key.
- On AWS: ``SEDO_JWT_ISSUER`` and ``SEDO_JWT_AUDIENCE``. The signing keys come from
  the issuer's JWKS, found through ``<issuer>/.well-known/openid-configuration``
  (or ``SEDO_JWT_JWKS_URL``), fetched on first use and cached for the life of the
  Lambda container. API Gateway's JWT authorizer checks the same token first;
  sedo checks it again, and checks tenants and roles, which the authorizer cannot.
- ``SEDO_JWT_PUBLIC_KEY`` (PEM) or ``SEDO_JWT_PUBLIC_KEY_FILE``: a fixed key instead of JWKS.

There is no switch that turns authentication off: without a way to verify tokens
the API refuses to start (:class:`ConfigurationError`).

Imports of PyJWT and cryptography are deferred to first use, so importing this
module (the CLI does) stays cheap.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sedo.config import DEFAULT_LEEWAY_SECONDS, DEFAULT_TENANTS_CLAIM
from sedo.domain.limits import MAX_LOCAL_TTL_SECONDS, MAX_TOKEN_LENGTH

if TYPE_CHECKING:
    from sedo.config import Settings

log = logging.getLogger("sedo.auth")

ROLES = ("viewer", "operator", "author")
_RANK = {role: rank for rank, role in enumerate(ROLES)}

#: The least role each operation needs for the tenant in its path. An operation
#: missing here needs ``author`` (fail closed); a test checks every operation of the
#: spec is listed, so a new operation gets a deliberate role.
OPERATION_ROLES: dict[str, str] = {
    "list_definitions": "viewer",
    "get_definition": "viewer",
    "create_definition": "author",
    "update_definition": "author",
    "delete_definition": "author",
    "list_executions": "viewer",
    "get_execution": "viewer",
    "get_history": "viewer",
    "list_iterations": "viewer",
    "execute": "operator",
    "cancel_execution": "operator",
    "complete_step": "operator",
    "fail_step": "operator",
    "heartbeat_step": "operator",
}
DEFAULT_ROLE = "author"

LOCAL_ISSUER = "sedo-local"
LOCAL_AUDIENCE = "sedo"
LOCAL_SUBJECT = "local-developer"
SIGNING_KEY_FILE = "jwt-signing-key.pem"

TENANT_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")

#: Asymmetric algorithms only: HMAC would let anyone who knows the public key sign.
ASYMMETRIC_ALGORITHMS = frozenset(
    {"ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "EdDSA"}
)


class ConfigurationError(RuntimeError):
    """The API cannot verify tokens as configured; the message says what to set."""


class AuthError(Exception):
    """A request that may not proceed: 401 (who are you?) or 403 (not this)."""

    def __init__(self, status: int, detail: str, error: str | None = None) -> None:
        super().__init__(detail)
        self.status = self.status_code = status  # Connexion picks the most specific by status_code
        self.detail = detail
        self.error = error

    @property
    def title(self) -> str:
        return "unauthorized" if self.status == 401 else "forbidden"

    @property
    def challenge(self) -> str:
        """The ``WWW-Authenticate`` value (RFC 6750 §3)."""
        parts = ['Bearer realm="sedo"']
        if self.error:
            parts.append(f'error="{self.error}"')
            description = re.sub(r'[^\x20-\x7e]|["\\]', "'", self.detail)[:300]
            parts.append(f'error_description="{description}"')
        return ", ".join(parts)


def unauthenticated(detail: str, error: str | None = "invalid_token") -> AuthError:
    return AuthError(401, detail, error)


def forbidden(detail: str) -> AuthError:
    return AuthError(403, detail, "insufficient_scope")


MISSING_TOKEN = (
    "this operation needs 'Authorization: Bearer <token>' "  # noqa: S105 - a message, not a secret
    "(locally, 'make run' prints one and 'sedo token --tenant <id> --role <role>' mints more)"
)


# --- the tenants claim ------------------------------------------------------------


def parse_tenants_claim(value: Any, claim: str = DEFAULT_TENANTS_CLAIM) -> dict[str, str]:
    """The grants in a tenants claim: ``{"123": "author"}`` or ``"123:author 456:viewer"``.

    ValueError, with a message naming what is wrong, for anything else: an unknown
    role, a tenant id that is not one, a tenant named twice.
    """
    if isinstance(value, str) and value.lstrip().startswith("{"):
        try:
            value = json.loads(value)  # a JSON object some IdPs pass through as a string
        except ValueError:
            raise ValueError(f"the {claim!r} claim is neither 'tenant:role' pairs nor a JSON object") from None
    pairs: list[tuple[Any, Any]]
    if isinstance(value, Mapping):
        pairs = list(value.items())
    elif isinstance(value, str):
        pairs = []
        for item in value.replace(",", " ").split():
            tenant, sep, role = item.rpartition(":")
            if not sep:
                raise ValueError(f"the {claim!r} claim has {item!r}; write 'tenant:role', e.g. '123:author'")
            pairs.append((tenant, role))
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        return parse_tenants_claim(" ".join(value), claim)
    else:
        raise ValueError(f"the {claim!r} claim must be an object or a string of 'tenant:role' pairs")
    grants: dict[str, str] = {}
    for tenant, role in pairs:
        if not isinstance(tenant, str) or not TENANT_PATTERN.match(tenant):
            raise ValueError(f"the {claim!r} claim names {tenant!r}, which is not a tenant id")
        if not isinstance(role, str) or role not in _RANK:
            raise ValueError(f"the {claim!r} claim gives {tenant!r} the role {role!r}; roles are {', '.join(ROLES)}")
        if tenant in grants:
            raise ValueError(f"the {claim!r} claim names tenant {tenant!r} twice")
        grants[tenant] = role
    return grants


def format_tenants_claim(grants: Mapping[str, str]) -> str:
    """The string form, for identity providers that emit strings only."""
    return " ".join(f"{tenant}:{role}" for tenant, role in grants.items())


@dataclass(frozen=True)
class Principal:
    """The verified caller."""

    subject: str | None
    tenants: Mapping[str, str]
    claims: Mapping[str, Any] = field(repr=False, default_factory=dict)

    def role_for(self, tenant_id: str) -> str | None:
        return self.tenants.get(tenant_id)


def required_role(operation_id: str | None) -> str:
    return OPERATION_ROLES.get(operation_id or "", DEFAULT_ROLE)


def authorize(principal: Principal, operation_id: str | None, tenant_id: str | None) -> None:
    """The one place roles are enforced; :class:`AuthError` 403 when the caller may not."""
    needed = required_role(operation_id)
    if tenant_id is None:
        # An operation outside any tenant: the role must be held for at least one.
        if any(_RANK[role] >= _RANK[needed] for role in principal.tenants.values()):
            return
        raise forbidden(f"{operation_id} needs the role {needed!r} for some tenant; this token grants none")
    role = principal.role_for(tenant_id)
    if role is None:
        raise forbidden(f"this token does not grant access to tenant {tenant_id!r}")
    if _RANK[role] < _RANK[needed]:
        raise forbidden(
            f"{operation_id} needs the role {needed!r} for tenant {tenant_id!r}; this token grants {role!r}"
        )


# --- verification -----------------------------------------------------------------


def _algorithms_for(key: Any) -> list[str]:
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

    if isinstance(key, ec.EllipticCurvePublicKey):
        bits = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}
        if key.curve.name not in bits:
            raise ConfigurationError(f"the JWT public key uses the curve {key.curve.name}; use P-256, P-384 or P-521")
        return [bits[key.curve.name]]
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 2048:
            raise ConfigurationError(f"the JWT public key is RSA-{key.key_size}; use at least 2048 bits")
        return ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"]
    if isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
        return ["EdDSA"]
    raise ConfigurationError(f"the JWT public key is a {type(key).__name__}; use an EC, RSA or Ed25519 key")


class TokenVerifier:
    """Verifies bearer tokens with a fixed public key or the issuer's JWKS (cached)."""

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        public_key_pem: str | None = None,
        jwks_url: str | None = None,
        tenants_claim: str = DEFAULT_TENANTS_CLAIM,
        leeway_seconds: int = DEFAULT_LEEWAY_SECONDS,
        discovery_timeout: float = 5.0,
    ) -> None:
        if not issuer or not audience:
            raise ConfigurationError("token verification needs both an issuer and an audience")
        self.issuer = issuer
        #: Accepted audiences (SEDO_JWT_AUDIENCE may list several, comma-separated).
        self.audiences = tuple(a.strip() for a in audience.split(",") if a.strip())
        if not self.audiences:
            raise ConfigurationError("token verification needs an audience")
        self.audience = " or ".join(repr(a) for a in self.audiences)
        self.tenants_claim = tenants_claim
        self.leeway = leeway_seconds
        self.discovery_timeout = discovery_timeout
        self._jwks_url = jwks_url
        self._jwks_client: Any = None
        self._lock = threading.Lock()
        self._key: Any = None
        self._algorithms: list[str] = []
        if public_key_pem:
            from cryptography.hazmat.primitives.serialization import load_pem_public_key

            try:
                self._key = load_pem_public_key(public_key_pem.encode())
            except ValueError as exc:
                raise ConfigurationError(f"the JWT public key is not a PEM public key: {exc}") from None
            self._algorithms = _algorithms_for(self._key)
        import jwt  # noqa: F401 - imported at startup rather than on the first request

    @property
    def uses_jwks(self) -> bool:
        return self._key is None

    # -- keys ------------------------------------------------------------------------

    def _discover_jwks_url(self) -> str:
        import urllib.request

        url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
        _check_fetchable(url)
        try:
            with urllib.request.urlopen(url, timeout=self.discovery_timeout) as response:  # noqa: S310 - scheme checked
                document = json.loads(response.read(1024 * 1024))
        except (OSError, ValueError) as exc:
            raise _unavailable(f"cannot read the issuer's OpenID configuration at {url}: {exc}") from exc
        if not isinstance(document, dict) or document.get("issuer") != self.issuer:
            raise _unavailable(f"{url} is not the OpenID configuration of {self.issuer!r}")
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str):
            raise _unavailable(f"{url} names no jwks_uri")
        _check_fetchable(jwks_uri)
        return jwks_uri

    def _client(self) -> Any:
        with self._lock:
            if self._jwks_client is None:
                from jwt import PyJWKClient

                url = self._jwks_url or self._discover_jwks_url()
                self._jwks_client = PyJWKClient(
                    url, cache_keys=True, lifespan=3600, timeout=self.discovery_timeout, cooldown_duration=30
                )
            return self._jwks_client

    def _signing_key(self, token: str) -> tuple[Any, list[str]]:
        if self._key is not None:
            return self._key, self._algorithms
        import jwt

        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError:
            raise unauthenticated("the token is not a well-formed JWT") from None
        algorithm = header.get("alg")
        if algorithm not in ASYMMETRIC_ALGORITHMS:
            raise unauthenticated(f"the token is signed with {algorithm!r}; sedo accepts asymmetric signatures only")
        try:
            jwk = self._client().get_signing_key_from_jwt(token)
        except jwt.PyJWKClientConnectionError as exc:
            raise _unavailable(f"cannot fetch the issuer's signing keys: {exc}") from exc
        except (jwt.PyJWKClientError, jwt.DecodeError) as exc:
            raise unauthenticated(f"the token's signing key is not one of the issuer's: {exc}") from None
        expected = jwk.algorithm_name
        if expected and expected != algorithm:
            raise unauthenticated(f"the token says {algorithm!r} but its key is for {expected!r}")
        return jwk.key, [algorithm]

    # -- tokens ------------------------------------------------------------------------

    def verify(self, token: str) -> dict[str, Any]:
        """The token's claims once signature, expiry, issuer and audience check out."""
        import jwt

        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise unauthenticated("the token is empty or too long")
        key, algorithms = self._signing_key(token)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iss"], "verify_aud": False},
            )
        except jwt.ExpiredSignatureError:
            raise unauthenticated("the token has expired; get a new one") from None
        except jwt.ImmatureSignatureError:
            raise unauthenticated("the token is not valid yet (nbf or iat is in the future)") from None
        except jwt.InvalidIssuerError:
            raise unauthenticated(f"the token was not issued by {self.issuer!r}") from None
        except jwt.MissingRequiredClaimError as exc:
            raise unauthenticated(f"the token has no {exc.claim!r} claim") from None
        except jwt.InvalidAlgorithmError:
            raise unauthenticated(f"the token is not signed with {', '.join(algorithms)}") from None
        except jwt.InvalidSignatureError:
            raise unauthenticated("the token's signature does not verify") from None
        except jwt.DecodeError:
            raise unauthenticated("the token is not a well-formed JWT") from None
        except jwt.InvalidTokenError as exc:
            raise unauthenticated(f"the token is not valid: {exc}") from None
        audience = claims.get("aud")
        if audience is None:
            named = [claims.get("client_id")]  # Cognito access tokens carry client_id, not aud
        else:
            named = audience if isinstance(audience, list) else [audience]
        if not any(a in self.audiences for a in named):
            raise unauthenticated(f"the token is not meant for audience {self.audience}")
        return dict(claims)

    def principal(self, token: str) -> Principal:
        claims = self.verify(token)
        value = claims.get(self.tenants_claim)
        if value is None:
            tenants: dict[str, str] = {}
        else:
            try:
                tenants = parse_tenants_claim(value, self.tenants_claim)
            except ValueError as exc:
                raise unauthenticated(str(exc)) from None
        subject = claims.get("sub")
        return Principal(subject if isinstance(subject, str) else None, tenants, claims)

    async def token_info(self, token: str, request: Any) -> dict[str, Any]:
        """Connexion's bearer-info function: verify, then authorize the routed operation."""
        if self.uses_jwks:
            from starlette.concurrency import run_in_threadpool

            principal = await run_in_threadpool(self.principal, token)  # may fetch keys
        else:
            principal = self.principal(token)
        scope = request.scope
        operation_id = scope.get("extensions", {}).get("connexion_routing", {}).get("operation_id")
        tenant_id = scope.get("path_params", {}).get("tenantId")
        authorize(principal, operation_id, tenant_id)
        return {"sub": principal.subject, "tenants": dict(principal.tenants)}


def _unavailable(detail: str) -> Exception:
    from sedo.domain.errors import Unavailable

    log.warning("token verification unavailable: %s", detail)
    return Unavailable(detail)


def _check_fetchable(url: str) -> None:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    local = parts.hostname in ("127.0.0.1", "localhost", "::1")
    if parts.scheme != "https" and not (parts.scheme == "http" and local):
        raise _unavailable(f"{url}: keys are only fetched over https")


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
    )


def security_map(verifier: TokenVerifier) -> dict[str, type]:
    """Connexion's bearer handler, with the verifier as its bearer-info function."""
    from connexion.security import BearerSecurityHandler

    class SedoBearerHandler(BearerSecurityHandler):  # type: ignore[misc]
        def _resolve_func(self, security_scheme: Any) -> Any:
            return verifier.token_info

    return {"bearer": SedoBearerHandler}


# --- local keys and tokens (make run, sedo token, tests) -------------------------------


def local_signing_key_path(settings: Settings) -> Path:
    return settings.jwt_signing_key_file or settings.local_dir / SIGNING_KEY_FILE


def local_verification(settings: Settings, private_pem: bytes) -> Settings:
    """``settings`` that verify tokens signed by the local key (issuer sedo-local, audience sedo)."""
    from dataclasses import replace

    return replace(
        settings,
        jwt_issuer=LOCAL_ISSUER,
        jwt_audience=LOCAL_AUDIENCE,
        jwt_public_key=public_key_pem(private_pem),
        jwt_jwks_url=None,
    )


def ensure_signing_key(path: Path) -> bytes:
    """The PEM private key at ``path``, created (EC P-256, mode 0600) if absent."""
    if path.exists():
        return load_signing_key(path)
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as out:
            out.write(pem)
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)  # atomic, and never replaces a key another process just made
    finally:
        temporary.unlink(missing_ok=True)
    return load_signing_key(path)


def load_signing_key(path: Path) -> bytes:
    try:
        pem = path.read_bytes()
    except FileNotFoundError:
        raise ConfigurationError(
            f"no signing key at {path}: run 'make run' once (it creates one), or point SEDO_LOCAL_DIR "
            "(or SEDO_JWT_SIGNING_KEY_FILE) at the directory (file) the running stack uses"
        ) from None
    except OSError as exc:
        raise ConfigurationError(f"cannot read the signing key {path}: {exc.strerror}") from None
    if b"PRIVATE KEY" not in pem:
        raise ConfigurationError(f"{path} does not hold a PEM private key")
    return pem


def _private_key(pem: bytes) -> Any:
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        return load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigurationError(f"the signing key is not a usable PEM private key: {exc}") from None


def public_key_pem(private_pem: bytes) -> str:
    from cryptography.hazmat.primitives import serialization

    public = _private_key(private_pem).public_key()
    encoded: bytes = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return encoded.decode()


def key_id(private_pem: bytes) -> str:
    """RFC 7638 thumbprint of the public key: what IdPs put in ``kid``."""
    import base64
    import hashlib

    from jwt.algorithms import ECAlgorithm, RSAAlgorithm

    public = _private_key(private_pem).public_key()
    from cryptography.hazmat.primitives.asymmetric import ec

    jwk = json.loads(
        ECAlgorithm.to_jwk(public) if isinstance(public, ec.EllipticCurvePublicKey) else RSAAlgorithm.to_jwk(public)
    )
    members = {k: jwk[k] for k in ("crv", "e", "kty", "n", "x", "y") if k in jwk}
    digest = hashlib.sha256(json.dumps(members, separators=(",", ":"), sort_keys=True).encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def check_grants(grants: Mapping[str, str]) -> None:
    """ValueError naming a tenant id or role that a token may not carry."""
    for tenant, role in grants.items():
        if not TENANT_PATTERN.match(tenant):
            raise ValueError(f"{tenant!r} is not a tenant id (letters, digits, '_' and '-', at most 64)")
        if not isinstance(role, str) or role not in _RANK:
            raise ValueError(f"{role!r} is not a role; roles are {', '.join(ROLES)}")


def mint_token(
    private_pem: bytes,
    grants: Mapping[str, str],
    ttl_seconds: int = 12 * 3600,
    *,
    issuer: str = LOCAL_ISSUER,
    audience: str = LOCAL_AUDIENCE,
    subject: str = LOCAL_SUBJECT,
    tenants_claim: str = DEFAULT_TENANTS_CLAIM,
    now: float | None = None,
    extra: Mapping[str, Any] | None = None,
) -> str:
    """A signed token granting ``grants`` ({tenant: role}); ValueError for a bad grant."""
    import jwt
    from cryptography.hazmat.primitives.asymmetric import ec

    check_grants(grants)
    if ttl_seconds <= 0:
        raise ValueError("the token's lifetime must be positive")
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "iat": issued,
        "nbf": issued,
        "exp": issued + int(ttl_seconds),
        tenants_claim: dict(grants),
        **(extra or {}),
    }
    key = _private_key(private_pem)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        algorithm = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}[key.curve.name]
    else:
        algorithm = "RS256"
    return str(jwt.encode(claims, key, algorithm=algorithm, headers={"kid": key_id(private_pem)}))


_TTL = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_ttl(text: str) -> int:
    """``"12h"``, ``"30m"``, ``"7d"``, ``"3600"`` -> seconds; ValueError with the rule."""
    match = _TTL.match(text)
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"{text!r} is not a lifetime: write e.g. 3600, 30m, 12h or 7d")
    seconds = int(match.group(1)) * _UNITS[match.group(2)]
    if seconds > MAX_LOCAL_TTL_SECONDS:
        raise ValueError(f"a local token lives at most {MAX_LOCAL_TTL_SECONDS // 86400} days")
    return seconds


__all__ = [
    "OPERATION_ROLES",
    "ROLES",
    "AuthError",
    "ConfigurationError",
    "Principal",
    "TokenVerifier",
    "authorize",
    "ensure_signing_key",
    "load_signing_key",
    "local_signing_key_path",
    "mint_token",
    "parse_tenants_claim",
    "parse_ttl",
    "public_key_pem",
    "security_map",
    "verifier_from_settings",
]
