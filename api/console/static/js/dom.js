// Building the page. Every element is made with createElement and every value goes in as a
// text node: nothing from the API is ever parsed as HTML (the page's Trusted Types policy
// makes innerHTML throw, so a slip would fail loudly rather than open a hole).

const SVG_NS = "http://www.w3.org/2000/svg";

function setProps(element, props) {
  for (const [name, value] of Object.entries(props ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "dataset") Object.assign(element.dataset, value);
    else if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? "" : String(value));
  }
}

function appendAll(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
}

/** An HTML element: h("p", {class: "x"}, "text", h("b", {}, value)). */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  setProps(element, props);
  appendAll(element, children);
  return element;
}

/** An SVG element, made the same way. */
export function s(tag, props = {}, ...children) {
  const element = document.createElementNS(SVG_NS, tag);
  setProps(element, props);
  appendAll(element, children);
  return element;
}

/** Replace an element's children. */
export function fill(element, ...children) {
  element.replaceChildren();
  appendAll(element, children);
  return element;
}

let serial = 0;

/** A unique id for labels and descriptions. */
export function uid(prefix = "f") {
  serial += 1;
  return `${prefix}${serial}`;
}

/**
 * A labelled form control with a hint and a place for its error. `path` (by default the
 * control's name) is the API's field path (e.g. "xoauth2.tokenEndpoint"): an error about
 * that field is shown here.
 */
export function field({ name, path = name, label, type = "text", hint, value, required, wide, multiline, options, ...attrs }) {
  const id = uid();
  const hintId = hint ? `${id}-hint` : null;
  const errorId = `${id}-error`;
  const describedBy = [hintId, errorId].filter(Boolean).join(" ");
  let control;
  if (options) {
    control = h("select", { id, name, "aria-describedby": describedBy, ...attrs },
      options.map(([optionValue, text]) => h("option", { value: optionValue, selected: optionValue === value }, text)));
  } else if (multiline) {
    control = h("textarea", { id, name, "aria-describedby": describedBy, "aria-required": required ? "true" : null, ...attrs });
    if (value) control.value = value;
  } else {
    control = h("input", { id, name, type, "aria-describedby": describedBy, "aria-required": required ? "true" : null, ...attrs });
    if (type === "checkbox") control.checked = Boolean(value);
    else if (value !== undefined) control.value = value;
  }
  const labelElement = h("label", { for: id }, label, required ? h("span", { "aria-hidden": "true" }, " *") : null);
  const hintElement = hint ? h("p", { class: "hint", id: hintId }, hint) : null;
  const errorElement = h("p", { class: "field-error", id: errorId, hidden: true });
  const classes = ["field", type === "checkbox" ? "check" : "", wide ? "wide" : ""].filter(Boolean).join(" ");
  const wrapper = type === "checkbox"
    ? h("div", { class: classes, dataset: { field: path } }, control, labelElement, hintElement, errorElement)
    : h("div", { class: classes, dataset: { field: path } }, labelElement, control, hintElement, errorElement);
  return { element: wrapper, control };
}

/**
 * A table. Each cell is labelled with its column's name, which a phone shows beside the
 * value when the rows are stacked as cards (console.css), so nothing needs a sideways scroll.
 */
export function table(caption, headers, rows) {
  const names = headers.map((header) => (Array.isArray(header) ? header[0] : header));
  for (const row of rows) {
    [...row.children].forEach((cell, index) => {
      if (names[index]) cell.dataset.label = names[index];
    });
  }
  return h("div", { class: "table-wrap" },
    h("table", {},
      caption ? h("caption", { class: "visually-hidden" }, caption) : null,
      h("thead", {}, h("tr", {}, headers.map((header) => {
        const [text, className] = Array.isArray(header) ? header : [header, null];
        return h("th", { scope: "col", class: className }, text);
      }))),
      h("tbody", {}, rows)));
}

/** A date and time as the reader's locale writes it (the ISO value as a tooltip). */
export function when(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return h("time", { datetime: iso, title: iso }, date.toLocaleString());
}

/** Milliseconds, briefly. */
export function ms(value) {
  if (value === null || value === undefined) return "";
  return value >= 1000 ? `${(value / 1000).toFixed(2)} s` : `${value.toFixed(1)} ms`;
}

/** A link inside the console (the router follows it without reloading the page). */
export function link(path, text, props = {}) {
  return h("a", { href: path, ...props }, text);
}

/** A status badge. */
export function badge(status) {
  return h("span", { class: `badge ${status}` }, status);
}
