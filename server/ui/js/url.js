// Every view's state lives in the URL hash: "#/projects/<p>?q=...&order=-summary.loss&sel=a,b".
// Pure functions: parse a hash into {path: [segments], params: {name: value}} and back.

/** @param {string} hash  location.hash, with or without the leading "#" */
export function parseHash(hash) {
  const text = (hash || "").replace(/^#/, "");
  const cut = text.indexOf("?");
  const pathPart = cut < 0 ? text : text.slice(0, cut);
  const query = cut < 0 ? "" : text.slice(cut + 1);
  const path = pathPart.split("/").filter((s) => s !== "").map(decodeURIComponent);
  const params = {};
  for (const [k, v] of new URLSearchParams(query)) params[k] = v;
  return { path, params };
}

/** The hash for a path and params; empty, null and undefined params are left out, keys sorted. */
export function formatHash(path, params = {}) {
  const search = new URLSearchParams();
  for (const key of Object.keys(params).sort()) {
    const value = params[key];
    if (value === undefined || value === null || value === "" || value === false) continue;
    search.set(key, value === true ? "1" : String(value));
  }
  const query = search.toString();
  return "#/" + path.map(encodeURIComponent).join("/") + (query ? "?" + query : "");
}

/** A comma-separated list param as an array (no empty items). */
export function listParam(value) {
  return value ? String(value).split(",").map((s) => s.trim()).filter(Boolean) : [];
}

/** Next sort order when a column header is clicked: ascending, then descending, then ascending. */
export function toggleOrder(current, field) {
  return current === field ? "-" + field : field;
}

/** Rows per page of the runs table unless the URL says `limit`. */
export const TABLE_LIMIT = 50;

/** The runs table's page request for a view's URL params: {q, order, limit, offset}. */
export function tableQuery(params) {
  return { q: params.q, order: params.order, limit: Number(params.limit) || TABLE_LIMIT, offset: Number(params.offset) || 0 };
}
