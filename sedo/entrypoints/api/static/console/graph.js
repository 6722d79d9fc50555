// A definition as a graph: one node per step (id and type), edges for next, choices (with
// their `when`), default and catch; map and parallel steps as nested groups. ELK (elkjs,
// vendored) lays it out; this module draws SVG (text nodes only) with zoom and pan.

import { h, svg, clear } from "./dom.js";

const NODE_H = 46;
const CHAR_W = 8.2; // a bold 13px step id, generously
const START = "\u25B6 start";

function nodeWidth(step) {
  return Math.max(130, Math.ceil(CHAR_W * Math.max(String(step.id).length, String(step.type).length + 2)) + 28);
}

function label(text) {
  const t = String(text);
  const shown = t.length > 48 ? `${t.slice(0, 47)}\u2026` : t;
  return { text: shown, full: t, width: Math.ceil(shown.length * 6.6) + 8, height: 16 };
}

/** Steps of a scope, with the ELK children and edges drawn inside `container`. */
function scope(steps, prefix, container, pointer, registry) {
  const ids = new Map();
  const nodeId = (stepId) => ids.get(stepId);
  steps.forEach((step, index) => {
    if (step && typeof step === "object" && typeof step.id === "string" && !ids.has(step.id)) {
      ids.set(step.id, `${prefix}${step.id}`);
    }
  });
  const start = { id: `${prefix}::start`, width: 80, height: 26, kind: "start", labels: [] };
  container.children.push(start);
  let edgeCount = 0;
  const edge = (source, target, kind, text) => {
    if (!target) return;
    const e = { id: `${prefix}::e${edgeCount++}`, sources: [source], targets: [target] };
    const l = text ? label(text) : null;
    if (l) e.labels = [{ text: l.text, width: l.width, height: l.height }];
    registry.edges.set(e.id, { kind, full: l ? l.full : "" });
    container.edges.push(e);
  };
  steps.forEach((step, index) => {
    if (!step || typeof step !== "object") return;
    const id = nodeId(step.id);
    if (!id || registry.byId.has(id)) return;
    const here = `${pointer}/steps/${index}`;
    const node = { id, width: nodeWidth(step), height: NODE_H, step, pointer: here, labels: [], children: [], edges: [] };
    registry.byId.set(id, node);
    registry.byPointer.set(here, node);
    if (step.type === "map" && step.iterator && Array.isArray(step.iterator.steps)) {
      node.layoutOptions = groupOptions();
      scope(step.iterator.steps, `${id}/`, node, `${here}/iterator`, registry);
    } else if (step.type === "parallel" && Array.isArray(step.branches)) {
      node.layoutOptions = groupOptions();
      step.branches.forEach((branch, b) => {
        const group = {
          id: `${id}#${b}`,
          branch: b,
          labels: [],
          children: [],
          edges: [],
          layoutOptions: groupOptions(),
        };
        node.children.push(group);
        registry.groups.set(group.id, b);
        if (branch && Array.isArray(branch.steps)) scope(branch.steps, `${id}#${b}/`, group, `${here}/branches/${b}`, registry);
      });
    }
    if (node.children.length === 0) {
      delete node.children;
      delete node.edges;
    }
    container.children.push(node);
    if (index === 0) edge(start.id, id, "next");
    if (step.type === "choice") {
      (Array.isArray(step.choices) ? step.choices : []).forEach((c) => edge(id, nodeId(c && c.next), "choice", c && c.when));
      edge(id, nodeId(step.default), "default", "default");
    } else if (typeof step.next === "string") {
      edge(id, nodeId(step.next), "next");
    }
    (Array.isArray(step.catch) ? step.catch : []).forEach((c) => {
      const errors = c && Array.isArray(c.errors) ? c.errors.join(", ") : "";
      edge(id, nodeId(c && c.next), "catch", `catch ${errors}`.trim());
    });
  });
}

function groupOptions() {
  return {
    "elk.padding": "[top=40,left=14,bottom=14,right=14]",
    "elk.algorithm": "layered",
    "elk.direction": "DOWN",
  };
}

/** The ELK graph of a definition document, and lookups from step to node. */
export function toElk(document) {
  const root = {
    id: "root",
    layoutOptions: {
      "elk.algorithm": "layered",
      "elk.direction": "DOWN",
      "elk.layered.spacing.nodeNodeBetweenLayers": "42",
      "elk.spacing.nodeNode": "28",
      "elk.spacing.edgeLabel": "4",
      "elk.edgeLabels.inline": "false",
      "elk.layered.nodePlacement.strategy": "NETWORK_SIMPLEX",
    },
    children: [],
    edges: [],
  };
  const registry = { byId: new Map(), byPointer: new Map(), edges: new Map(), groups: new Map() };
  scope(Array.isArray(document && document.steps) ? document.steps : [], "", root, "", registry);
  return { root, registry };
}

