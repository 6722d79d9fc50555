"""The one place the CLI imports the token helpers (minting for the local stack, reading claims)."""

from __future__ import annotations

from sedo.auth.errors import ConfigurationError
from sedo.auth.grants import check_grants, parse_tenants_claim
from sedo.auth.local import load_signing_key, local_signing_key_path, mint_token, parse_ttl
from sedo.config import DEFAULT_TENANTS_CLAIM

__all__ = [
    "DEFAULT_TENANTS_CLAIM",
    "ConfigurationError",
    "check_grants",
    "load_signing_key",
    "local_signing_key_path",
    "mint_token",
    "parse_tenants_claim",
    "parse_ttl",
]
