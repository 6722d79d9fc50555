"""The two ways authentication fails: a request that may not proceed, and a setup that cannot work."""

from __future__ import annotations

import re


class ConfigurationError(RuntimeError):
    """Tokens cannot be verified (or minted) as configured; the message says what to set."""


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


__all__ = ["AuthError", "ConfigurationError", "forbidden", "unauthenticated"]
