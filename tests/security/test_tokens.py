"""Token verification, the tenants claim, configuration, and local tokens (make run, sedo token)."""

from __future__ import annotations

import json
import os
import stat
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from sedo import bootstrap
from sedo.auth import local
from sedo.auth.errors import AuthError, ConfigurationError
from sedo.auth.grants import Principal, authorize, format_tenants_claim, parse_tenants_claim
from sedo.auth.verifier import TokenVerifier
from sedo.config import Settings
from sedo.domain.errors import Unavailable
from sedo.entrypoints.api.app import create_app
from sedo.entrypoints.api.auth import verifier_from_settings
from sedo.entrypoints.cli import main
from tests.support import mint, signing_key
from tests.targets import JsonTarget

# --- the tenants claim -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "grants"),
    [
        ({"123": "author", "456": "viewer"}, {"123": "author", "456": "viewer"}),
        ("123:author 456:viewer", {"123": "author", "456": "viewer"}),
        ("123:author,456:operator", {"123": "author", "456": "operator"}),
        (" 123:viewer ", {"123": "viewer"}),
        ('{"123": "author"}', {"123": "author"}),  # a JSON object passed through as a string
        (["123:author", "456:viewer"], {"123": "author", "456": "viewer"}),
        ("", {}),
        ({}, {}),
    ],
)
def test_the_tenants_claim_as_object_or_string(value: Any, grants: dict[str, str]) -> None:
    assert parse_tenants_claim(value) == grants


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("123:boss", "roles are viewer, operator, author"),
        ("123", "write 'tenant:role'"),
        ("12/3:author", "not a tenant id"),
        ({"123": ["author"]}, "roles are"),
        ("123:author 123:viewer", "twice"),
        (42, "must be an object or a string"),
        ("{not json", "neither"),
        ({"*": "author"}, "not a tenant id"),
    ],
)
def test_a_malformed_tenants_claim_is_refused_with_the_reason(value: Any, words: str) -> None:
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace("*", r"\*")):
        parse_tenants_claim(value)


def test_the_string_form_round_trips() -> None:
    grants = {"123": "author", "t-9": "viewer"}
    assert parse_tenants_claim(format_tenants_claim(grants)) == grants


# --- verification with a fixed key ---------------------------------------------------------


@pytest.fixture
def verifier() -> TokenVerifier:
    return TokenVerifier(
        issuer=local.LOCAL_ISSUER, audience=local.LOCAL_AUDIENCE, public_key_pem=local.public_key_pem(signing_key())
    )


def test_a_valid_token_yields_its_principal(verifier: TokenVerifier) -> None:
    principal = verifier.principal(mint({"123": "author", "456": "viewer"}, subject="alice"))
    assert principal.subject == "alice" and dict(principal.tenants) == {"123": "author", "456": "viewer"}


def test_leeway_tolerates_small_clock_skew(verifier: TokenVerifier) -> None:
    verifier.principal(mint("123", ttl=10, now=time.time() - 25))  # expired 15 s ago: inside 30 s
    with pytest.raises(AuthError, match="expired"):
        verifier.principal(mint("123", ttl=10, now=time.time() - 60))


def test_several_audiences_and_cognito_access_tokens() -> None:
    verifier = TokenVerifier(
        issuer=local.LOCAL_ISSUER, audience="web-client, cli-client", public_key_pem=local.public_key_pem(signing_key())
    )
    verifier.principal(mint("1", audience="cli-client"))
    verifier.principal(mint("1", audience=["other", "web-client"]))  # type: ignore[arg-type]
    # Cognito access tokens name the app client in client_id and have no aud.
    now = time.time()
    claims = {"iss": local.LOCAL_ISSUER, "exp": now + 60, "client_id": "web-client", "sedo:tenants": "1:viewer"}
    token = jwt.encode(claims, local._private_key(signing_key()), algorithm="ES256")
    assert dict(verifier.principal(token).tenants) == {"1": "viewer"}
    with pytest.raises(AuthError, match="audience"):
        claims["client_id"] = "someone-else"
        verifier.principal(jwt.encode(claims, local._private_key(signing_key()), algorithm="ES256"))


def test_a_renamed_tenants_claim(verifier: TokenVerifier) -> None:
    renamed = TokenVerifier(
        issuer=local.LOCAL_ISSUER,
        audience=local.LOCAL_AUDIENCE,
        public_key_pem=local.public_key_pem(signing_key()),
        tenants_claim="custom:sedo_tenants",
    )
    token = mint(None, extra={"custom:sedo_tenants": "123:operator"})
    assert dict(renamed.principal(token).tenants) == {"123": "operator"}
    assert dict(verifier.principal(token).tenants) == {}


