// Forms from JSON Schema (an execution's input, a callback step's answer), drawn by
// JSON Editor (vendored). Labels are each property's `title` or its name; the form's own
// errors and the API's 400 errors show next to their field.

import { h } from "./dom.js";

//: JSON Editor's own schema extensions: they could carry HTML or templates into the page,
//: so the schema it gets keeps only JSON Schema's keywords.
const EXTENSIONS = new Set([
  "options",
  "links",
  "headerTemplate",
  "template",
  "watch",
  "enumSource",
  "media",
  "propertyOrder",
  "infoText",
  "$schema",
]);
// Formats JSON Editor would draw with editors this page does not ship (rich text, uploads...).
const PLAIN_FORMATS = new Set(["html", "wysiwyg", "markdown", "url-upload", "signature", "starrating", "xhtml", "bbcode"]);

// Input types whose typing JSON Editor should see as it happens (see schemaForm).
const TEXT_INPUTS = new Set(["text", "email", "url", "search", "tel", "password"]);

let patched = false;
function patchTheme() {
  if (patched) return;
  patched = true;
  const JE = window.JSONEditor;
  const theme = JE.AbstractTheme.prototype;
  // cleanText parses its argument as HTML to strip tags: titles, descriptions (and string
  // values, which it would change) are text. Both the themes and the editors have one.
  theme.cleanText = (text) => String(text ?? "");
  JE.AbstractEditor.prototype.cleanText = (text) => String(text ?? "");
  // The base theme hides things with style attributes, which the CSP refuses: use a class,
  // as JSON Editor's other themes do.
  theme.visuallyHidden = (el) => el && el.classList.add("visually-hidden");
  theme.getHiddenLabel = (text) => Object.assign(document.createElement("label"), { textContent: text, className: "visually-hidden" });
  theme.getHiddenText = (text) => Object.assign(document.createElement("span"), { textContent: text, className: "visually-hidden" });
  theme.getOptInCheckbox = function getOptInCheckbox(name) {
    const container = document.createElement("span");
    const label = this.getHiddenLabel(`${name} opt-in`);
    const checkbox = Object.assign(document.createElement("input"), { type: "checkbox", id: `${name}-opt-in`, className: "json-editor-opt-in" });
    label.htmlFor = checkbox.id;
    container.append(checkbox, label);
    return { label, checkbox, container };
  };
  JE.defaults.options.disable_theme_rules = true; // no <style> injection (the CSP forbids it)
  JE.defaults.options.iconlib = null;
}

/** A copy of `schema` with JSON Editor's extensions removed (recursively, data keywords kept). */
export function plainSchema(schema) {
  if (Array.isArray(schema)) return schema.map(plainSchema);
  if (!schema || typeof schema !== "object") return schema;
  const out = {};
  for (const [key, value] of Object.entries(schema)) {
    if (EXTENSIONS.has(key)) continue;
    if (key === "format" && PLAIN_FORMATS.has(value)) continue;
    if (["const", "enum", "default", "examples"].includes(key)) out[key] = value;
    else if (["properties", "patternProperties", "$defs", "definitions", "dependentSchemas"].includes(key) && value && typeof value === "object") {
      out[key] = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plainSchema(v)]));
    } else out[key] = plainSchema(value);
  }
  return out;
}

