// The JSON API client: non-finite floats arrive as the strings "NaN", "Infinity", "-Infinity" and are
// turned back into numbers here; errors become ApiError with the server's code and message.

const BASE = "/api/v1";
const NON_FINITE = { NaN: NaN, Infinity: Infinity, "-Infinity": -Infinity };

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** JSON.parse that decodes the non-finite float strings. */
export function decode(text) {
  if (!text.includes('"NaN"') && !text.includes('"Infinity"') && !text.includes('"-Infinity"')) return JSON.parse(text); // fast path
  return JSON.parse(text, (key, value) => (typeof value === "string" && value in NON_FINITE ? NON_FINITE[value] : value));
}

const TOKEN_KEY = "trackkit-token";

/** The API token (servers with auth on): kept in this browser's storage, sent as a header, never in a URL. */
export const token = {
  get: () => localStorage.getItem(TOKEN_KEY) || "",
  set: (value) => (value ? localStorage.setItem(TOKEN_KEY, value) : localStorage.removeItem(TOKEN_KEY)),
};

function authHeaders() {
  const value = token.get();
  return value ? { authorization: "Bearer " + value } : {};
}

/** Download a run file through fetch (so the token goes in a header), then save it. */
export async function download(url, name) {
  const response = await fetch(url, { headers: authHeaders() });
  if (!response.ok) throw new ApiError(response.status, "http_error", `download failed (${response.status})`);
  const link = document.createElement("a");
  link.href = URL.createObjectURL(await response.blob());
  link.download = name;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
}

/** A GET started before its view asked for it (main.js fetches the runs table's page while the view's code
 * is still loading): {path, at, pending}; the view's first identical GET takes its answer, once, within PREFETCH_MS. */
let prefetched = null;
const PREFETCH_MS = 10000;

async function fetchText(method, path, body) {
  const init = { method, headers: { accept: "application/json", ...authHeaders() } };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["content-type"] = "application/json";
  }
  const response = await fetch(BASE + path, init);
  return { status: response.status, ok: response.ok, statusText: response.statusText, text: await response.text() };
}

function prefetch(path) {
  const pending = fetchText("GET", path);
  pending.catch(() => {}); // the view that asks reports the error
  prefetched = { path, at: Date.now(), pending };
}

function take(method, path) {
  if (method !== "GET" || !prefetched || prefetched.path !== path || Date.now() - prefetched.at > PREFETCH_MS) return null;
  const { pending } = prefetched;
  prefetched = null;
  return pending;
}

async function request(method, path, body) {
  const response = await (take(method, path) || fetchText(method, path, body));
  const text = response.text;
  let data = null;
  try {
    data = text ? decode(text) : null;
  } catch (error) {
    throw new ApiError(response.status, "bad_response", `the server sent something that is not JSON (${response.status})`);
  }
  if (!response.ok) {
    const err = (data && data.error) || {};
    if (response.status === 401) window.dispatchEvent(new CustomEvent("trackkit:unauthorized", { detail: err.message || "" }));
    throw new ApiError(response.status, err.code || "http_error", err.message || response.statusText);
  }
  return data;
}

const enc = encodeURIComponent;
const runPath = (project, run) => `/projects/${enc(project)}/runs/${enc(run)}`;

function query(params) {
  const search = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") search.set(k, v);
  const text = search.toString();
  return text ? "?" + text : "";
}

const runsPath = (project, { q, order, limit, offset, fields } = {}) =>
  `/projects/${enc(project)}/runs` + query({ q, order, limit, offset, fields });

export const api = {
  projects: () => request("GET", "/projects"),
  runs: (project, params = {}) => request("GET", runsPath(project, params)),
  /** Start fetching a page of runs that a view is about to ask for (errors are the view's to report). */
  prefetchRuns: (project, params = {}) => prefetch(runsPath(project, params)),
  run: (project, run) => request("GET", runPath(project, run)),
  editRun: (project, run, changes) => request("PATCH", runPath(project, run), changes),
  keys: (project, run) => request("GET", runPath(project, run) + "/keys"),
  keysMany: (runs) => request("POST", "/keys", { runs }),
  sampleMany: (runs, keys, { x, samples, start, stop, fields } = {}) => request("POST", "/sample", { runs, keys, x, samples, start, stop, fields }),
  systemSample: (project, run, samples) => request("GET", runPath(project, run) + "/system/sample" + query({ samples })),
  importance: (project, metric, q) => request("GET", `/projects/${enc(project)}/importance` + query({ metric, q })),
  files: (project, run) => request("GET", runPath(project, run) + "/files"),
  fileUrl: (project, run, name) => BASE + runPath(project, run) + "/files/" + name.split("/").map(enc).join("/"),
};
