"""The API's last lines of defence answer in sedo's problem shape too (in memory, over HTTP)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest

from sedo import bootstrap
from sedo.config import Settings
from tests.support import auth_headers, serve_api


class _Broken:
    """A definition store that fails the way a bug would."""

    def __getattr__(self, name: str) -> Any:
        def fail(*_: Any, **__: Any) -> Any:
            raise RuntimeError("boom: an internal detail that must not leak")

        return fail


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    adapters = replace(bootstrap.memory_adapters(), definitions=_Broken())
    with serve_api(Settings(), adapters=adapters) as url:
        yield url


def test_an_unexpected_error_is_a_500_problem_that_names_no_internals(base_url: str) -> None:
    response = httpx.get(f"{base_url}/sedo/tenants/123/definitions", headers=auth_headers("123"))
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == "https://sedo.dev/problems/internal-error"
    assert "boom" not in response.text and "RuntimeError" not in response.text
    assert "retry" in body["detail"]


def test_a_method_on_a_templated_path_lists_the_allowed_ones(base_url: str) -> None:
    response = httpx.patch(f"{base_url}/sedo/tenants/123/definitions/d1", headers=auth_headers("123"))
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, PUT, DELETE"
    assert response.json()["type"] == "https://sedo.dev/problems/method-not-allowed"


def test_a_path_parameter_off_its_pattern_is_named(base_url: str) -> None:
    response = httpx.get(f"{base_url}/sedo/tenants/123/definitions/{'x' * 300}", headers=auth_headers("123"))
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["type"] == "https://sedo.dev/problems/invalid-parameters"
    assert [(e["in"], e["parameter"]) for e in body["errors"]] == [("path", "definitionId")]


class _Refusing:
    """A definition store whose AWS calls fail with ``code`` after botocore's retries."""

    def __init__(self, code: str, status: int) -> None:
        self.code, self.status = code, status

    def __getattr__(self, name: str) -> Any:
        from botocore.exceptions import ClientError

        def fail(*_: Any, **__: Any) -> Any:
            error = {"Error": {"Code": self.code, "Message": "no"}, "ResponseMetadata": {"HTTPStatusCode": self.status}}
            raise ClientError(error, "Query")  # type: ignore[arg-type]

        return fail


@pytest.mark.parametrize(
    ("code", "status", "answered"),
    [
        ("ThrottlingException", 400, 503),  # a hot key, still hot after the retries
        ("InternalServerError", 500, 503),  # DynamoDB failing for now
        ("AccessDeniedException", 400, 500),  # a deployment fault, not for the client to retry
    ],
)
def test_aws_busy_for_now_is_a_503_to_retry_after_and_any_other_aws_error_a_500(
    code: str, status: int, answered: int
) -> None:
    adapters = replace(bootstrap.memory_adapters(), definitions=_Refusing(code, status))
    with serve_api(Settings(), adapters=adapters) as url:
        response = httpx.get(f"{url}/sedo/tenants/123/definitions", headers=auth_headers("123"))
    assert response.status_code == answered, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert code not in response.text  # no internals either way
    if answered == 503:
        assert response.headers["retry-after"] == "1"
        assert response.json()["type"] == "https://sedo.dev/problems/service-unavailable"
    else:
        assert "retry-after" not in response.headers
