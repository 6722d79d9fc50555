// The console's shell: sign-in, the tenant, and a hash router over the pages.
//   #/t/<tenant>/definitions[?q=]         definitions (search, paging)
//   #/t/<tenant>/definitions/<id>[?v=N]   one definition: versions, graph, YAML, editor, start form
//   #/t/<tenant>/new                      a new definition
//   #/t/<tenant>/executions[?state=&definitionId=]
//   #/t/<tenant>/executions/<id>          one execution (or iteration)

import * as api from "./api.js";
import { h, clear } from "./dom.js";
import { definitionsPage, definitionPage, newDefinitionPage } from "./definitions.js";
import { executionsPage, executionPage } from "./executions.js";

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const session = document.getElementById("session");
let stopPage = () => {};

export function go(hash) {
  window.location.hash = hash;
}

function parseRoute() {
  const [path, query = ""] = window.location.hash.replace(/^#/, "").split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { parts, params: new URLSearchParams(query) };
}

function signInPage(message) {
  const input = h("input", { id: "token", type: "password", autocomplete: "off", required: true, spellcheck: "false" });
  const form = h(
    "form",
    {
      class: "card signin",
      onsubmit: (ev) => {
        ev.preventDefault();
        api.setToken(input.value);
        render();
      },
    },
    h("h2", {}, "Sign in"),
    message ? h("p", { class: "error", role: "alert" }, message) : null,
    h("p", {}, "Paste a bearer token (a JWT from your issuer; locally, the one ", h("code", {}, "make run"), " prints)."),
    h("div", { class: "field" }, h("label", { for: "token" }, "Token"), input),
    h("button", { type: "submit" }, "Sign in"),
  );
  main.append(form);
  input.focus();
}

function header(tenant, grants) {
  clear(nav);
  clear(session);
  const tenants = Object.keys(grants);
  if (tenant) {
    nav.append(
      h("a", { href: `#/t/${encodeURIComponent(tenant)}/definitions` }, "Definitions"),
      h("a", { href: `#/t/${encodeURIComponent(tenant)}/executions` }, "Executions"),
      h("a", { href: "../ui/index.html" }, "API (Swagger UI)"),
    );
  }
  if (tenants.length > 1) {
    const select = h("select", { id: "tenant", onchange: () => go(`#/t/${encodeURIComponent(select.value)}/definitions`) });
    for (const t of tenants) select.append(h("option", { value: t, selected: t === tenant }, t));
    session.append(h("label", { for: "tenant" }, "Tenant"), select);
  } else if (tenant) {
    session.append(h("span", {}, `Tenant ${tenant}`));
  }
  if (tenant) session.append(h("span", { class: "role", id: "role" }, grants[tenant] || "no role"));
  const expires = api.expiry();
  if (expires) session.append(h("span", { class: "muted" }, `token until ${expires.toLocaleTimeString()}`));
  session.append(
    h(
      "button",
      {
        type: "button",
        id: "sign-out",
        onclick: () => {
          api.signOut();
          go("#/");
          render();
        },
      },
      "Sign out",
    ),
  );
}

export async function render() {
  stopPage();
  stopPage = () => {};
  clear(main);
  api.adoptFragmentToken();
  if (!api.token()) {
    clear(nav);
    clear(session);
    signInPage();
    return;
  }
  const grants = api.grants();
  const { parts, params } = parseRoute();
  let tenant = parts[0] === "t" ? parts[1] : null;
  if (!tenant) {
    const first = Object.keys(grants)[0];
    if (!first) {
      api.signOut();
      signInPage("This token grants no tenant (no sedo:tenants claim).");
      return;
    }
    go(`#/t/${encodeURIComponent(first)}/definitions`);
    return;
  }
  header(tenant, grants);
  const ctx = { tenant, role: grants[tenant] || "viewer", params, main, onStop: (fn) => (stopPage = fn) };
  const [, , section, id] = parts;
  try {
    if (section === "definitions" && id) await definitionPage(ctx, id);
    else if (section === "new") await newDefinitionPage(ctx);
    else if (section === "executions" && id) await executionPage(ctx, id);
    else if (section === "executions") await executionsPage(ctx);
    else await definitionsPage(ctx);
  } catch (exc) {
    if (exc instanceof api.ApiError && exc.status === 401) {
      api.signOut();
      clear(main);
      signInPage(`The API refused the token: ${exc.message}`);
      return;
    }
    main.append(h("p", { class: "error", role: "alert" }, exc.message || String(exc)));
    if (!(exc instanceof api.ApiError)) console.error(exc);
  }
}

window.addEventListener("hashchange", render);
render();
