"""The console in a real headless Chromium (Debian's ``chromium`` driven by the Python
``playwright`` package), against a running ``sedo local`` stack.

``make test`` installs the browser first (tests/browser/install.sh) and sets
SEDO_REQUIRE_BROWSER, so a missing browser fails there, saying how to install it; a bare
``pytest`` without one skips these tests.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import LocalStack, running_stack
from tests.support import mint

CHROMIUM = os.environ.get("SEDO_CHROMIUM", "/usr/bin/chromium")
HOW = "install it with 'sudo tests/browser/install.sh' (Debian's chromium package), or set SEDO_CHROMIUM"
TENANT = "123"


def _browser_or_skip() -> str:
    if shutil.which(CHROMIUM) is None:
        message = f"no Chromium at {CHROMIUM}: {HOW}"
        if os.environ.get("SEDO_REQUIRE_BROWSER"):
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


@dataclass
class Console:
    """The stack, the URL `make run` printed (signed in as author of tenant 123), and an API client."""

    stack: LocalStack
    url: str
    api: httpx.Client

    @property
    def base(self) -> str:
        return self.stack.base_url

    def url_for(self, token: str, route: str = "") -> str:
        return f"{self.base}/sedo/console/{route}#token={token}"

    def define(self, yaml_text: str) -> str:
        response = self.api.post(
            f"/sedo/tenants/{TENANT}/definitions", content=yaml_text, headers={"Content-Type": "application/yaml"}
        )
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def start(self, definition_id: str, payload: Any = None) -> str:
        response = self.api.post(
            f"/sedo/tenants/{TENANT}/definitions/{definition_id}/execute", json={"input": payload or {}}
        )
        assert response.status_code == 201, response.text
        return str(response.json()["id"])


@pytest.fixture(scope="session")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    _browser_or_skip()
    with running_stack(tmp_path_factory.mktemp("sedo-console")) as stack:
        printed = re.search(r"^\s*Console\s+(\S+#token=\S+)\s*$", stack.output(), re.MULTILINE)
        assert printed, f"`sedo local` printed no console URL:\n{stack.output()}"
        token = printed.group(1).split("#token=", 1)[1]
        with httpx.Client(base_url=stack.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as api:
            yield Console(stack, printed.group(1), api)


@dataclass
class Problems:
    """JavaScript errors, console errors and failed requests a page met."""

    seen: list[str] = field(default_factory=list)
    allowed: list[str] = field(default_factory=list)

    def allow(self, text: str) -> None:
        """A message the test provokes on purpose (Chromium logs every 4xx answer as an error)."""
        self.allowed.append(text)

    def unexpected(self) -> list[str]:
        return [s for s in self.seen if not any(a in s for a in self.allowed)]

    def watch(self, page: Any) -> None:
        page.on("pageerror", lambda exc: self.seen.append(f"uncaught: {exc}"))
        page.on("console", lambda m: self.seen.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
        page.on("requestfailed", lambda r: self.seen.append(f"request failed: {r.url} {r.failure}"))


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    path = _browser_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=path, headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def problems() -> Problems:
    return Problems()


@pytest.fixture
def page(browser: Any, problems: Problems) -> Iterator[Any]:
    """A fresh browser context per test (its own session storage); no JavaScript errors allowed."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(20_000)
    tab = context.new_page()
    problems.watch(tab)
    try:
        yield tab
    finally:
        context.close()
    assert problems.unexpected() == [], problems.seen


def viewer_token() -> str:
    return mint(TENANT, "viewer")


SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "console"
