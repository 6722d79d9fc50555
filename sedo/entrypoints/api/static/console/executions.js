// Executions: the list (by state and definition, refreshed live) and one execution: its graph
// coloured by what happened, input/output/error, the history timeline, a map's progress and
// iterations, cancel, and a form for a waiting callback step. Live: polling with back-off.

import * as api from "./api.js";
import { h, field, json, put, time } from "./dom.js";
import { draw } from "./graph.js";
import { schemaForm } from "./form.js";
import { legend } from "./definitions.js";

const enc = encodeURIComponent;
const STATES = ["ExecutionSubmitted", "ExecutionStarted", "StepStarted", "StepSucceeded", "StepFailed", "ExecutionSucceeded", "ExecutionFailed", "ExecutionCancelled", "ExecutionPaused", "ExecutionResumed", "ExecutionRedriven"];
const FINAL = new Set(["ExecutionSucceeded", "ExecutionFailed", "ExecutionCancelled"]);

/** Poll `tick` (returns true to stop) every 1 s, backing off x1.5 to 15 s while nothing changes. */
function poller(ctx, tick) {
  let delay = 1000;
  let timer = null;
  let stopped = false;
  const run = async () => {
    if (stopped) return;
    let changed = false;
    let done = false;
    try {
      ({ changed, done } = await tick());
    } catch (exc) {
      changed = false;
    }
    if (done || stopped) return;
    delay = changed ? 1000 : Math.min(15000, delay * 1.5);
    timer = setTimeout(run, delay);
  };
  ctx.onStop(() => {
    stopped = true;
    clearTimeout(timer);
  });
  timer = setTimeout(run, delay);
}

function stateBadge(state) {
  return h("span", { class: `badge state-${state}` }, state);
}

function summaryRow(tenant, e) {
  return h(
    "tr",
    {},
    h("td", {}, h("a", { href: `#/t/${enc(tenant)}/executions/${enc(e.id)}` }, e.id.split(":").slice(2).join(":"))),
    h("td", {}, e.definitionId, ` v${e.definitionVersion}`),
    h("td", {}, stateBadge(e.state)),
    h("td", {}, e.step || ""),
    h("td", {}, time(e.createdAt)),
    h("td", {}, time(e.endedAt)),
  );
}

function table(label, rows) {
  return h("table", { class: "list", "aria-label": label }, h("thead", {}, h("tr", {}, ["Execution", "Definition", "State", "Step", "Created", "Ended"].map((c) => h("th", {}, c)))), rows);
}

export async function executionsPage(ctx) {
  const { tenant, main, params } = ctx;
  const state = h("select", { id: "state-filter" }, h("option", { value: "" }, "any state"), STATES.map((s) => h("option", { value: s, selected: params.get("state") === s }, s)));
  const definition = h("input", { id: "definition-filter", type: "text", value: params.get("definitionId") || "" });
  const apply = () => {
    const q = new URLSearchParams();
    if (state.value) q.set("state", state.value);
    if (definition.value.trim()) q.set("definitionId", definition.value.trim());
    window.location.hash = `#/t/${enc(tenant)}/executions?${q}`;
  };
  state.addEventListener("change", apply);
  definition.addEventListener("change", apply);
  const rows = h("tbody");
  const more = h("button", { type: "button", hidden: true }, "Load more");
  const live = h("p", { class: "muted", "aria-live": "polite" });
  put(main, h("h1", {}, "Executions"), h("div", { class: "toolbar" }, field("State", state), field("Definition", definition)), table("executions", rows), more, live);
  const query = { state: params.get("state") || undefined, definitionId: params.get("definitionId") || undefined, limit: 50 };
  let next;
  let seen = "";
  const first = async () => {
    const got = await api.page(`${api.tenantPath(tenant)}/executions`, query);
    const key = JSON.stringify(got.items.map((e) => [e.id, e.state, e.step]));
    const changed = key !== seen;
    if (changed) {
      seen = key;
      rows.replaceChildren(...got.items.map((e) => summaryRow(tenant, e)));
      next = got.next;
      more.hidden = !next;
    }
    live.textContent = `refreshed ${new Date().toLocaleTimeString()}`;
    return { changed, done: false };
  };
  more.addEventListener("click", async () => {
    const got = await api.page(`${api.tenantPath(tenant)}/executions`, { ...query, nextToken: next });
    rows.append(...got.items.map((e) => summaryRow(tenant, e)));
    next = got.next;
    more.hidden = !next;
  });
  await first();
  poller(ctx, first);
}