def test_authorize_is_the_role_table() -> None:
    alice = Principal("alice", {"123": "operator"})
    authorize(alice, "execute", "123")
    authorize(alice, "get_history", "123")
    with pytest.raises(AuthError, match="needs the role 'author'") as refused:
        authorize(alice, "create_definition", "123")
    assert refused.value.status == 403
    with pytest.raises(AuthError, match="does not grant access to tenant '456'"):
        authorize(alice, "get_execution", "456")
    with pytest.raises(AuthError, match="needs the role 'author'"):
        authorize(alice, "an_operation_nobody_listed", "123")  # fail closed


# --- JWKS from the issuer's OpenID configuration --------------------------------------------


class Issuer:
    """An OIDC issuer on 127.0.0.1: openid-configuration and a JWKS with one RSA key."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "key-1"
        self.hits: list[str] = []
        self.claimed_issuer: str | None = None
        issuer = self

        class Handler(JsonTarget):
            def do_GET(self) -> None:
                issuer.hits.append(self.path)
                if self.path == "/.well-known/openid-configuration":
                    body = {"issuer": issuer.claimed_issuer or issuer.url, "jwks_uri": issuer.url + "/jwks.json"}
                elif self.path == "/jwks.json":
                    jwk = json.loads(RSAAlgorithm.to_jwk(issuer.key.public_key()))
                    body = {"keys": [{**jwk, "kid": issuer.kid, "alg": "RS256", "use": "sig"}]}
                else:
                    self.send_error(404)
                    return
                self.answer(200, body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def token(self, kid: str | None = None, **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": self.url, "aud": "sedo-api", "exp": now + 300, "iat": now, "sedo:tenants": {"123": "viewer"}}
        body.update(claims)
        return jwt.encode(body, self.key, algorithm="RS256", headers={"kid": kid or self.kid})

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    running = Issuer()
    yield running
    running.close()


def test_keys_come_from_the_issuers_jwks_and_are_cached(issuer: Issuer) -> None:
    verifier = verifier_from_settings(Settings(jwt_issuer=issuer.url, jwt_audience="sedo-api"))
    assert verifier.uses_jwks and issuer.hits == []  # nothing fetched at startup
    for _ in range(3):
        assert dict(verifier.principal(issuer.token()).tenants) == {"123": "viewer"}
    assert issuer.hits == ["/.well-known/openid-configuration", "/jwks.json"]


def test_jwks_tokens_that_must_fail(issuer: Issuer) -> None:
    verifier = verifier_from_settings(Settings(jwt_issuer=issuer.url, jwt_audience="sedo-api"))
    with pytest.raises(AuthError, match="not one of the issuer's"):
        verifier.principal(issuer.token(kid="unknown-key"))
    with pytest.raises(AuthError, match="audience"):
        verifier.principal(issuer.token(aud="another-api"))
    with pytest.raises(AuthError, match="expired"):
        verifier.principal(issuer.token(exp=int(time.time()) - 3600))
    with pytest.raises(AuthError, match="asymmetric"):
        verifier.principal(jwt.encode({"iss": issuer.url}, "secret", algorithm="HS256"))
    forged = jwt.encode(
        {"iss": issuer.url, "aud": "sedo-api", "exp": time.time() + 60},
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
        algorithm="RS256",
        headers={"kid": issuer.kid},
    )
    with pytest.raises(AuthError, match="signature"):
        verifier.principal(forged)


def test_an_issuer_whose_configuration_names_another_issuer_is_unavailable(issuer: Issuer) -> None:
    issuer.claimed_issuer = "https://evil.example"
    verifier = verifier_from_settings(Settings(jwt_issuer=issuer.url, jwt_audience="sedo-api"))
    with pytest.raises(Unavailable, match="is not the OpenID configuration"):
        verifier.principal(issuer.token())


def test_an_unreachable_issuer_is_a_503_not_a_401() -> None:
    from sedo.entrypoints.local.moto import free_port

    url = f"http://127.0.0.1:{free_port()}"
    verifier = TokenVerifier(issuer=url, audience="a", discovery_timeout=1)
    with pytest.raises(Unavailable, match="cannot read the issuer's OpenID configuration"):
        verifier.principal(jwt.encode({"iss": url}, rsa.generate_private_key(65537, 2048), algorithm="RS256"))


def test_keys_are_only_fetched_over_https_except_from_this_host() -> None:
    verifier = TokenVerifier(issuer="http://idp.example.com", audience="a")
    with pytest.raises(Unavailable, match="only fetched over https"):
        verifier.principal(jwt.encode({"iss": "x"}, rsa.generate_private_key(65537, 2048), algorithm="RS256"))


# --- configuration: no way to verify, no API --------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        (Settings(), "SEDO_JWT_ISSUER and SEDO_JWT_AUDIENCE"),
        (Settings(jwt_issuer="https://idp.example"), "SEDO_JWT_ISSUER and SEDO_JWT_AUDIENCE"),
        (Settings(jwt_issuer="sedo-local", jwt_audience="sedo"), "must be the issuer's https URL"),
        (Settings(jwt_issuer="x", jwt_audience="y", jwt_public_key="not a key"), "not a PEM public key"),
        (Settings(jwt_issuer="https://idp.example", jwt_audience=" , "), "needs an audience"),
    ],
)
def test_the_api_refuses_to_start_without_a_way_to_verify_tokens(settings: Settings, words: str) -> None:
    services = bootstrap.api_services(bootstrap.memory_adapters(), settings)
    with pytest.raises(ConfigurationError, match=words):
        create_app(services, settings)


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pem = tmp_path / "public.pem"
    pem.write_text(local.public_key_pem(signing_key()))
    monkeypatch.setenv("SEDO_JWT_ISSUER", "https://cognito-idp.eu-west-1.amazonaws.com/pool")
    monkeypatch.setenv("SEDO_JWT_AUDIENCE", "client-a,client-b")
    monkeypatch.setenv("SEDO_JWT_PUBLIC_KEY_FILE", str(pem))
    monkeypatch.setenv("SEDO_JWT_TENANTS_CLAIM", "custom:sedo_tenants")
    settings = Settings.from_env()
    assert settings.jwt_public_key == pem.read_text() and settings.jwt_tenants_claim == "custom:sedo_tenants"
    verifier = verifier_from_settings(settings)
    assert verifier.audiences == ("client-a", "client-b") and not verifier.uses_jwks
    monkeypatch.setenv("SEDO_JWT_PUBLIC_KEY_FILE", str(tmp_path / "missing.pem"))
    with pytest.raises(RuntimeError, match="cannot read"):
        Settings.from_env()


# --- local keys, make run's token, sedo token ---------------------------------------------------


def test_the_local_key_is_created_once_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "state" / "jwt-signing-key.pem"
    first = local.ensure_signing_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert local.ensure_signing_key(path) == first
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind


def test_sedo_token_mints_from_the_local_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SEDO_JWT_SIGNING_KEY_FILE")
    monkeypatch.setenv("SEDO_LOCAL_DIR", str(tmp_path))
    assert main(["token", "--tenant", "123", "--role", "operator"]) == 2
    err = capsys.readouterr().err
    assert "no signing key at" in err and "run 'make run' once" in err
    key = local.ensure_signing_key(tmp_path / local.SIGNING_KEY_FILE)  # what make run does
    assert main(["token", "--tenant", "123", "--tenant", "456", "--role", "operator", "--ttl", "30m"]) == 0
    token = capsys.readouterr().out.strip()
    settings = local.local_verification(Settings(), key)
    principal = verifier_from_settings(settings).principal(token)
    assert dict(principal.tenants) == {"123": "operator", "456": "operator"}
    assert 1790 <= principal.claims["exp"] - principal.claims["iat"] <= 1800
    for argv, words in (
        (["token", "--tenant", "123", "--role", "admin"], "'admin' is not a role"),
        (["token", "--tenant", "../etc", "--role", "viewer"], "is not a tenant id"),
        (["token", "--tenant", "123", "--ttl", "soon"], "is not a lifetime"),
    ):
        assert main(argv) == 2
        assert words in capsys.readouterr().err


def test_sedo_token_admin_mints_a_platform_admins_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SEDO_JWT_SIGNING_KEY_FILE")
    monkeypatch.setenv("SEDO_LOCAL_DIR", str(tmp_path))
    key = local.ensure_signing_key(tmp_path / local.SIGNING_KEY_FILE)
    verifier = verifier_from_settings(local.local_verification(Settings(), key))
    assert main(["token", "--admin"]) == 0
    principal = verifier.principal(capsys.readouterr().out.strip())
    assert principal.admin and dict(principal.tenants) == {}
    assert main(["token", "--admin", "--tenant", "123", "--role", "viewer"]) == 0
    principal = verifier.principal(capsys.readouterr().out.strip())
    assert principal.admin and dict(principal.tenants) == {"123": "viewer"}
    assert main(["token", "--tenant", "123"]) == 0
    assert not verifier.principal(capsys.readouterr().out.strip()).admin
    assert main(["token"]) == 2
    assert "name a tenant (--tenant 123) or ask for a platform admin's token (--admin)" in capsys.readouterr().err


def test_the_signing_key_file_setting_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEDO_LOCAL_DIR", str(tmp_path / "elsewhere"))
    settings = Settings.from_env()
    assert local.local_signing_key_path(settings) == Path(os.environ["SEDO_JWT_SIGNING_KEY_FILE"])
    assert (
        local.local_signing_key_path(replace(settings, jwt_signing_key_file=None))
        == tmp_path / "elsewhere" / local.SIGNING_KEY_FILE
    )


@pytest.mark.parametrize(
    ("text", "seconds"), [("3600", 3600), ("30m", 1800), ("12h", 43200), ("7d", 604800), (" 5s ", 5)]
)
def test_parse_ttl(text: str, seconds: int) -> None:
    assert local.parse_ttl(text) == seconds
