// Chart data shaping: sampled series (min/max buckets from the server) -> the columns uPlot draws.
// Pure functions, no DOM; the chart view passes their output to uPlot and exposes it for tests.

import { ema } from "./smooth.js";

/** Shell-style glob (`val/*`, `loss?`) or plain substring match of a metric name. */
export function metricMatches(name, pattern) {
  const p = (pattern || "").trim();
  if (!p) return true;
  if (!/[*?]/.test(p)) return name.toLowerCase().includes(p.toLowerCase());
  const re = new RegExp("^" + p.split("").map((c) => (c === "*" ? ".*" : c === "?" ? "." : c.replace(/[.+^${}()|[\]\\]/g, "\\$&"))).join("") + "$", "i");
  return re.test(name);
}

/** On a log axis, values <= 0 cannot be drawn: they become gaps (null); alignment holes stay undefined. */
export function forLog(values) {
  return values.map((v) => (v === undefined ? undefined : v === null || !(v > 0) ? null : v));
}

/**
 * Merge several runs' series of one metric into uPlot's aligned columns.
 * @param {{id: string, series: object|undefined}[]} runs   series = SampledSeries or undefined
 * @param {{smoothing?: number, log?: boolean, keepEmpty?: boolean}} options
 * @returns {{data: (number|null)[][], runs: string[], drawn: number, total: number}}
 *   data = [x, then per run: raw, smoothed, min, max]; a run with no point at an x holds `undefined`
 *   there (uPlot draws across it), a point without a finite value holds `null` (a gap in the line).
 */
export function chartColumns(runs, options = {}) {
  const smoothing = options.smoothing || 0;
  const empty = { x: [], last: [], min: [], max: [], total: 0 };
  // keepEmpty (a zoom): every run keeps its columns, so the chart's series stay as they are
  const present = options.keepEmpty ? runs.map((r) => (r.series ? r : { ...r, series: empty }))
    : runs.filter((r) => r.series && r.series.x && r.series.x.length);
  const shared = sharedX(present);
  if (shared) return alignedColumns(present, shared, smoothing, options.log);
  const xs = new Set();
  for (const r of present) for (const x of r.series.x) xs.add(x);
  const x = Array.from(xs).sort((a, b) => a - b);
  const index = new Map(x.map((v, i) => [v, i]));
  const data = [x];
  let drawn = 0;
  let total = 0;
  for (const r of present) {
    const s = r.series;
    const cols = [0, 1, 2, 3].map(() => new Array(x.length).fill(undefined));
    const raw = s.last.map(finiteOrNull);
    const smooth = ema(raw, smoothing);
    for (let i = 0; i < s.x.length; i++) {
      const at = index.get(s.x[i]);
      cols[0][at] = raw[i];
      cols[1][at] = smooth[i];
      cols[2][at] = finiteOrNull(s.min[i]);
      cols[3][at] = finiteOrNull(s.max[i]);
    }
    drawn += s.x.length;
    total += s.total || 0;
    for (const c of cols) data.push(options.log ? forLog(c) : c);
  }
  return { data, runs: present.map((r) => r.id), drawn, total };
}

/** The x column every non-empty run has (buckets of one range over runs logged at the same steps: the
 * usual chart and every zoom), or null when they differ. */
function sharedX(present) {
  let x = null;
  for (const r of present) {
    const rx = r.series.x;
    if (!rx.length) continue;
    if (x === null) { x = rx; continue; }
    if (rx === x) continue;
    if (rx.length !== x.length) return null;
    for (let i = 0; i < rx.length; i++) if (rx[i] !== x[i]) return null;
  }
  return x;
}

/** chartColumns when the runs share one x column: each run's columns are its own, with no merge (the
 * same output as the general path; the smoothed column is the raw one itself when smoothing is 0). */
function alignedColumns(present, x, smoothing, log) {
  const data = [x.slice()];
  let drawn = 0;
  let total = 0;
  for (const r of present) {
    const s = r.series;
    let cols;
    if (s.x.length) {
      const raw = s.last.map(finiteOrNull);
      cols = [raw, smoothing ? ema(raw, smoothing) : raw, s.min.map(finiteOrNull), s.max.map(finiteOrNull)];
    } else { // a run with no point in a zoomed range: columns of holes
      const holes = new Array(x.length).fill(undefined);
      cols = [holes, holes, holes, holes];
    }
    drawn += s.x.length;
    total += s.total || 0;
    for (const c of cols) data.push(log ? forLog(c) : c);
  }
  return { data, runs: present.map((r) => r.id), drawn, total };
}

function finiteOrNull(v) {
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

/** "500 of 100,000 points" (or "all 300 points" when nothing was bucketed). */
export function pointsLabel(drawn, total) {
  const f = (n) => n.toLocaleString("en-US");
  return drawn >= total ? `all ${f(total)} points` : `${f(drawn)} of ${f(total)} points (min/max band keeps every extreme)`;
}

/** Numeric history keys of several runs (the union), sorted, as chart metrics. */
export function numericKeys(keyMaps) {
  const out = new Set();
  for (const keys of keyMaps) for (const [k, info] of Object.entries(keys || {})) if (info.type === "number") out.add(k);
  return Array.from(out).sort();
}