/** The nested steps an iteration runs: follow its parents up to the root, then down the document. */
async function scopeOf(tenant, execution, document) {
  const chain = [];
  let current = execution;
  while (current.iteration) {
    chain.unshift(current.iteration);
    current = await api.call("GET", `${api.tenantPath(tenant)}/executions/${enc(current.iteration.parentId)}`);
  }
  let doc = document;
  for (const it of chain) {
    const step = (doc.steps || []).find((s) => s.id === it.stepId);
    if (!step) break;
    doc = step.type === "parallel" ? { steps: step.branches[it.index].steps } : { steps: step.iterator.steps };
  }
  return doc;
}

/** What happened to each step, from the history. */
export function stepStates(events, execution) {
  const states = new Map();
  for (const e of events) {
    if (!e.stepId) continue;
    const s = states.get(e.stepId) || { status: "not-reached", retries: 0 };
    if (e.type === "StepStarted") s.status = "running";
    else if (e.type === "StepSucceeded") s.status = "succeeded";
    else if (e.type === "StepFailed") {
      if (e.retryInSeconds !== undefined) {
        s.status = "retried";
        s.retries += 1;
      } else if (e.caughtBy) s.status = "caught";
      else s.status = "failed";
    } else if (e.type === "ExecutionFailed" || e.type === "ExecutionCancelled") {
      if (s.status === "running") s.status = "failed";
    }
    states.set(e.stepId, s);
  }
  if (!FINAL.has(execution.state) && execution.step) {
    const s = states.get(execution.step) || { status: "running", retries: 0 };
    if (execution.awaiting || execution.waitingUntil || execution.progress) s.status = s.status === "retried" ? "retried" : "waiting";
    s.current = true;
    states.set(execution.step, s);
  }
  return states;
}

