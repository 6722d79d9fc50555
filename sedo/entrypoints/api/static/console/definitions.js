// Definitions: the list (search, paging), one definition (versions, graph, YAML), the
// start form generated from its inputSchema, and an editor (create / new version).

import * as api from "./api.js";
import { h, field, put, time } from "./dom.js";
import { draw } from "./graph.js";
import { schemaForm } from "./form.js";
import { dump, load } from "./vendor/js-yaml/js-yaml.mjs";

const enc = encodeURIComponent;

export async function definitionsPage(ctx) {
  const { tenant, role, main, params } = ctx;
  const search = h("input", { id: "search", type: "search", value: params.get("q") || "", placeholder: "id or description" });
  const list = h("tbody");
  const more = h("button", { type: "button", hidden: true }, "Load more");
  const count = h("p", { class: "muted", "aria-live": "polite" });
  put(main, 
    h(
      "div",
      { class: "title-row" },
      h("h1", {}, "Definitions"),
      api.can(role, "author") ? h("a", { class: "button", href: `#/t/${enc(tenant)}/new` }, "New definition") : null,
    ),
    h("div", { class: "toolbar" }, field("Search", search)),
    h("table", { class: "list", "aria-label": "definitions" }, h("thead", {}, h("tr", {}, h("th", {}, "Id"), h("th", {}, "Version"), h("th", {}, "Description"), h("th", {}, "Updated"))), list),
    count,
    more,
  );
  const loaded = [];
  let next;
  const show = () => {
    const q = search.value.trim().toLowerCase();
    const rows = loaded.filter((d) => !q || d.id.toLowerCase().includes(q) || (d.description || "").toLowerCase().includes(q));
    list.replaceChildren(
      ...rows.map((d) =>
        h(
          "tr",
          {},
          h("td", {}, h("a", { href: `#/t/${enc(tenant)}/definitions/${enc(d.id)}` }, d.id)),
          h("td", {}, `v${d.version}`),
          h("td", {}, d.description || ""),
          h("td", {}, time(d.updatedAt)),
        ),
      ),
    );
    count.textContent = `${rows.length} shown of ${loaded.length} loaded${next ? " (more on the server)" : ""}`;
  };
  const load = async () => {
    const got = await api.page(`${api.tenantPath(tenant)}/definitions`, { limit: 50, nextToken: next });
    loaded.push(...got.items);
    next = got.next;
    more.hidden = !next;
    show();
  };
  search.addEventListener("input", show);
  more.addEventListener("click", load);
  await load();
}

export async function definitionPage(ctx, id) {
  const { tenant, role, main, params } = ctx;
  const version = params.get("v");
  const found = await api.call("GET", `${api.tenantPath(tenant)}/definitions/${enc(id)}${version ? `?version=${enc(version)}` : ""}`);
  const doc = found.definition;
  const versions = h("select", {
    id: "version",
    onchange: () => (window.location.hash = `#/t/${enc(tenant)}/definitions/${enc(id)}?v=${versions.value}`),
  });
  for (let v = found.latestVersion; v >= 1; v--) versions.append(h("option", { value: v, selected: v === found.version }, `v${v}${v === found.latestVersion ? " (latest)" : ""}`));
  const graph = h("div", { class: "graph-host", id: "graph" });
  put(main, 
    h("div", { class: "title-row" }, h("h1", {}, id), field("Version", versions)),
    doc.description ? h("p", {}, doc.description) : null,
    h("p", { class: "muted" }, `stored ${time(found.createdAt)} \u00b7 ${countSteps(doc.steps)} steps \u00b7 `, h("a", { href: `#/t/${enc(tenant)}/executions?definitionId=${enc(id)}` }, "its executions")),
    h("section", { "aria-label": "graph" }, h("h2", {}, "Graph"), legend(), graph),
  );
  await draw(graph, doc, { label: `graph of ${id}` });
  if (api.can(role, "operator")) {
    const host = h("section", { class: "card", id: "start", "aria-label": "start an execution" }, h("h2", {}, "Start an execution"));
    put(main, host);
    startForm(host, tenant, id, doc, found.version === found.latestVersion ? null : found.latestVersion);
  }
  const yaml = h("pre", { class: "code", id: "yaml" }, dump(doc, { noRefs: true, lineWidth: 100 }));
  put(main, h("details", { class: "card" }, h("summary", {}, "YAML"), yaml));
  if (api.can(role, "author")) put(main, editor(ctx, id, dump(doc, { noRefs: true, lineWidth: 100 })));
}

