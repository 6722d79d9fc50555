"""Verifying bearer tokens: signature, expiry, issuer and audience, then the tenants claim.

A token is a JWT signed with an asymmetric key (:data:`ASYMMETRIC_ALGORITHMS`; never
``none`` or HMAC), with ``exp``, ``iss`` equal to the configured issuer, and the
configured audience in ``aud`` (or, for Cognito access tokens, which carry no
``aud``, in ``client_id``). Keys: a fixed PEM public key, or the issuer's JWKS (its
URL given, or found through ``<issuer>/.well-known/openid-configuration``), fetched
on first use and cached for the life of the process.

Every refusal is an :class:`~sedo.auth.errors.AuthError` 401 whose message says what
is wrong; a key set that cannot be fetched is :class:`~sedo.domain.errors.Unavailable`
(503), a key that cannot be used a :class:`~sedo.auth.errors.ConfigurationError`.

PyJWT and cryptography are imported on first use (constructing a verifier imports them).
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

from sedo.auth.errors import ConfigurationError, unauthenticated
from sedo.auth.grants import Principal, parse_admin_claim, parse_tenants_claim
from sedo.config import DEFAULT_ADMIN_CLAIM, DEFAULT_LEEWAY_SECONDS, DEFAULT_TENANTS_CLAIM
from sedo.domain.errors import Unavailable
from sedo.domain.limits import MAX_TOKEN_LENGTH

log = logging.getLogger("sedo.auth")

#: Asymmetric algorithms only: HMAC would let anyone who knows the public key sign.
ASYMMETRIC_ALGORITHMS = frozenset(
    {"ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "EdDSA"}
)
#: The algorithm of each elliptic curve sedo accepts (cryptography's curve names).
EC_ALGORITHMS = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}
#: The algorithms of an RSA key (2048 bits at least); sedo signs with the first.
RSA_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")


def _algorithms_for(key: Any) -> list[str]:
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in EC_ALGORITHMS:
            raise ConfigurationError(f"the JWT public key uses the curve {key.curve.name}; use P-256, P-384 or P-521")
        return [EC_ALGORITHMS[key.curve.name]]
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 2048:
            raise ConfigurationError(f"the JWT public key is RSA-{key.key_size}; use at least 2048 bits")
        return list(RSA_ALGORITHMS)
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
        admin_claim: str = DEFAULT_ADMIN_CLAIM,
    ) -> None:
        self.admin_claim = admin_claim
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
        """The verified caller: the token's subject and the grants of its tenants claim."""
        claims = self.verify(token)
        value = claims.get(self.tenants_claim)
        if value is None:
            tenants: dict[str, str] = {}
        else:
            try:
                tenants = parse_tenants_claim(value, self.tenants_claim)
            except ValueError as exc:
                raise unauthenticated(str(exc)) from None
        try:
            admin = parse_admin_claim(claims.get(self.admin_claim), self.admin_claim)
        except ValueError as exc:
            raise unauthenticated(str(exc)) from None
        subject = claims.get("sub")
        return Principal(subject if isinstance(subject, str) else None, tenants, claims, admin=admin)


def _unavailable(detail: str) -> Exception:
    log.warning("token verification unavailable: %s", detail)
    return Unavailable(detail)


def _check_fetchable(url: str) -> None:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    local = parts.hostname in ("127.0.0.1", "localhost", "::1")
    if parts.scheme != "https" and not (parts.scheme == "http" and local):
        raise _unavailable(f"{url}: keys are only fetched over https")


__all__ = ["ASYMMETRIC_ALGORITHMS", "EC_ALGORITHMS", "RSA_ALGORITHMS", "TokenVerifier"]
