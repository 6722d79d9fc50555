"""The console, driven in headless Chromium against `sedo local`: what a person sees and does."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.browser.conftest import TENANT, Console, Problems, viewer_token
from tests.definitions import identity_map

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

GREET = """
id: greet
description: Greets someone, then pauses a moment.
inputSchema:
  type: object
  required: [name]
  properties:
    name: {type: string, minLength: 1}
    times: {type: integer, minimum: 1, maximum: 3, title: How many times}
    mood: {type: string, enum: [happy, calm]}
steps:
  - {id: hello, type: echo, message: hello, next: pause}
  - {id: pause, type: wait, seconds: 2, next: check}
  - id: check
    type: choice
    choices:
      - {when: "input.mood == 'calm'", next: calm-down}
    default: done
  - {id: calm-down, type: echo, message: breathe, next: done}
  - {id: done, type: succeed}
"""

REVIEW = """
id: review
steps:
  - id: approve
    type: callback
    comment: A reviewer answers here.
    resultPath: answer
    inputSchema:
      type: object
      required: [approved, reviewer]
      properties:
        approved: {type: boolean, title: Approved}
        reviewer: {type: string, minLength: 2}
        contact: {type: string, format: email}
    next: done
  - {id: done, type: succeed, input: answer}
"""

FAN = identity_map(
    "fan", then="done", input_schema="{type: object, properties: {items: {type: array, items: {type: integer}}}}"
)

HOSTILE = """
id: hostile
description: "<img src=x id=injected-description>"
inputSchema:
  type: object
  properties:
    field: {type: string, title: "<b id=injected-title>bold</b>", description: "<img src=y id=injected-help>"}
steps:
  - id: only
    type: echo
    comment: "<script id=injected-comment>window.injected = 1</script>"
    message: hi
    end: true
