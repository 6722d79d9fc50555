"""The pages the API serves without a token: the console, Swagger UI and the spec."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from sedo.config import Settings
from tests.support import api_client, serve_api

pytestmark = pytest.mark.integration


@pytest.fixture
def anonymous(stack: Settings) -> Iterator[Any]:
    with serve_api(stack) as base_url, api_client(base_url, tenant=None) as http:
        yield http


@pytest.mark.parametrize(
    ("path", "media_type"),
    [
        ("/sedo/console/", "text/html"),
        ("/sedo/console/app.js", "text/javascript"),
        ("/sedo/console/vendor/elkjs/elk.bundled.js", "text/javascript"),
        ("/sedo/console/vendor/js-yaml/js-yaml.mjs", "text/javascript"),
        ("/sedo/ui/", "text/html"),
        ("/sedo/ui/vendor/swagger-ui-dist/swagger-ui.css", "text/css"),
        ("/sedo/openapi.json", "application/json"),
    ],
)
def test_pages_are_public_with_a_strict_content_security_policy(anonymous: Any, path: str, media_type: str) -> None:
    response = anonymous.get(path)
    assert response.status_code == 200, (path, response.text[:300])
    assert response.headers["content-type"].startswith(media_type)
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy and "unsafe" not in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"


def test_the_spec_is_openapi_sedo_yaml_as_json(anonymous: Any, stack: Settings) -> None:
    assert anonymous.get("/sedo/openapi.json").json() == yaml.safe_load(stack.openapi_path.read_text())


def test_bare_page_paths_redirect_to_the_page(anonymous: Any) -> None:
    for site in ("console", "ui"):
        response = anonymous.get(f"/sedo/{site}")
        assert response.status_code == 308 and response.headers["location"] == f"{site}/index.html"
        assert anonymous.get(f"/sedo/{site}/index.html").status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/sedo/console/nothing.js",
        "/sedo/console/../static.py",
        "/sedo/console/%2e%2e/static.py",
        "/sedo/console/vendor/swagger-ui-dist/swagger-ui-bundle.js",  # Swagger UI's, not the console's
        "/sedo/ui/vendor/elkjs/elk.bundled.js",
        "/sedo/console/VENDORED.md",
    ],
)
def test_only_the_listed_files_are_served(anonymous: Any, path: str) -> None:
    response = anonymous.get(path)
    assert response.status_code == 404, (path, response.status_code)
    assert response.headers["content-type"] == "application/problem+json"


def test_the_api_behind_the_pages_still_needs_a_token(anonymous: Any) -> None:
    assert anonymous.get("/sedo/tenants/123/definitions").status_code == 401