export async function executionPage(ctx, id) {
  const { tenant, role, main } = ctx;
  const base = `${api.tenantPath(tenant)}/executions/${enc(id)}`;
  let execution = await api.call("GET", base);
  const found = await api.call("GET", `${api.tenantPath(tenant)}/definitions/${enc(execution.definitionId)}?version=${execution.definitionVersion}`).catch(() => null);
  const document = found ? await scopeOf(tenant, execution, found.definition) : { steps: [] };

  const state = h("span", { id: "execution-state" });
  const facts = h("dl", { class: "facts" });
  const graph = h("div", { class: "graph-host", id: "graph" });
  const io = h("div", { class: "io" });
  const progress = h("div", { id: "progress" });
  const waiting = h("div", { id: "waiting" });
  const timeline = h("ol", { class: "timeline", id: "history", "aria-label": "history" });
  const iterations = h("div", { id: "iterations" });
  const actions = h("div", { class: "toolbar" });
  put(main, 
    h("div", { class: "title-row" }, h("h1", {}, "Execution"), state),
    h("p", { class: "muted mono" }, id),
    execution.iteration
      ? h("p", {}, `Iteration ${execution.iteration.index} of step ${execution.iteration.stepId} in `, h("a", { href: `#/t/${enc(tenant)}/executions/${enc(execution.iteration.parentId)}` }, "its parent execution"))
      : null,
    facts,
    actions,
    waiting,
    progress,
    h("section", { "aria-label": "graph" }, h("h2", {}, "Graph"), legend(), statusLegend(), graph),
    h("section", { "aria-label": "input and output" }, h("h2", {}, "Input, output, error"), io),
    iterations,
    h("section", {}, h("h2", {}, "History"), timeline),
  );

  let events = [];
  let shownKey = "";
  let waitingFor = null;
  const renderAll = async () => {
    events = await api.all(`${base}/history`, { limit: 1000 });
    const key = JSON.stringify([execution.state, execution.step, execution.progress, events.length]);
    if (key === shownKey) return false;
    shownKey = key;
    state.replaceChildren(stateBadge(execution.state));
    facts.replaceChildren(
      ...[
        ["Definition", h("a", { href: `#/t/${enc(tenant)}/definitions/${enc(execution.definitionId)}?v=${execution.definitionVersion}` }, `${execution.definitionId} v${execution.definitionVersion}`)],
        ["Current step", execution.step || "\u2014"],
        ["Name", execution.name],
        ["Created", time(execution.createdAt)],
        ["Updated", time(execution.updatedAt)],
        ["Ended", time(execution.endedAt)],
        ["Waiting until", time(execution.waitingUntil)],
      ]
        .filter(([, v]) => v)
        .flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]),
    );
    const states = stepStates(events, execution);
    await draw(graph, document, { statusOf: (node) => states.get(node.step.id), label: "execution graph" });
    io.replaceChildren(
      h("h3", {}, "Input"),
      json(execution.input),
      ...(execution.state === "ExecutionSucceeded" ? [h("h3", {}, "Output"), json(execution.output)] : []),
      ...(execution.error ? [h("h3", {}, "Error"), h("p", { class: "error", id: "execution-error" }, execution.error), h("h3", {}, "Cause"), h("pre", { class: "json" }, execution.cause || "")] : []),
    );
    progress.replaceChildren(...(execution.progress ? progressBar(execution.progress) : []));
    timeline.replaceChildren(...events.map(eventItem));
    actions.replaceChildren();
    if (!FINAL.has(execution.state) && !execution.iteration && api.can(role, "operator")) {
      const cancel = h("button", { type: "button", id: "cancel", class: "danger" }, "Cancel execution");
      cancel.addEventListener("click", async () => {
        cancel.disabled = true;
        try {
          execution = await api.call("POST", `${base}/cancel`, { reason: "cancelled from the console" });
          await renderAll();
        } catch (exc) {
          actions.append(h("p", { class: "error", role: "alert" }, exc.message));
          cancel.disabled = false;
        }
      });
      actions.append(cancel);
    }
    const awaiting = !FINAL.has(execution.state) ? execution.awaiting : null;
    const token = awaiting ? awaiting.taskToken : null;
    if (token !== waitingFor) {
      waitingFor = token;
      waiting.replaceChildren();
      if (awaiting) callbackCard(waiting, base, awaiting, document, role);
    }
    if (hasFanOut(document)) await showIterations(iterations, tenant, base);
    return true;
  };
  await renderAll();
  poller(ctx, async () => {
    if (FINAL.has(execution.state) && events.some((e) => FINAL.has(e.type))) return { changed: false, done: true };
    execution = await api.call("GET", base);
    const changed = await renderAll();
    return { changed, done: false };
  });
}

function hasFanOut(document) {
  return (document.steps || []).some((s) => s && (s.type === "map" || s.type === "parallel"));
}

function statusLegend() {
  const statuses = ["not-reached", "running", "waiting", "succeeded", "failed", "retried", "caught"];
  return h("ul", { class: "legend statuses", "aria-label": "step colours" }, statuses.map((s) => h("li", { class: `status-${s}` }, s.replace("-", " "))));
}

function progressBar(p) {
  const done = p.succeeded + p.failed;
  return [
    h("h2", {}, `Step ${p.stepId}: ${done} of ${p.total} iterations done`),
    h("progress", { id: "map-progress", max: p.total, value: done, "aria-label": `iterations of ${p.stepId} done` }),
    h("p", { class: "muted" }, `${p.succeeded} succeeded, ${p.failed} failed, ${p.running} running`),
  ];
}

