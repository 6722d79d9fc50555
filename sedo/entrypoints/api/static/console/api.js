// The sedo REST API, from the page: the bearer token lives in sessionStorage only.

const KEY = "sedo.token";
export const BASE = new URL("../", window.location.href).pathname.replace(/\/$/, ""); // "/sedo"
const TENANTS_CLAIM = "sedo:tenants";

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
  }
  get errors() {
    return Array.isArray(this.problem.errors) ? this.problem.errors : [];
  }
}

/** Take a token from the URL fragment (#token=...) into session storage, and drop it from the URL. */
export function adoptFragmentToken() {
  const match = /(?:^#|&)token=([^&]+)/.exec(window.location.hash);
  if (!match) return;
  setToken(decodeURIComponent(match[1]));
  window.history.replaceState(null, "", window.location.pathname + window.location.search + "#/");
}

export function token() {
  return window.sessionStorage.getItem(KEY);
}

export function setToken(value) {
  window.sessionStorage.setItem(KEY, value.trim());
}

export function signOut() {
  window.sessionStorage.removeItem(KEY);
}

function decodePart(part) {
  const padded = part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "=");
  const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes));
}

/** The token's grants, {tenant: role}, read from its claims (the API checks them; this only shapes the page). */
export function grants(value = token()) {
  if (!value) return {};
  let claims;
  try {
    claims = decodePart(value.split(".")[1] || "");
  } catch {
    return {};
  }
  // The claim's name is the deployment's (SEDO_JWT_TENANTS_CLAIM, e.g. custom:sedo_tenants for
  // Cognito ID tokens): sedo:tenants, or else the one claim whose name speaks of sedo tenants.
  const name = TENANTS_CLAIM in claims ? TENANTS_CLAIM : Object.keys(claims).find((k) => /sedo.?tenants/i.test(k));
  const claim = name ? claims[name] : undefined;
  if (claim && typeof claim === "object") return { ...claim };
  if (typeof claim === "string") {
    const out = {};
    for (const pair of claim.split(/[\s,]+/).filter(Boolean)) {
      const [tenant, role] = pair.split(":");
      if (tenant) out[tenant] = role || "author";
    }
    return out;
  }
  return {};
}

export function expiry(value = token()) {
  try {
    const exp = decodePart(value.split(".")[1]).exp;
    return typeof exp === "number" ? new Date(exp * 1000) : null;
  } catch {
    return null;
  }
}

const RANK = { viewer: 0, operator: 1, author: 2 };
export function can(role, needed) {
  return (RANK[role] ?? -1) >= RANK[needed];
}

export async function call(method, path, body, { contentType = "application/json", raw = false } = {}) {
  const headers = { Accept: "application/json, application/problem+json" };
  const current = token();
  if (current) headers.Authorization = `Bearer ${current}`;
  const init = { method, headers };
  if (body !== undefined) {
    headers["Content-Type"] = contentType;
    init.body = contentType === "application/json" ? JSON.stringify(body) : body;
  }
  const response = await fetch(BASE + path, init);
  const text = await response.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = { detail: text };
  }
  if (!response.ok) throw new ApiError(response.status, parsed);
  return raw ? { body: parsed, headers: response.headers } : parsed;
}

/** One page of a list: {items, next}. */
export async function page(path, params = {}) {
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") query.set(k, v);
  const qs = query.toString();
  const { body, headers } = await call("GET", qs ? `${path}?${qs}` : path, undefined, { raw: true });
  return { items: body || [], next: headers.get("Sedo-Next-Token") };
}

/** Every page of a list (history, small lists). */
export async function all(path, params = {}, max = 50) {
  const items = [];
  let next;
  for (let i = 0; i < max; i++) {
    const got = await page(path, { ...params, nextToken: next });
    items.push(...got.items);
    next = got.next;
    if (!next) break;
  }
  return items;
}

export const tenantPath = (tenant) => `/tenants/${encodeURIComponent(tenant)}`;
