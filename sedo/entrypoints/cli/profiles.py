"""Where the CLI finds sedo: ``SEDO_URL``, ``SEDO_TOKEN`` (and ``SEDO_TENANT``), or a profile.

Profiles live in ``$SEDO_CONFIG``, else ``$XDG_CONFIG_HOME/sedo/config.toml``, else
``~/.config/sedo/config.toml``::

    default = "local"

    [profiles.local]
    url = "http://127.0.0.1:3000"
    token = "eyJ..."
    tenant = "123"          # optional: a token granting one tenant names it

Order: command-line options, then an explicitly chosen profile (``--profile`` or
``SEDO_PROFILE``), then the environment, then the default profile. The tenant, when
nothing names it, is the only tenant the token grants.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sedo.entrypoints.cli.output import OK, UsageProblem, emit_json


@dataclass(frozen=True)
class Target:
    url: str
    token: str | None
    tenant: str
    source: str


def config_path() -> Path:
    if os.environ.get("SEDO_CONFIG"):
        return Path(os.environ["SEDO_CONFIG"])
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "sedo" / "config.toml"


def _load(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UsageProblem(f"cannot read the config file {path}: {exc}; fix or remove it") from None


def _profile(document: dict[str, Any], name: str, path: Path) -> dict[str, Any]:
    profiles = document.get("profiles") or {}
    if name not in profiles or not isinstance(profiles[name], dict):
        known = ", ".join(sorted(profiles)) or "none"
        raise UsageProblem(f"no profile {name!r} in {path} (profiles there: {known})")
    return dict(profiles[name])


def token_tenants(token: str) -> list[str]:
    """The tenants a token grants, read without verifying it (the API verifies)."""
    import jwt

    from sedo.entrypoints.cli.tokens import DEFAULT_TENANTS_CLAIM, parse_tenants_claim

    try:
        claims = jwt.decode(token, options={"verify_signature": False})
        return sorted(parse_tenants_claim(claims.get(DEFAULT_TENANTS_CLAIM, {})))
    except (jwt.PyJWTError, ValueError):
        return []


def resolve(
    url: str | None = None, token: str | None = None, tenant: str | None = None, profile: str | None = None
) -> Target:
    path = config_path()
    document = _load(path)
    chosen = profile or os.environ.get("SEDO_PROFILE") or None
    values: dict[str, Any] = {}
    source = "environment"
    if chosen:
        values = _profile(document, chosen, path)
        source = f"profile {chosen!r} of {path}"
    env = {
        "url": os.environ.get("SEDO_URL"),
        "token": os.environ.get("SEDO_TOKEN"),
        "tenant": os.environ.get("SEDO_TENANT"),
    }
    for key, value in env.items():
        if value and not values.get(key):
            values[key] = value
    default = document.get("default")
    if not chosen and isinstance(default, str) and not values.get("url"):
        values = {**_profile(document, default, path), **{k: v for k, v in values.items() if v}}
        source = f"default profile {default!r} of {path}"
    for key, value in {"url": url, "token": token, "tenant": tenant}.items():
        if value:
            values[key] = value
    if not values.get("url"):
        raise UsageProblem(
            "no sedo URL: export SEDO_URL (make run prints it, e.g. export SEDO_URL=http://127.0.0.1:3000), "
            f"pass --url, or add a profile to {path}"
        )
    found_token = str(values["token"]) if values.get("token") else None
    found_tenant = str(values.get("tenant") or "")
    if not found_tenant:
        granted = token_tenants(found_token) if found_token else []
        if len(granted) != 1:
            why = f"the token grants {', '.join(granted)}" if granted else "no token names one"
            raise UsageProblem(f"which tenant? {why}: export SEDO_TENANT, or pass --tenant")
        found_tenant = granted[0]
    return Target(str(values["url"]), found_token, found_tenant, source)


def connect(ctx: Any) -> Any:
    """A :class:`~sedo.client.SedoClient` for the group's options (``ctx.obj``)."""
    from sedo.client import SedoClient

    options = (ctx.find_root().obj or {}) if ctx is not None else {}
    target = resolve(options.get("url"), options.get("token"), options.get("tenant"), options.get("profile"))
    return SedoClient(target.url, target.token, target.tenant)


def answer(ctx: Any, as_json: bool, fetch: Callable[[Any], Any], render: Callable[[Any], None]) -> int:
    """Call the API once; print its JSON (``--json``) or ``render`` it."""
    with connect(ctx) as client:
        found = fetch(client)
    if as_json:
        emit_json(found)
    else:
        render(found)
    return OK