export async function newDefinitionPage(ctx) {
  put(ctx.main, h("h1", {}, "New definition"));
  const starter = "id: my-workflow\ninputSchema:\n  type: object\n  properties:\n    name: {type: string}\nsteps:\n  - id: hello\n    type: echo\n    message: hello\n    end: true\n";
  put(ctx.main, editor(ctx, null, starter, true));
}

function countSteps(steps) {
  let n = 0;
  for (const s of Array.isArray(steps) ? steps : []) {
    n += 1;
    if (s && s.iterator) n += countSteps(s.iterator.steps);
    for (const b of (s && s.branches) || []) n += countSteps(b && b.steps);
  }
  return n;
}

export function legend() {
  const item = (cls, text) => h("li", { class: cls }, text);
  return h("ul", { class: "legend", "aria-label": "legend" }, item("next", "next"), item("choice", "choice (when)"), item("default", "default"), item("catch", "catch"));
}

function startForm(host, tenant, id, doc, latest) {
  if (latest) host.append(h("p", { class: "muted" }, `Executions start from the latest version (v${latest}).`));
  const formHost = h("div");
  host.append(formHost);
  const form = schemaForm(formHost, doc.inputSchema, { name: "input" });
  const name = h("input", { id: "execution-name", type: "text", pattern: "[A-Za-z0-9][A-Za-z0-9_.\\-]{0,79}" });
  const status = h("p", { role: "status" });
  const button = h("button", { type: "button", id: "start-execution" }, "Start execution");
  host.append(field("Execution name (optional, makes retries idempotent)", name), button, status);
  button.addEventListener("click", async () => {
    status.textContent = "";
    if (!form.validate()) {
      status.textContent = "Fix the fields marked above.";
      return;
    }
    const body = { input: form.value() };
    if (name.value.trim()) body.name = name.value.trim();
    button.disabled = true;
    try {
      const started = await api.call("POST", `${api.tenantPath(tenant)}/definitions/${enc(id)}/execute`, body);
      window.location.hash = `#/t/${enc(tenant)}/executions/${enc(started.id)}`;
    } catch (exc) {
      status.textContent = exc instanceof api.ApiError && exc.errors.length ? `${exc.problem.title}: see the fields above` : exc.message;
      if (exc instanceof api.ApiError) form.showApiErrors(exc.errors.filter((e) => e.path || e.message));
    } finally {
      button.disabled = false;
    }
  });
}

function editor(ctx, id, text, open = false) {
  const { tenant } = ctx;
  const area = h("textarea", { id: "definition-text", rows: 22, spellcheck: "false", class: "code" });
  area.value = text;
  const problems = h("ul", { class: "problems", "aria-label": "problems", "aria-live": "assertive" });
  const preview = h("div", { class: "graph-host", id: "preview" });
  const save = h("button", { type: "button", id: "save-definition" }, id ? "Save as a new version" : "Create");
  const check = h("button", { type: "button" }, "Preview graph");
  const parsed = () => {
    try {
      return load(area.value);
    } catch (exc) {
      problems.replaceChildren(h("li", {}, `not valid YAML: ${exc.message}`));
      return undefined;
    }
  };
  const showProblems = async (doc, errors) => {
    problems.replaceChildren(...errors.map((e) => h("li", {}, h("code", {}, e.path || "/"), " ", e.message)));
    if (doc && typeof doc === "object") {
      const { marks } = await draw(preview, doc, { problems: errors, label: "preview of the edited definition" });
      if (marks.size) problems.append(h("li", { class: "muted" }, `${marks.size} step(s) marked in the graph below`));
    }
  };
  check.addEventListener("click", async () => {
    const doc = parsed();
    if (doc !== undefined) await showProblems(doc, []);
  });
  save.addEventListener("click", async () => {
    const doc = parsed();
    save.disabled = true;
    try {
      const path = id ? `${api.tenantPath(tenant)}/definitions/${enc(id)}` : `${api.tenantPath(tenant)}/definitions`;
      const stored = await api.call(id ? "PUT" : "POST", path, area.value, { contentType: "application/yaml" });
      window.location.hash = `#/t/${enc(tenant)}/definitions/${enc(stored.id)}?v=${stored.version}`;
    } catch (exc) {
      const errors = exc instanceof api.ApiError && exc.errors.length ? exc.errors : [{ path: "", message: exc.message }];
      await showProblems(doc, errors);
    } finally {
      save.disabled = false;
    }
  });
  return h(
    "details",
    { class: "card", open: open || undefined },
    h("summary", {}, id ? "Edit (stores a new version)" : "Definition"),
    field("Definition (YAML or JSON)", area),
    h("div", { class: "toolbar" }, check, save),
    problems,
    preview,
  );
}

