"""sedo.adapters.netguard: HTTP invoke targets never reach link-local or metadata addresses."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from sedo.adapters.netguard import ForbiddenTarget, check_url, forbidden_reason, guard_for, parse_cidrs
from sedo.config import Settings


def resolver(*addresses: str):  # type: ignore[no-untyped-def]
    def resolve(host: str, port: int) -> Sequence[str]:
        return list(addresses)

    return resolve


@pytest.mark.parametrize(
    "address",
    [
        "169.254.169.254",  # EC2/GCP/Azure metadata
        "169.254.170.2",  # ECS task credentials
        "169.254.0.1",
        "fd00:ec2::254",  # EC2 metadata over IPv6
        "fe80::1",
        "fe80::1%eth0",
        "100.100.100.200",  # Alibaba
        "168.63.129.16",  # Azure wire server
        "192.0.0.192",  # Oracle
        "0.0.0.0",
        "::",
        "224.0.0.1",
        "255.255.255.255",
        "::ffff:169.254.169.254",  # IPv4-mapped
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
        "::169.254.169.254",  # IPv4-compatible
    ],
)
def test_forbidden_addresses(address: str) -> None:
    assert forbidden_reason(address) is not None
    with pytest.raises(ForbiddenTarget, match="SEDO_HTTP_ALLOW_CIDRS"):
        check_url(f"http://{'[' + address + ']' if ':' in address else address}/latest/meta-data/")


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "::1",
        "10.0.0.5",
        "172.16.3.4",
        "192.168.1.1",
        "100.64.0.1",
        "8.8.8.8",
        "2606:4700::1111",
        "::ffff:10.0.0.1",
    ],
)
def test_allowed_addresses(address: str) -> None:
    assert forbidden_reason(address) is None


def test_every_resolved_address_is_checked() -> None:
    assert check_url("https://api.example.com/x", resolve=resolver("93.184.216.34", "2606:2800::1")) == [
        "93.184.216.34",
        "2606:2800::1",
    ]
    with pytest.raises(ForbiddenTarget, match=r"rebind\.example \(169\.254\.169\.254\)"):
        check_url("https://rebind.example/x", resolve=resolver("93.184.216.34", "169.254.169.254"))


def test_numeric_host_spellings_resolve_to_what_they_are() -> None:
    # 2852039166 and 0251.0376.0251.0376 are 169.254.169.254 to the system resolver
    for host in ("2852039166", "0251.0376.0251.0376", "169.254.169.254."):
        with pytest.raises(ForbiddenTarget):
            check_url(f"http://{host}/")


def test_schemes_and_malformed_urls() -> None:
    for url in (
        "file:///etc/passwd",
        "gopher://127.0.0.1/",
        "ftp://example.com/",
        "//example.com/x",
        "http:///x",
        "http://[::1/",
    ):
        with pytest.raises(ForbiddenTarget):
            check_url(url, resolve=resolver("93.184.216.34"))


def test_a_host_that_does_not_resolve_is_refused() -> None:
    def failing(host: str, port: int) -> Sequence[str]:
        raise OSError("Name or service not known")

    with pytest.raises(ForbiddenTarget, match="does not resolve"):
        check_url("https://nowhere.invalid/", resolve=failing)


def test_allow_cidrs_lift_the_ban_for_their_range_only() -> None:
    allow = parse_cidrs("169.254.170.2/32, fe80::/10")
    assert check_url("http://169.254.170.2/v2/credentials", allow) == ["169.254.170.2"]
    assert check_url("http://[fe80::1]/", allow) == ["fe80::1"]
    with pytest.raises(ForbiddenTarget):
        check_url("http://169.254.169.254/", allow)
    with pytest.raises(ValueError, match="SEDO_HTTP_ALLOW_CIDRS: 'nonsense'"):
        parse_cidrs("10.0.0.0/8,nonsense")


def test_guard_for_reads_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEDO_HTTP_ALLOW_CIDRS", "169.254.169.254/32")
    settings = Settings.from_env()
    assert settings.http_allow_cidrs == ("169.254.169.254/32",)
    assert guard_for(settings)("http://169.254.169.254/") == ["169.254.169.254"]
    with pytest.raises(ForbiddenTarget):
        guard_for(Settings())("http://169.254.169.254/")
    assert guard_for(Settings())("http://127.0.0.1:8080/hook") == ["127.0.0.1"]  # local tests serve targets here


def test_forbidden_target_is_what_the_http_invoker_catches() -> None:
    assert issubclass(ForbiddenTarget, PermissionError)


@pytest.mark.integration
def test_an_invoke_step_cannot_reach_the_metadata_service(stack: Settings) -> None:
    from sedo.domain.language import load_text
    from tests.support import Harness

    harness = Harness(stack)
    harness.services.definitions.create(
        "t",
        load_text(
            "id: steal\nsteps:\n"
            "  - {id: creds, type: invoke, http: {method: GET, url: 'http://169.254.169.254/latest/meta-data/'},"
            " timeoutSeconds: 2, end: true}\n"
        ),
    )
    execution = harness.services.executions.start("t", "steal", {})[0]["id"]
    harness.drain()
    described = harness.services.executions.get("t", execution)
    assert (described["state"], described["error"]) == ("ExecutionFailed", "States.Permissions"), described
    assert "169.254.0.0/16" in described["cause"]
