"""The local stack's signing key, and the tokens ``make run`` and ``sedo token`` mint with it.

``make run`` creates an EC P-256 key pair once (``$SEDO_LOCAL_DIR/jwt-signing-key.pem``,
mode 0600, or ``SEDO_JWT_SIGNING_KEY_FILE``), verifies tokens with its public key
(issuer :data:`LOCAL_ISSUER`, audience :data:`LOCAL_AUDIENCE`: see
:func:`local_verification`) and prints a token; ``sedo token`` mints more with the
same key. Tests mint theirs the same way. Deleting the key revokes every local token.

PyJWT and cryptography are imported on first use, so importing this module (the CLI
does) stays cheap.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sedo.auth.errors import ConfigurationError
from sedo.auth.grants import check_grants
from sedo.auth.verifier import EC_ALGORITHMS, RSA_ALGORITHMS
from sedo.config import DEFAULT_ADMIN_CLAIM, DEFAULT_TENANTS_CLAIM
from sedo.domain.limits import MAX_LOCAL_TTL_SECONDS

if TYPE_CHECKING:
    from sedo.config import Settings

LOCAL_ISSUER = "sedo-local"
LOCAL_AUDIENCE = "sedo"
LOCAL_SUBJECT = "local-developer"
SIGNING_KEY_FILE = "jwt-signing-key.pem"
#: The lifetime of a minted token unless told otherwise (the one `make run` prints): a working day.
LOCAL_TOKEN_TTL_SECONDS = 12 * 3600


# --- the key ----------------------------------------------------------------------


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

    from cryptography.hazmat.primitives.asymmetric import ec
    from jwt.algorithms import ECAlgorithm, RSAAlgorithm

    public = _private_key(private_pem).public_key()
    jwk = json.loads(
        ECAlgorithm.to_jwk(public) if isinstance(public, ec.EllipticCurvePublicKey) else RSAAlgorithm.to_jwk(public)
    )
    members = {k: jwk[k] for k in ("crv", "e", "kty", "n", "x", "y") if k in jwk}
    digest = hashlib.sha256(json.dumps(members, separators=(",", ":"), sort_keys=True).encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


# --- tokens -----------------------------------------------------------------------


def mint_token(
    private_pem: bytes,
    grants: Mapping[str, str],
    ttl_seconds: int = LOCAL_TOKEN_TTL_SECONDS,
    *,
    issuer: str = LOCAL_ISSUER,
    audience: str = LOCAL_AUDIENCE,
    subject: str = LOCAL_SUBJECT,
    tenants_claim: str = DEFAULT_TENANTS_CLAIM,
    now: float | None = None,
    extra: Mapping[str, Any] | None = None,
    admin: bool = False,
    admin_claim: str = DEFAULT_ADMIN_CLAIM,
) -> str:
    """A signed token granting ``grants`` ({tenant: role}), and with ``admin`` the platform admin
    claim (``"sedo:admin": true``); ValueError for a bad grant."""
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
        **({admin_claim: True} if admin else {}),
        **(extra or {}),
    }
    key = _private_key(private_pem)
    algorithm = EC_ALGORITHMS[key.curve.name] if isinstance(key, ec.EllipticCurvePrivateKey) else RSA_ALGORITHMS[0]
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
    "LOCAL_AUDIENCE",
    "LOCAL_ISSUER",
    "LOCAL_SUBJECT",
    "LOCAL_TOKEN_TTL_SECONDS",
    "SIGNING_KEY_FILE",
    "ensure_signing_key",
    "key_id",
    "load_signing_key",
    "local_signing_key_path",
    "local_verification",
    "mint_token",
    "parse_ttl",
    "public_key_pem",
]