/** JSON Pointer ("/a/0") -> JSON Editor path ("<root>.a.0"). */
export function editorPath(pointer, root = "root") {
  if (!pointer || pointer === "/") return root;
  return [root, ...pointer.slice(1).split("/").map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"))].join(".");
}

/**
 * A form in `host` for `schema`; returns {value(), validate(), showApiErrors(errors), destroy()}.
 * With no schema (or `true`), a JSON text area stands in.
 */
export function schemaForm(host, schema, { name = "input", startval } = {}) {
  if (schema === undefined || schema === null || schema === true || (typeof schema === "object" && Object.keys(schema).length === 0)) {
    return jsonArea(host, name, startval);
  }
  patchTheme();
  const holder = h("div", { class: "schema-form" });
  const summary = h("div", { class: "form-errors", role: "alert" });
  host.append(holder, summary);
  const options = {
    schema: plainSchema(schema),
    theme: "html",
    disable_edit_json: true,
    disable_properties: true,
    disable_collapse: true,
    disable_array_delete_all_rows: true,
    disable_array_delete_last_row: true,
    no_additional_properties: false,
    required_by_default: false,
    show_errors: "never", // until the first submit; then after every change (see validate)
    prompt_before_delete: false,
    form_name_root: name,
    use_default_values: false, // an optional field left alone stays out of the value
    remove_empty_properties: true,
    display_required_only: false,
    show_opt_in: false,
  };
  if (startval !== undefined) options.startval = startval; // even an undefined startval resets the form
  const editor = new window.JSONEditor(holder, options);
  // JSON Editor takes a text field's value on its "change" event, which the browser fires on
  // blur: a value typed and submitted at once (Enter, a click that does not take focus first)
  // would be checked and sent as it was before. Hand it every keystroke of a text field
  // instead (number fields keep "change": half-typed numbers would be cleaned up under the cursor).
  holder.addEventListener("input", (event) => {
    const field = event.target;
    const texty = field instanceof HTMLTextAreaElement || (field instanceof HTMLInputElement && TEXT_INPUTS.has(field.type));
    if (texty) field.dispatchEvent(new Event("change", { bubbles: true }));
  });
  let apiErrors = [];
  // A missing required property is reported at its object: show it at the property's own field.
  const relocate = (e) => {
    const missing = /(?:required property|^)\s*'([^']+)'(?: is a required property)?/.exec(e.message || "");
    const wanted = missing && `${e.path}.${missing[1]}`;
    const isRequired = e.property === "required" || / required property/.test(e.message || "");
    return isRequired && wanted && editor.getEditor(wanted) ? { ...e, path: wanted } : e;
  };
  const own = () => editor.validate(editor.getValue()).map(relocate); // with no argument: cached results
  const show = () => {
    const all = [...own(), ...apiErrors];
    editor.root.showValidationErrors(all);
    summary.replaceChildren(
      ...apiErrors.filter((e) => !editor.getEditor(e.path)).map((e) => h("p", { class: "error" }, e.message)),
    );
  };
  let submitted = false;
  editor.on("change", () => {
    apiErrors = [];
    if (submitted) show(); // once submitted, errors follow every change
  });
  return {
    ready: new Promise((resolve) => editor.on("ready", resolve)),
    value: () => editor.getValue(),
    /** The form's own errors (shown next to their fields); true when there are none. */
    validate() {
      apiErrors = [];
      submitted = true;
      // With "never", JSON Editor clears every error on its next change; from now on it shows
      // its own, and the change handler above re-shows them relocated, with the API's.
      editor.options.show_errors = "always";
      const errors = own();
      show();
      return errors.length === 0;
    },
    /** The API's 400 errors ({path, message}) next to their field. */
    showApiErrors(errors) {
      apiErrors = errors.map((e) => relocate({ path: editorPath(e.path, name), property: "api", message: e.message }));
      show();
    },
    destroy: () => editor.destroy(),
  };
}

/** A JSON text area for schemas that say nothing (any JSON is accepted). */
function jsonArea(host, name, startval) {
  const id = `json-${name}`;
  const area = h("textarea", { id, rows: 6, spellcheck: "false", class: "code" });
  area.value = JSON.stringify(startval ?? {}, null, 2);
  const error = h("p", { class: "error", role: "alert" });
  host.append(h("div", { class: "field" }, h("label", { for: id }, `${name} (JSON)`), area, error));
  const parse = () => JSON.parse(area.value || "null");
  return {
    ready: Promise.resolve(),
    value: parse,
    validate() {
      try {
        parse();
        error.textContent = "";
        return true;
      } catch (exc) {
        error.textContent = `not valid JSON: ${exc.message}`;
        return false;
      }
    },
    showApiErrors(errors) {
      error.textContent = errors.map((e) => `${e.path || "/"}: ${e.message}`).join("\n");
    },
    destroy() {},
  };
}
