"""Roles, the tenants claim that grants them, and the one place they are enforced.

Roles, each including the one before: ``viewer`` (read), ``operator`` (also start,
cancel, pause, resume and redrive executions, run bulk operations, complete/fail/heartbeat
steps), ``author`` (also create, update and delete definitions and their aliases). :data:`OPERATION_ROLES` names the least role of each operation, for
the tenant in its path; that tenant is the only one the request touches.

A token grants roles in its tenants claim (see :mod:`sedo.auth` for its forms);
:func:`check_grants` is the rule for what a grant may be, for tokens sedo reads
(:func:`parse_tenants_claim`) and tokens it mints (``sedo token``) alike.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sedo.auth.errors import forbidden
from sedo.config import DEFAULT_ADMIN_CLAIM, DEFAULT_TENANTS_CLAIM

ROLES = ("viewer", "operator", "author")
_RANK = {role: rank for rank, role in enumerate(ROLES)}
#: Not a tenant role: the operations under ``/sedo/admin/`` need a platform admin, a token
#: whose admin claim (:data:`~sedo.config.DEFAULT_ADMIN_CLAIM`, ``"sedo:admin": true``) is true.
#: No tenant role reaches them, and being an admin grants no tenant role.
ADMIN = "admin"

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
    # events (issue 15)
    "put_events": "operator",
    "list_rejected_triggers": "viewer",
    # operating executions (issue 18)
    "list_aliases": "viewer",
    "get_alias": "viewer",
    "put_alias": "author",
    "delete_alias": "author",
    "redrive_execution": "operator",
    "pause_execution": "operator",
    "resume_execution": "operator",
    "start_bulk": "operator",
    "get_bulk": "viewer",
    # -- tenants: usage for the tenant's viewers; quotas and the usage of all for platform admins --
    "get_usage": "viewer",
    "get_quotas": ADMIN,
    "put_quotas": ADMIN,
    "admin_usage": ADMIN,
}
DEFAULT_ROLE = "author"

TENANT_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


# --- grants and the tenants claim -------------------------------------------------


def check_grant(tenant: object, role: object) -> None:
    """ValueError naming a tenant id or role that a token may not carry."""
    if not isinstance(tenant, str) or not TENANT_PATTERN.match(tenant):
        raise ValueError(f"{tenant!r} is not a tenant id (letters, digits, '_' and '-', at most 64)")
    if not isinstance(role, str) or role not in _RANK:
        raise ValueError(f"{role!r} is not a role (for tenant {tenant!r}); roles are {', '.join(ROLES)}")


def check_grants(grants: Mapping[str, str]) -> None:
    """ValueError naming the first tenant id or role that a token may not carry."""
    for tenant, role in grants.items():
        check_grant(tenant, role)


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
        try:
            check_grant(tenant, role)
        except ValueError as exc:
            raise ValueError(f"the {claim!r} claim: {exc}") from None
        if tenant in grants:
            raise ValueError(f"the {claim!r} claim names tenant {tenant!r} twice")
        grants[tenant] = role
    return grants


def parse_admin_claim(value: Any, claim: str = DEFAULT_ADMIN_CLAIM) -> bool:
    """Whether the admin claim makes its bearer a platform admin: ``true`` (or the string
    ``"true"``, as identity providers that emit only strings pass it); absent or false: not."""
    if value is None or value is False or value == "false":
        return False
    if value is True or value == "true":
        return True
    raise ValueError(f"the {claim!r} claim must be true or false")


def format_tenants_claim(grants: Mapping[str, str]) -> str:
    """The string form, for identity providers that emit strings only."""
    return " ".join(f"{tenant}:{role}" for tenant, role in grants.items())


# --- who may do what ----------------------------------------------------------------


@dataclass(frozen=True)
class Principal:
    """The verified caller."""

    subject: str | None
    tenants: Mapping[str, str]
    claims: Mapping[str, Any] = field(repr=False, default_factory=dict)
    #: A platform admin (the admin claim): may call the operations under /sedo/admin/.
    admin: bool = False

    def role_for(self, tenant_id: str) -> str | None:
        return self.tenants.get(tenant_id)


def required_role(operation_id: str | None) -> str:
    return OPERATION_ROLES.get(operation_id or "", DEFAULT_ROLE)


def authorize(principal: Principal, operation_id: str | None, tenant_id: str | None) -> None:
    """The one place roles are enforced; :class:`~sedo.auth.errors.AuthError` 403 when the caller may not."""
    needed = required_role(operation_id)
    if needed == ADMIN:
        if principal.admin:
            return
        raise forbidden(
            f"{operation_id} is for platform admins: it needs a token whose {DEFAULT_ADMIN_CLAIM!r} claim is true "
            "(a tenant role does not grant it)"
        )
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


__all__ = [
    "ADMIN",
    "OPERATION_ROLES",
    "ROLES",
    "TENANT_PATTERN",
    "Principal",
    "authorize",
    "check_grant",
    "check_grants",
    "format_tenants_claim",
    "parse_admin_claim",
    "parse_tenants_claim",
    "required_role",
]
