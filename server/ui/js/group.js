// Grouping runs: by config keys or run fields (group, job_type, tags, state), with the count and the
// mean / min / max of each summary column, and a group's curve as the mean of its runs with the
// members' min-max band. Pure functions, no DOM.

import { cellValue } from "./table.js";

const MISSING_LABEL = "-";

/** The group label of one run for one field: tags joined, a missing value as "-". */
export function groupValue(run, field) {
  const value = cellValue(run, field);
  if (value === undefined || value === null) return MISSING_LABEL;
  if (Array.isArray(value)) return value.length ? [...value].sort().join(", ") : MISSING_LABEL;
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

function stats(values) {
  const finite = values.filter((v) => typeof v === "number" && Number.isFinite(v));
  if (!finite.length) return { n: 0, mean: null, min: null, max: null };
  let sum = 0;
  for (const v of finite) sum += v;
  return { n: finite.length, mean: sum / finite.length, min: Math.min(...finite), max: Math.max(...finite) };
}

/**
 * @param {object[]} runs  run documents (query_runs)
 * @param {string[]} fields  e.g. ["config.optim.name", "state"]
 * @param {string[]} columns  summary columns to aggregate, e.g. ["summary.loss"]
 * @returns {{values: string[], label: string, count: number, ids: string[], stats: object}[]}  by label
 */
export function groupRuns(runs, fields, columns) {
  const groups = new Map();
  for (const run of runs) {
    const values = fields.map((f) => groupValue(run, f));
    const label = values.join(" · ");
    if (!groups.has(label)) groups.set(label, { values, label, runs: [] });
    groups.get(label).runs.push(run);
  }
  return [...groups.values()].sort((a, b) => a.label.localeCompare(b.label, "en", { numeric: true })).map((g) => ({
    values: g.values, label: g.label, count: g.runs.length, ids: g.runs.map((r) => r.id),
    stats: Object.fromEntries(columns.map((c) => [c, stats(g.runs.map((r) => cellValue(r, c)))])),
  }));
}

/**
 * A group's series from its members' sampled series (any x): `bins` equal-width bins over the members'
 * whole x range; per bin the mean of each member's last value there, and the min of their minima and
 * max of their maxima, so the band still holds every extreme. Shaped like a SampledSeries.
 */
export function groupSeries(members, bins) {
  const present = members.filter((s) => s && s.x && s.x.length);
  if (!present.length) return undefined;
  let lo = Infinity;
  let hi = -Infinity;
  for (const s of present) { lo = Math.min(lo, s.x[0]); hi = Math.max(hi, s.x[s.x.length - 1]); }
  const width = hi > lo ? (hi - lo) / bins : 1;
  const sums = new Array(bins).fill(0);
  const counts = new Array(bins).fill(0);
  const mins = new Array(bins).fill(Infinity);
  const maxs = new Array(bins).fill(-Infinity);
  let total = 0;
  for (const s of present) {
    total += s.total || 0;
    const last = new Map();
    for (let i = 0; i < s.x.length; i++) {
      const b = Math.min(bins - 1, Math.floor((s.x[i] - lo) / width));
      if (s.last[i] !== null && Number.isFinite(s.last[i])) last.set(b, s.last[i]);
      if (s.min[i] !== null && Number.isFinite(s.min[i])) mins[b] = Math.min(mins[b], s.min[i]);
      if (s.max[i] !== null && Number.isFinite(s.max[i])) maxs[b] = Math.max(maxs[b], s.max[i]);
    }
    for (const [b, v] of last) { sums[b] += v; counts[b] += 1; }
  }
  const out = { x: [], last: [], min: [], max: [], total };
  for (let b = 0; b < bins; b++) {
    if (!counts[b]) continue;
    out.x.push(lo + b * width);
    out.last.push(sums[b] / counts[b]);
    out.min.push(mins[b]);
    out.max.push(maxs[b]);
  }
  return out;
}
