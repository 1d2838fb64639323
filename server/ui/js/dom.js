// The one way the UI builds DOM: elements with attributes and text children. Strings always become
// text nodes (never HTML), so a run named "<img onerror=...>" shows as those characters.

/**
 * h("a", {href: "#/x", class: "link", onclick: fn}, "text", childNode, [more])
 * Attribute values are set with setAttribute; functions on "on*" keys become listeners.
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "value") el.value = value;
    else if (key === "checked") el.checked = Boolean(value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
}

/** Replace an element's children. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A message line (errors and empty states) as text. */
export function notice(text, kind = "info") {
  return h("p", { class: "notice " + kind, role: kind === "error" ? "alert" : "status" }, text);
}