/** The step node a JSON Pointer from the API falls in (the deepest), if any. */
export function stepAt(registry, pointer) {
  let best = null;
  for (const [where, node] of registry.byPointer) {
    if ((pointer === where || pointer.startsWith(`${where}/`)) && (!best || where.length > best.pointer.length)) best = node;
  }
  return best;
}

let elk = null;

/**
 * Draw `document` into `host`. Returns {nodes: Map(stepPath -> <g>), registry}.
 * `statusOf(node)` may return {status, current, retries} to colour a step.
 */
export async function draw(host, document, { statusOf, problems = [], label: name = "definition graph" } = {}) {
  clear(host);
  const { root, registry } = toElk(document);
  elk = elk || new window.ELK();
  const laid = await elk.layout(root);
  const marks = new Map();
  for (const p of problems) {
    const node = stepAt(registry, p.path || "");
    if (node) marks.set(node.id, [...(marks.get(node.id) || []), p.message]);
  }
  const drawn = new Map();
  const viewport = svg("g", { class: "viewport" });
  const defs = svg(
    "defs",
    {},
    ["next", "choice", "default", "catch"].map((kind) =>
      svg(
        "marker",
        { id: `arrow-${kind}`, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" },
        svg("path", { d: "M0,0 L10,5 L0,10 z", class: `arrowhead ${kind}` }),
      ),
    ),
  );
  const paint = (container, parent) => {
    for (const e of container.edges || []) parent.append(edgeShape(e));
    for (const child of container.children || []) {
      const source = registry.byId.get(child.id);
      if (child.id.endsWith("::start")) {
        parent.append(
          svg(
            "g",
            { class: "start", transform: `translate(${child.x},${child.y})` },
            svg("rect", { width: child.width, height: child.height, rx: 13 }),
            svg("text", { x: child.width / 2, y: 17, "text-anchor": "middle" }, START),
          ),
        );
      } else if (!source) {
        const group = svg("g", { class: "branch", transform: `translate(${child.x},${child.y})` });
        group.append(svg("rect", { width: child.width, height: child.height, rx: 6 }));
        group.append(svg("text", { x: 10, y: 18, class: "group-label" }, `branch ${registry.groups.get(child.id) + 1}`));
        parent.append(group);
        paint(child, group);
      } else {
        parent.append(stepShape(child, source));
      }
    }
  };
  const stepShape = (child, source) => {
    const step = source.step;
    const state = (statusOf && statusOf(source)) || {};
    const classes = ["step", `type-${step.type}`];
    if (state.status) classes.push(`status-${state.status}`);
    if (state.current) classes.push("current");
    if (child.children) classes.push("group");
    if (marks.has(child.id)) classes.push("problem");
    const g = svg("g", {
      class: classes.join(" "),
      transform: `translate(${child.x},${child.y})`,
      "data-step": step.id,
      "data-path": child.id,
      "data-status": state.status || "not-reached",
      tabindex: "0",
      role: "listitem",
      "aria-label": `step ${step.id}, ${step.type}${state.status ? `, ${state.status}` : ""}`,
    });
    g.append(svg("title", {}, [step.id, step.type, step.comment || "", ...(marks.get(child.id) || [])].filter(Boolean).join("\n")));
    g.append(svg("rect", { width: child.width, height: child.height, rx: 8, class: "box" }));
    g.append(svg("text", { x: 12, y: 19, class: "step-id" }, String(step.id)));
    const typeText = state.retries ? `${step.type}  \u21BB${state.retries}` : String(step.type);
    g.append(svg("text", { x: 12, y: 36, class: "step-type" }, typeText));
    if (child.children) paint(child, g);
    drawn.set(child.id, g);
    return g;
  };
  const edgeShape = (e) => {
    const { kind, full } = registry.edges.get(e.id) || { kind: "next", full: "" };
    const g = svg("g", { class: `edge ${kind}` });
    for (const s of e.sections || []) {
      const points = [s.startPoint, ...(s.bendPoints || []), s.endPoint];
      g.append(svg("path", { d: points.map((p, i) => `${i ? "L" : "M"}${p.x},${p.y}`).join(" "), "marker-end": `url(#arrow-${kind})` }));
    }
    for (const l of e.labels || []) {
      const lg = svg("g", { class: "edge-label", transform: `translate(${l.x || 0},${l.y || 0})` });
      lg.append(svg("rect", { width: l.width, height: l.height, rx: 3 }));
      lg.append(svg("text", { x: 4, y: 12 }, l.text));
      if (full !== l.text) lg.append(svg("title", {}, full));
      g.append(lg);
    }
    return g;
  };
  paint(laid, viewport);
  const width = Math.max(laid.width || 0, 200);
  const height = Math.max(laid.height || 0, 100);
  const canvas = svg("svg", { class: "graph", role: "list", "aria-label": name }, defs, svg("g", { transform: "translate(10,10)" }, viewport));
  const controls = h("div", { class: "graph-controls" });
  const box = h("div", { class: "graph-box", tabindex: "0", "aria-label": `${name}: arrow keys pan, + and - zoom, 0 fits` }, canvas);
  box.style.height = `${Math.round(Math.min(Math.max(height + 40, 240), 760))}px`; // CSSOM, not a style attribute
  host.append(controls, box);
  const zoom = panZoom(canvas, viewport, width + 20, height + 20, box);
  zoom.readable();
  controls.append(
    h("button", { type: "button", onclick: () => zoom.by(1.25), "aria-label": "zoom in" }, "+"),
    h("button", { type: "button", onclick: () => zoom.by(0.8), "aria-label": "zoom out" }, "\u2212"),
    h("button", { type: "button", onclick: () => zoom.fit(), "aria-label": "fit the graph" }, "fit"),
  );
  box.addEventListener("keydown", (ev) => {
    const step = 40;
    const keys = { "+": () => zoom.by(1.25), "=": () => zoom.by(1.25), "-": () => zoom.by(0.8), 0: () => zoom.fit(), ArrowLeft: () => zoom.pan(step, 0), ArrowRight: () => zoom.pan(-step, 0), ArrowUp: () => zoom.pan(0, step), ArrowDown: () => zoom.pan(0, -step) };
    if (keys[ev.key] && ev.target === box) {
      keys[ev.key]();
      ev.preventDefault();
    }
  });
  return { nodes: drawn, registry, marks };
}

/**
 * Zoom (wheel, buttons, keys) and pan (drag, keys) by changing the viewport transform. The
 * canvas is in CSS pixels: a big graph starts at a readable scale (its top, centred), not
 * shrunk to fit; "fit" shows all of it.
 */
function panZoom(canvas, viewport, graphWidth, graphHeight, box) {
  const width = box.clientWidth || 1000;
  const height = box.clientHeight || 600;
  canvas.setAttribute("viewBox", `0 0 ${width} ${height}`);
  let scale = 1;
  let tx = 0;
  let ty = 0;
  const apply = () => viewport.setAttribute("transform", `translate(${tx},${ty}) scale(${scale})`);
  const place = (next, centreY) => {
    scale = next;
    tx = (width - graphWidth * scale) / 2;
    ty = centreY ? (height - graphHeight * scale) / 2 : 0;
    apply();
  };
  const api = {
    by(factor, cx = width / 2, cy = height / 2) {
      const next = Math.min(6, Math.max(0.1, scale * factor));
      tx = cx - ((cx - tx) * next) / scale;
      ty = cy - ((cy - ty) * next) / scale;
      scale = next;
      apply();
    },
    pan(dx, dy) {
      const r = canvas.getBoundingClientRect();
      tx += dx * (width / (r.width || width));
      ty += dy * (height / (r.height || height));
      apply();
    },
    fit() {
      place(Math.min(1, width / graphWidth, height / graphHeight), true);
    },
    readable() {
      const fits = Math.min(1, width / graphWidth, height / graphHeight);
      place(Math.max(fits, 0.6), fits >= 0.6);
    },
  };
  const toGraph = (ev) => {
    const r = canvas.getBoundingClientRect();
    return [((ev.clientX - r.left) / r.width) * width, ((ev.clientY - r.top) / r.height) * height];
  };
  canvas.addEventListener(
    "wheel",
    (ev) => {
      ev.preventDefault();
      const [x, y] = toGraph(ev);
      api.by(ev.deltaY < 0 ? 1.15 : 1 / 1.15, x, y);
    },
    { passive: false },
  );
  let dragging = null;
  canvas.addEventListener("pointerdown", (ev) => {
    dragging = { x: ev.clientX, y: ev.clientY };
    canvas.setPointerCapture(ev.pointerId);
  });
  canvas.addEventListener("pointermove", (ev) => {
    if (!dragging) return;
    api.pan(ev.clientX - dragging.x, ev.clientY - dragging.y);
    dragging = { x: ev.clientX, y: ev.clientY };
  });
  canvas.addEventListener("pointerup", () => {
    dragging = null;
  });
  return api;
}
