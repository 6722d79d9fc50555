"""The README's console screenshots, taken from the real page: ``python -m tests.browser.screenshots``.

Starts `sedo local` (like the browser tests), stores the example definitions, drives the
console in headless Chromium and writes docs/console/*.png.
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

import httpx

from tests.browser.conftest import CHROMIUM, SCREENSHOTS, TENANT
from tests.browser.test_console import GREET
from tests.e2e.conftest import ROOT, running_stack


def main() -> int:
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with running_stack(Path(tempfile.mkdtemp(prefix="sedo-shots-"))) as stack:
        printed = re.search(r"^\s*Console\s+(\S+)", stack.output(), re.MULTILINE)
        assert printed, stack.output()
        url = printed.group(1)
        token = url.split("#token=", 1)[1]
        api = httpx.Client(base_url=stack.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        for path in [*sorted((ROOT / "definitions").glob("*.yaml"))]:
            api.post(
                f"/sedo/tenants/{TENANT}/definitions",
                content=path.read_bytes(),
                headers={"Content-Type": "application/yaml"},
            )
        api.post(f"/sedo/tenants/{TENANT}/definitions", content=GREET, headers={"Content-Type": "application/yaml"})
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
            page = browser.new_page(viewport={"width": 1280, "height": 860}, device_scale_factor=1)
            page.goto(url)
            page.get_by_role("link", name="order-flow").click()
            page.locator("#graph [data-step]").first.wait_for()
            page.get_by_role("region", name="graph").screenshot(path=SCREENSHOTS / "definition-graph.png")

            start = page.get_by_role("region", name="start an execution")
            start.get_by_label("orderId").fill("order-42")
            start.get_by_label("customer").fill("Ada Lovelace")
            start.get_by_label("sku").fill("BOOK-1")
            start.get_by_label("qty").fill("0")
            start.get_by_label("price", exact=True).fill("1250")
            start.get_by_role("button", name="Start execution").click()  # qty 0: the form says why not
            start.get_by_text("Value must be at least 1.").wait_for()
            start.screenshot(path=SCREENSHOTS / "start-form.png")
            start.get_by_label("qty").fill("3")
            start.get_by_role("button", name="Start execution").click()

            page.get_by_role("button", name="Complete step").wait_for()  # over 1000: waits for approval
            page.get_by_role("region", name="step manager-approval waits for an answer").wait_for()
            page.locator('#graph [data-step="manager-approval"][data-status="waiting"]').wait_for()
            page.screenshot(path=SCREENSHOTS / "execution-in-progress.png", full_page=True)

            page.get_by_label("answer (JSON)").fill('{"approved": true, "by": "Grace"}')
            page.get_by_role("button", name="Complete step").click()
            page.locator("#execution-state").get_by_text(re.compile("Execution(Succeeded|Failed)")).wait_for(
                timeout=60_000
            )
            page.get_by_role("heading", name="Graph").scroll_into_view_if_needed()
            page.screenshot(path=SCREENSHOTS / "execution-finished.png", full_page=True)
            browser.close()
    for shot in sorted(SCREENSHOTS.glob("*.png")):
        print(shot.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