function eventItem(e) {
  const { id, type, timestamp, seq, stepId, ...rest } = e;
  const details = Object.keys(rest).length ? h("details", {}, h("summary", {}, "details"), json(rest)) : null;
  return h("li", { class: `event ${type}`, "data-type": type }, h("span", { class: "event-id" }, `#${id}`), h("time", { datetime: timestamp }, time(timestamp)), " ", h("strong", {}, type), stepId ? h("span", { class: "mono" }, ` ${stepId}`) : null, details);
}

async function showIterations(host, tenant, base) {
  const got = await api.page(`${base}/iterations`, { limit: 100 });
  if (!got.items.length) {
    host.replaceChildren();
    return;
  }
  const rows = h("tbody", {}, got.items.map((e) => summaryRow(tenant, e)));
  host.replaceChildren();
  put(host, h("section", { "aria-label": "iterations" }, h("h2", {}, "Iterations"), table("iterations", rows), got.next ? h("p", { class: "muted" }, "first 100 shown") : null));
}

function findStep(steps, stepId) {
  for (const s of steps || []) if (s && s.id === stepId) return s;
  return null;
}

/** A waiting callback step: a form for its answer (from its inputSchema) to complete it, or fail it. */
function callbackCard(host, base, awaiting, document, role) {
  const step = findStep(document.steps, awaiting.stepId);
  const card = h("section", { class: "card waiting", "aria-label": `step ${awaiting.stepId} waits for an answer` }, h("h2", {}, `Step ${awaiting.stepId} waits for an answer`));
  host.append(card);
  if (step && step.comment) card.append(h("p", {}, step.comment));
  card.append(h("p", { class: "muted mono" }, `task token ${awaiting.taskToken}`));
  if (!api.can(role, "operator")) {
    card.append(h("p", { class: "muted" }, "Your role can only read: an operator completes or fails this step."));
    return;
  }
  const formHost = h("div");
  card.append(formHost);
  const form = schemaForm(formHost, step ? step.inputSchema : undefined, { name: "answer" });
  const status = h("p", { role: "status", id: "answer-status" });
  const complete = h("button", { type: "button", id: "complete-step" }, "Complete step");
  const error = h("input", { id: "fail-error", type: "text", value: "States.CallbackFailed" });
  const cause = h("input", { id: "fail-cause", type: "text" });
  const fail = h("button", { type: "button", id: "fail-step", class: "danger" }, "Fail step");
  card.append(complete, status, h("details", {}, h("summary", {}, "Fail the step instead"), field("Error", error), field("Cause", cause), fail));
  const path = (kind) => `${base}/steps/${enc(awaiting.stepId)}/${kind}`;
  complete.addEventListener("click", async () => {
    status.textContent = "";
    if (!form.validate()) {
      status.textContent = "Fix the fields marked above.";
      return;
    }
    try {
      await api.call("POST", path("complete"), { taskToken: awaiting.taskToken, output: form.value() });
      status.textContent = "Completed: the execution moves on.";
      complete.disabled = true;
    } catch (exc) {
      status.textContent = exc instanceof api.ApiError && exc.errors.length ? `${exc.problem.title}: see the fields above` : exc.message;
      if (exc instanceof api.ApiError) form.showApiErrors(exc.errors);
    }
  });
  fail.addEventListener("click", async () => {
    const body = { taskToken: awaiting.taskToken, error: error.value.trim() || "States.CallbackFailed" };
    if (cause.value.trim()) body.cause = cause.value.trim();
    try {
      await api.call("POST", path("fail"), body);
      status.textContent = "Failed: the step's retry and catch apply.";
      fail.disabled = true;
    } catch (exc) {
      status.textContent = exc.message;
    }
  });
}
