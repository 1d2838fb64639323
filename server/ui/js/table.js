// Data shaping for the runs table: flatten config/summary trees, pick the default columns (the keys
// whose values differ between runs), format cells. Pure functions, no DOM.

/** {a: {b: 1}} -> {"a.b": 1}; arrays and empty objects stay values. */
export function flatten(tree, prefix = "", out = {}) {
  if (tree === null || typeof tree !== "object" || Array.isArray(tree)) return out;
  for (const [key, value] of Object.entries(tree)) {
    const name = prefix ? prefix + "." + key : key;
    if (value !== null && typeof value === "object" && !Array.isArray(value) && Object.keys(value).length) {
      flatten(value, name, out);
    } else {
      out[name] = value;
    }
  }
  return out;
}

const MISSING = "\u0000missing";

/** Keys of `section` ("config" or "summary") whose values are not the same in every run, sorted. */
export function differingKeys(runs, section) {
  const flats = runs.map((r) => flatten(r[section] || {}));
  const keys = new Set();
  for (const f of flats) for (const k of Object.keys(f)) if (!k.startsWith("_")) keys.add(k);
  const out = [];
  for (const key of keys) {
    const seen = new Set(flats.map((f) => (key in f ? JSON.stringify(f[key]) : MISSING)));
    if (seen.size > 1 || runs.length === 1) out.push(key);
  }
  return out.sort();
}

/** At most this many config and summary columns by default (the rest are a click away in the picker). */
export const MAX_COLUMNS = 10;
/** Of those, summary columns get up to this many while config keys are plenty (more when they are not). */
const SUMMARY_SHARE = 4;

/** Keys of `section` whose values differ between runs: the ones most runs have first, then by name. */
export function rankedKeys(runs, section) {
  const flats = runs.map((r) => flatRun(r, section));
  const count = new Map();
  for (const f of flats) for (const k of Object.keys(f)) if (!k.startsWith("_")) count.set(k, (count.get(k) || 0) + 1);
  const differing = [...count.keys()].filter((key) =>
    runs.length === 1 || new Set(flats.map((f) => (key in f ? JSON.stringify(f[key]) : MISSING))).size > 1);
  return differing.sort((a, b) => count.get(b) - count.get(a) || (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * The default columns: the config and summary keys that differ between the runs, at most `max` of them
 * (up to SUMMARY_SHARE summary keys unless config leaves room; the keys most runs have are kept), config
 * keys then summary keys, each by name.
 */
export function defaultColumns(runs, max = MAX_COLUMNS) {
  const config = rankedKeys(runs, "config");
  const summary = rankedKeys(runs, "summary");
  const summaryCount = Math.min(summary.length, Math.max(SUMMARY_SHARE, max - config.length));
  const configCount = Math.min(config.length, max - summaryCount);
  return [...config.slice(0, configCount).sort().map((k) => "config." + k),
    ...summary.slice(0, summaryCount).sort().map((k) => "summary." + k)];
}

/** Every config and summary key of the runs as a column name ("config.lr"), config first, by name. */
export function allColumns(runs) {
  const out = [];
  for (const section of ["config", "summary"]) {
    const keys = new Set();
    for (const run of runs) for (const k of Object.keys(flatRun(run, section))) if (!k.startsWith("_")) keys.add(k);
    out.push(...[...keys].sort().map((k) => section + "." + k));
  }
  return out;
}

/** The value of a dotted column ("config.optim.lr", "summary.loss") in a run document. */
export function cellValue(run, column) {
  const dot = column.indexOf(".");
  if (dot < 0) return run[column];
  const section = column.slice(0, dot);
  const flat = flatRun(run, section);
  const key = column.slice(dot + 1);
  return key in flat ? flat[key] : undefined;
}

/** flatten(run[section]), kept per run document (a table asks for many cells of one run). */
const flats = new WeakMap();
function flatRun(run, section) {
  const tree = run[section];
  if (tree === null || typeof tree !== "object") return {};
  let flat = flats.get(tree);
  if (!flat) {
    flat = flatten(tree);
    flats.set(tree, flat);
  }
  return flat;
}

/** A value as short text: 6 significant digits for floats, JSON for lists and objects, "-" for missing. */
export function formatValue(value) {
  if (value === undefined || value === null) return "-";
  if (typeof value === "number") {
    if (Number.isNaN(value)) return "NaN";
    if (!Number.isFinite(value)) return value > 0 ? "Infinity" : "-Infinity";
    if (Number.isInteger(value)) return String(value);
    return String(Number(value.toPrecision(6)));
  }
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

/** Seconds as "1h 02m", "3m 05s", "12.3s". */
export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "-";
  if (seconds < 60) return seconds.toFixed(1) + "s";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (n) => String(n).padStart(2, "0");
  return h ? `${h}h ${pad(m)}m` : `${m}m ${pad(s % 60)}s`;
}

/** Epoch seconds as local "YYYY-MM-DD HH:MM". */
export function formatTime(epoch) {
  if (epoch === null || epoch === undefined || !Number.isFinite(epoch)) return "-";
  const d = new Date(epoch * 1000);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** A filter clause for clicking a cell: `config.lr=0.01` (strings quoted as JSON when needed). */
export function clauseFor(column, value) {
  const text = typeof value === "string" && /^[\w.\-/]+$/.test(value) ? value : JSON.stringify(value);
  return `${column}=${text}`;
}

/**
 * Rows of the compare view: config and summary keys with each run's value; only the keys whose values
 * differ unless `all`. records = [{config: {values}, summary: {values}}] as GET /runs/{id} returns them.
 * @returns {{section: string, key: string, values: any[], differs: boolean}[]}
 */
export function compareRows(records, all = false) {
  const rows = [];
  for (const section of ["config", "summary"]) {
    const flats = records.map((r) => flatten(((r || {})[section] || {}).values || {}));
    const keys = new Set();
    for (const f of flats) for (const k of Object.keys(f)) if (!k.startsWith("_")) keys.add(k);
    for (const key of [...keys].sort()) {
      const values = flats.map((f) => f[key]);
      const differs = new Set(flats.map((f) => (key in f ? JSON.stringify(f[key]) : MISSING))).size > 1;
      if (differs || all) rows.push({ section, key, values, differs });
    }
  }
  return rows;
}