"""


def _define_once(console: Console, text: str) -> str:
    definition_id = re.search(r"^id: (\S+)", text.strip(), re.MULTILINE)
    assert definition_id
    exists = console.api.get(f"/sedo/tenants/{TENANT}/definitions/{definition_id.group(1)}")
    return definition_id.group(1) if exists.status_code == 200 else console.define(text)


@pytest.fixture(scope="module")
def defined(console: Console) -> Console:
    for text in (GREET, REVIEW, FAN, HOSTILE):
        _define_once(console, text)
    return console


def step_ids(page: Any) -> list[str]:
    return list(page.eval_on_selector_all("#graph [data-step]", "els => els.map(e => e.dataset.step)"))


def test_the_printed_url_opens_signed_in_and_runs_an_execution_from_the_form(page: Any, defined: Console) -> None:
    page.goto(defined.url)
    # the token went into session storage and out of the address bar
    page.get_by_role("table", name="definitions").get_by_role("link", name="greet").wait_for()
    assert "token=" not in page.url
    assert page.evaluate("sessionStorage.getItem('sedo.token')") == defined.url.split("#token=", 1)[1]
    for expected in ("review", "fan"):
        page.get_by_role("table", name="definitions").get_by_role("link", name=expected).wait_for()

    page.get_by_role("link", name="greet").click()
    page.locator("#graph [data-step]").first.wait_for()
    assert sorted(step_ids(page)) == sorted(["hello", "pause", "check", "calm-down", "done"])
    assert page.locator("#graph .edge.choice .edge-label").first.text_content() == "input.mood == 'calm'"
    assert page.locator("#graph .edge.default").count() == 1

    start = page.get_by_role("region", name="start an execution")
    start.get_by_role("button", name="Start execution").click()  # name is required: the form says so
    assert "required property 'name'" in start.get_by_label("name", exact=True).locator("xpath=..").inner_text()
    start.get_by_label("name", exact=True).fill("Ada")
    start.get_by_label("How many times").fill("7")  # a schema title labels its field
    start.get_by_role("button", name="Start execution").click()
    assert "at most 3" in start.inner_text()
    start.get_by_label("How many times").fill("2")
    start.get_by_label("mood").select_option("calm")
    page.evaluate("window.noReload = true")
    start.get_by_role("button", name="Start execution").click()

    state = page.locator("#execution-state")
    state.get_by_text("StepStarted").wait_for()  # in progress: waiting at `pause`
    page.locator('#graph [data-step="pause"][data-status="waiting"]').wait_for()
    state.get_by_text("ExecutionSucceeded").wait_for(timeout=30_000)
    assert page.evaluate("window.noReload") is True, "the page reloaded"
    history = page.get_by_role("list", name="history")
    types = history.locator("li").evaluate_all("els => els.map(e => e.dataset.type)")
    assert types[0] == "ExecutionSubmitted" and types[-1] == "ExecutionSucceeded", types
    assert "calm-down" in history.inner_text()
    statuses = dict(
        page.eval_on_selector_all("#graph [data-step]", "els => els.map(e => [e.dataset.step, e.dataset.status])")
    )
    assert statuses == {
        "hello": "succeeded",
        "pause": "succeeded",
        "check": "succeeded",
        "calm-down": "succeeded",
        "done": "succeeded",
    }
    assert '"name": "Ada"' in page.get_by_role("region", name="input and output").inner_text()


def test_a_waiting_callback_step_is_completed_through_its_form(page: Any, defined: Console, problems: Problems) -> None:
    problems.allow("status of 400 (Bad Request)")  # the API's answer to a bad answer
    execution = defined.start("review")
    page.goto(defined.url_for(defined.url.split("#token=", 1)[1]))
    page.evaluate(f"location.hash = '#/t/{TENANT}/executions/{execution}'")
    card = page.get_by_role("region", name="step approve waits for an answer")
    card.get_by_role("button", name="Complete step").wait_for()
    assert "A reviewer answers here." in card.inner_text()
    page.locator('#graph [data-step="approve"].current[data-status="waiting"]').wait_for()

    card.get_by_label("reviewer", exact=True).fill("a")
    # a click that leaves the focus in the field (no blur, no "change"): the form has the value anyway
    card.get_by_role("button", name="Complete step").dispatch_event("click")
    card.get_by_text("at least 2 characters").first.wait_for()  # the form's own check, next to the field

    card.get_by_label("reviewer", exact=True).fill("ada")
    card.get_by_label("Approved").select_option("true")
    card.get_by_label("contact", exact=True).fill("not-an-address")
    card.get_by_role("button", name="Complete step").click()
    # the API's 400 (sedo checks formats), shown at the field it names
    contact = card.get_by_label("contact", exact=True).locator("xpath=..")
    contact.get_by_text("'not-an-address' is not a 'email'").wait_for()
    assert "output does not pass" in card.locator("#answer-status").inner_text()

    card.get_by_label("contact", exact=True).fill("ada@example.com")
    card.get_by_role("button", name="Complete step").click()
    page.locator("#execution-state").get_by_text("ExecutionSucceeded").wait_for(timeout=30_000)
    output = page.get_by_role("region", name="input and output").inner_text()
    assert '"reviewer": "ada"' in output and '"approved": true' in output


def test_a_maps_iterations_open_in_their_own_view(page: Any, defined: Console) -> None:
    execution = defined.start("fan", {"items": [3, 1, 4]})
    page.goto(defined.url)
    page.evaluate(f"location.hash = '#/t/{TENANT}/executions/{execution}'")
    page.locator("#execution-state").get_by_text("ExecutionSucceeded").wait_for(timeout=30_000)
    iterations = page.get_by_role("table", name="iterations")
    iterations.locator("tbody tr").nth(2).wait_for()
    assert iterations.locator("tbody tr").count() == 3
    assert sorted(step_ids(page)) == ["done", "double", "each"]  # the map as a group with its step inside
    assert page.locator('#graph [data-step="each"].group [data-step="double"]').count() == 1

    iterations.get_by_role("link").first.click()
    page.get_by_text("Iteration 0 of step each").wait_for()
    page.locator("#execution-state").get_by_text("ExecutionSucceeded").wait_for()
    page.locator('#graph [data-step="double"][data-status="succeeded"]').wait_for()
    assert step_ids(page) == ["double"]
    assert "3" in page.get_by_role("region", name="input and output").inner_text()
    page.get_by_role("link", name="its parent execution").click()
    page.get_by_role("table", name="iterations").wait_for()


def test_a_token_without_the_role_sees_read_only_pages(page: Any, defined: Console) -> None:
    waiting = defined.start("review")
    page.goto(defined.url_for(viewer_token()))
    page.get_by_role("link", name="greet").click()
    page.locator("#graph [data-step]").first.wait_for()
    assert page.locator("#role").inner_text() == "viewer"
    assert page.get_by_role("region", name="start an execution").count() == 0
    assert page.get_by_text("Edit (stores a new version)").count() == 0
    page.get_by_role("link", name="Definitions").click()
    assert page.get_by_role("link", name="New definition").count() == 0

    page.evaluate(f"location.hash = '#/t/{TENANT}/executions/{waiting}'")
    card = page.get_by_role("region", name="step approve waits for an answer")
    card.get_by_text("Your role can only read").wait_for()
    assert card.get_by_role("button").count() == 0
    assert page.get_by_role("button", name="Cancel execution").count() == 0
    page.get_by_role("link", name="Executions").click()
    page.get_by_role("table", name="executions").get_by_role("link").first.wait_for()


def test_signing_in_by_pasting_a_token_and_signing_out(page: Any, defined: Console) -> None:
    page.goto(f"{defined.base}/sedo/console/")
    page.get_by_role("heading", name="Sign in").wait_for()
    page.get_by_label("Token").fill(viewer_token())
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("table", name="definitions").get_by_role("link", name="greet").wait_for()
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("heading", name="Sign in").wait_for()
    assert page.evaluate("sessionStorage.getItem('sedo.token')") is None


def test_user_strings_are_shown_as_text_never_as_html(page: Any, defined: Console) -> None:
    page.goto(defined.url)
    page.evaluate(f"location.hash = '#/t/{TENANT}/definitions/hostile'")
    page.locator("#graph [data-step]").first.wait_for()
    page.get_by_text("<img src=x id=injected-description>", exact=True).wait_for()
    page.get_by_label("<b id=injected-title>bold</b>", exact=True).wait_for()
    page.get_by_text("<img src=y id=injected-help>", exact=True).wait_for()
    assert page.locator("#injected-description, #injected-title, #injected-help, #injected-comment").count() == 0
    assert page.evaluate("window.injected") is None


def test_a_graph_of_sixty_steps_draws_every_step(page: Any, defined: Console) -> None:
    steps = "\n".join(f"  - {{id: s{i}, type: echo, message: m{i}, next: s{i + 1}}}" for i in range(59))
    text = f"id: long-one\nsteps:\n{steps}\n  - {{id: s59, type: succeed}}\n"
    _define_once(defined, text)
    page.goto(defined.url)
    page.evaluate(f"location.hash = '#/t/{TENANT}/definitions/long-one'")
    page.locator('#graph [data-step="s59"]').wait_for()
    assert len(step_ids(page)) == 60
    box = page.locator("#graph .graph-box")
    before = page.locator("#graph .viewport").get_attribute("transform")
    box.focus()
    page.keyboard.press("+")
    assert page.locator("#graph .viewport").get_attribute("transform") != before  # zoom by keyboard
    page.get_by_role("button", name="fit the graph").click()


def test_the_editor_lists_the_apis_problems_at_their_step(page: Any, defined: Console, problems: Problems) -> None:
    problems.allow("status of 400 (Bad Request)")  # the API refuses the broken definition
    page.goto(defined.url)
    page.evaluate(f"location.hash = '#/t/{TENANT}/new'")
    editor = page.get_by_label("Definition (YAML or JSON)")
    editor.fill(
        "id: broken-one\nsteps:\n  - {id: a, type: echo, message: hi, next: nowhere}\n  - {id: b, type: sleep}\n"
    )
    page.get_by_role("button", name="Create").click()
    problems = page.get_by_role("list", name="problems")
    problems.get_by_text("/steps/0/next").wait_for()
    assert "unknown step 'nowhere'" in problems.inner_text()
    assert "/steps/1/type" in problems.inner_text()
    page.locator('#preview [data-step="a"].problem').wait_for()
    page.locator('#preview [data-step="b"].problem').wait_for()


def test_swagger_ui_and_the_spec_answer_without_a_token(page: Any, console: Console) -> None:
    for path in ("/sedo/ui/", "/sedo/openapi.json", "/sedo/console/"):
        response = httpx.get(console.base + path, timeout=10)
        assert response.status_code == 200, (path, response.status_code)
        assert "script-src 'self'" in response.headers["content-security-policy"]
    spec = httpx.get(console.base + "/sedo/openapi.json", timeout=10).json()
    assert "/sedo/tenants/{tenantId}/definitions" in spec["paths"]
    page.goto(console.base + "/sedo/ui/")
    page.get_by_text("/sedo/tenants/{tenantId}/definitions/{definitionId}/execute").first.wait_for()


def test_cancel_from_the_page_and_filter_the_list_by_state(page: Any, defined: Console) -> None:
    execution = defined.start("review")
    page.goto(defined.url)
    page.evaluate(f"location.hash = '#/t/{TENANT}/executions/{execution}'")
    page.get_by_role("button", name="Cancel execution").click()
    page.locator("#execution-state").get_by_text("ExecutionCancelled").wait_for()
    assert page.get_by_role("button", name="Cancel execution").count() == 0
    assert page.get_by_role("region", name="step approve waits for an answer").count() == 0

    page.get_by_role("link", name="Executions").click()
    page.get_by_label("State").select_option("ExecutionCancelled")
    key = execution.split(":", 2)[2]
    listed = page.get_by_role("table", name="executions")
    listed.get_by_role("link", name=key).wait_for()
    states = listed.locator("tbody tr td:nth-child(3)").all_inner_texts()
    assert states and set(states) == {"ExecutionCancelled"}, states
    page.get_by_label("Definition").fill("review")
    page.get_by_label("Definition").press("Enter")
    page.wait_for_url(re.compile(r"definitionId=review"))
    listed.get_by_role("link", name=key).wait_for()
