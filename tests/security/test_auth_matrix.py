"""401 and 403 over every operation of the spec, through the real API over HTTP.

The operations come from openapi/sedo.yaml (tests/security/operations.py), so one
added later is in every matrix. Authentication runs before validation: a request
without a valid token is a 401 whatever its path values or body, and one for a tenant
or role the token does not grant is a 403.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from sedo.auth.grants import ADMIN, OPERATION_ROLES, ROLES
from sedo.auth.local import ensure_signing_key, public_key_pem
from tests.security.conftest import assert_problem
from tests.security.operations import PROTECTED, Operation, operations, spec
from tests.support import api_client, mint, signing_key

pytestmark = pytest.mark.integration

TENANT = "t-123"
OTHER = "t-456"


def request(http: httpx.Client, op: Operation, tenant: str = TENANT, **kwargs: Any) -> httpx.Response:
    values = {"tenantId": tenant, "definitionId": "d1", "executionId": f"{tenant}:d1:0abc", "stepId": "s1"}
    if op.body_types and "content" not in kwargs and "json" not in kwargs:
        media = "application/json" if "application/json" in op.body_types else op.body_types[0]
        kwargs["content"] = b"{}" if "json" in media else b"id: d1\n"
        kwargs["headers"] = {"Content-Type": media, **kwargs.get("headers", {})}
    return http.request(op.method, op.url(values), **kwargs)


@pytest.fixture(scope="module")
def anonymous(api: str) -> Iterator[httpx.Client]:
    with api_client(api, tenant=None) as http:
        yield http


# --- credentials that must not pass ------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"iss": "sedo-local", "aud": "sedo", "sub": "x", "iat": now, "exp": now + 600}
    claims["sedo:tenants"] = {TENANT: "author"}
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _signed(claims: dict[str, Any]) -> str:
    return jwt.encode(claims, load_pem_private_key(signing_key(), None), algorithm="ES256")  # type: ignore[arg-type]


def _unsigned() -> str:
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{_b64(json.dumps(_claims()).encode())}."


def _hmac_with_public_key() -> str:
    """The algorithm-confusion attack: HS256 keyed with the verifier's public key."""
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = _b64(json.dumps(_claims()).encode())
    secret = public_key_pem(signing_key()).encode()
    signature = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"


def _tampered() -> str:
    """A real token for another tenant with its payload rewritten to grant ours."""
    header, _, signature = mint(OTHER, "author").split(".")
    return f"{header}.{_b64(json.dumps(_claims()).encode())}.{signature}"


def _foreign_key(tmp: Path) -> str:
    return mint(TENANT, "author", key=ensure_signing_key(tmp / "other-key.pem"))


BAD_CREDENTIALS: dict[str, Callable[[Path], str | None]] = {
    "no header": lambda _: None,
    "basic scheme": lambda _: "Basic dXNlcjpwYXNz",
    "bearer without token": lambda _: "Bearer",
    "not a jwt": lambda _: "Bearer not-a-jwt",
    "garbage segments": lambda _: "Bearer a.b.c",
    "expired": lambda _: f"Bearer {mint(TENANT, 'author', now=time.time() - 7200)}",
    "not yet valid": lambda _: f"Bearer {mint(TENANT, 'author', now=time.time() + 3600)}",
    "other signing key": lambda tmp: f"Bearer {_foreign_key(tmp)}",
    "wrong issuer": lambda _: f"Bearer {mint(TENANT, 'author', issuer='someone-else')}",
    "wrong audience": lambda _: f"Bearer {mint(TENANT, 'author', audience='another-api')}",
    "alg none": lambda _: f"Bearer {_unsigned()}",
    "hs256 with the public key": lambda _: f"Bearer {_hmac_with_public_key()}",
    "tampered payload": lambda _: f"Bearer {_tampered()}",
    "no exp": lambda _: f"Bearer {_signed(_claims(exp=None))}",
    "no iss": lambda _: f"Bearer {_signed(_claims(iss=None))}",
    "malformed tenants claim": lambda _: f"Bearer {_signed(_claims(**{'sedo:tenants': f'{TENANT}:boss'}))}",
    "oversized token": lambda _: "Bearer " + "a" * 20_000,
}


@pytest.mark.parametrize("case", sorted(BAD_CREDENTIALS))
def test_every_operation_answers_401_to_a_missing_or_invalid_token(
    anonymous: httpx.Client, case: str, tmp_path: Path
) -> None:
    value = BAD_CREDENTIALS[case](tmp_path)
    headers = {} if value is None else {"Authorization": value}
    for op in PROTECTED:
        response = request(anonymous, op, headers=headers)
        problem = assert_problem(response, 401)
        assert problem["title"] == "unauthorized", (op, problem)
        challenge = response.headers["www-authenticate"]
        assert challenge.startswith('Bearer realm="sedo"'), (op, challenge)
        if value is not None and value.startswith("Bearer ") and len(value) > 7:
            assert 'error="invalid_token"' in challenge, (op, case, challenge)


def test_401_details_say_what_is_wrong(anonymous: httpx.Client) -> None:
    op = PROTECTED[0]
    cases = {
        "": "Authorization: Bearer <token>",
        f"Bearer {mint(TENANT, 'author', now=time.time() - 7200)}": "expired",
        f"Bearer {mint(TENANT, 'author', issuer='x')}": "not issued by 'sedo-local'",
        f"Bearer {mint(TENANT, 'author', audience='x')}": "audience 'sedo'",
        f"Bearer {_unsigned()}": "not signed with ES256",
        f"Bearer {_hmac_with_public_key()}": "ES256",
        f"Bearer {_tampered()}": "signature does not verify",
    }
    for value, words in cases.items():
        headers = {"Authorization": value} if value else {}
        assert words in assert_problem(request(anonymous, op, headers=headers), 401)["detail"], value


ADMIN_ONLY = [op for op in PROTECTED if OPERATION_ROLES[op.operation_id] == ADMIN]
TENANT_OPS = [op for op in PROTECTED if OPERATION_ROLES[op.operation_id] != ADMIN]


@pytest.mark.parametrize("role", ROLES)
def test_a_token_for_another_tenant_is_403_on_every_operation(api: str, role: str) -> None:
    with api_client(api, tenant=OTHER, role=role) as http:
        for op in TENANT_OPS:
            problem = assert_problem(request(http, op, tenant=TENANT), 403)
            assert problem["detail"] == f"this token does not grant access to tenant {TENANT!r}", (op, problem)


@pytest.mark.parametrize("role", ROLES)
def test_admin_operations_are_403_to_every_tenant_role_and_open_to_a_platform_admin(api: str, role: str) -> None:
    assert {op.operation_id for op in ADMIN_ONLY} >= {"get_quotas", "put_quotas", "admin_usage"}
    with api_client(api, tenant=TENANT, role=role) as http:
        for op in ADMIN_ONLY:
            problem = assert_problem(request(http, op, tenant=TENANT), 403)
            assert "for platform admins" in problem["detail"], (op, problem)
    admin = {"Authorization": f"Bearer {mint(None, admin=True)}"}
    with api_client(api, tenant=None, headers=admin) as http:
        for op in ADMIN_ONLY:  # past authentication: whatever the handler says
            assert request(http, op).status_code not in (401, 403), op
        for op in TENANT_OPS:  # an admin holds no tenant role
            assert_problem(request(http, op), 403)


def test_an_admin_claim_that_is_not_a_boolean_is_401(anonymous: httpx.Client) -> None:
    token = _signed(_claims(**{"sedo:admin": "yes"}))
    problem = assert_problem(request(anonymous, ADMIN_ONLY[0], headers={"Authorization": f"Bearer {token}"}), 401)
    assert "'sedo:admin' claim must be true or false" in problem["detail"]


def test_a_token_without_tenants_is_403_on_every_operation(api: str) -> None:
    with api_client(api, tenant=None, headers={"Authorization": f"Bearer {mint(None)}"}) as http:
        for op in PROTECTED:
            assert_problem(request(http, op), 403)


def test_roles_are_enforced_per_operation_and_a_sufficient_role_gets_through(api: str) -> None:
    for role in ROLES:
        with api_client(api, tenant=TENANT, role=role) as http:
            for op in TENANT_OPS:
                needed = OPERATION_ROLES[op.operation_id]
                response = request(http, op)
                if ROLES.index(role) < ROLES.index(needed):
                    problem = assert_problem(response, 403)
                    assert f"needs the role {needed!r}" in problem["detail"], problem
                else:  # past authentication: whatever the handler says about a made-up resource
                    assert response.status_code not in (401, 403), (role, op, response.text)


def test_a_grant_for_one_tenant_says_nothing_about_lookalike_tenants(api: str) -> None:
    with api_client(api, tenant=TENANT, role="author") as http:
        for lookalike in (TENANT.upper(), TENANT + "x", TENANT + "%20", "t-12", TENANT + "%00", TENANT + "%0A"):
            assert http.get(f"/sedo/tenants/{lookalike}/definitions").status_code in (400, 403, 404), lookalike


def test_the_string_form_of_the_claim_grants_the_same(api: str) -> None:
    token = _signed(_claims(**{"sedo:tenants": f"{TENANT}:viewer {OTHER}:author"}))
    with api_client(api, tenant=None, headers={"Authorization": f"Bearer {token}"}) as http:
        assert http.get(f"/sedo/tenants/{TENANT}/definitions").status_code == 200
        assert_problem(http.delete(f"/sedo/tenants/{TENANT}/definitions/d1"), 403)
        assert http.get(f"/sedo/tenants/{OTHER}/definitions").status_code == 200


def test_health_needs_no_token(anonymous: httpx.Client) -> None:
    response = anonymous.get("/sedo/health")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


# --- the spec and the role table agree ----------------------------------------------------


def test_every_operation_but_health_requires_the_bearer_scheme() -> None:
    document = spec()
    assert document["security"] == [{"bearerAuth": []}]
    scheme = document["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"], scheme["bearerFormat"]) == ("http", "bearer", "JWT")
    assert [op.operation_id for op in operations() if op.public] == ["health"]


def test_every_protected_operation_documents_401_and_403_and_has_a_role() -> None:
    document = spec()
    for op in PROTECTED:
        responses = document["paths"][op.path][op.method.lower()]["responses"]
        assert {"401", "403"} <= set(responses), f"{op} must document 401 and 403"
        assert op.operation_id in OPERATION_ROLES, f"{op}: give it a role in auth.OPERATION_ROLES"
        if op.body_types:
            assert "413" in responses, f"{op} takes a body: document 413"
    assert set(OPERATION_ROLES) == {op.operation_id for op in PROTECTED}, "OPERATION_ROLES names unknown operations"
