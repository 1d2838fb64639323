// Parallel coordinates, the pure part: axis scales (log for keys spanning decades, like learning
// rates), positions, brushing and the filter clauses a brush stands for. No DOM.

import { cellValue } from "./table.js";

const finite = (v) => typeof v === "number" && Number.isFinite(v);

/** One axis per key over the runs' numeric values; `log` when all are > 0 and span >= 2 decades. */
export function axesFor(runs, keys) {
  return keys.map((key) => {
    const values = runs.map((r) => cellValue(r, key)).filter(finite);
    if (!values.length) return { key, min: 0, max: 1, log: false, empty: true };
    const min = Math.min(...values);
    const max = Math.max(...values);
    return { key, min, max, log: min > 0 && max / min >= 100, empty: false };
  });
}

/** A value's place on its axis, 0 (bottom) .. 1 (top); null when missing or not a number. */
export function position(axis, value) {
  if (!finite(value)) return null;
  if (axis.max === axis.min) return 0.5;
  if (axis.log) return value > 0 ? (Math.log(value) - Math.log(axis.min)) / (Math.log(axis.max) - Math.log(axis.min)) : null;
  return (value - axis.min) / (axis.max - axis.min);
}

/** The value at a place on an axis (the inverse of position). */
export function valueAt(axis, place) {
  if (axis.log) return Math.exp(Math.log(axis.min) + place * (Math.log(axis.max) - Math.log(axis.min)));
  return axis.min + place * (axis.max - axis.min);
}

/** Ids of the runs inside every brush ({key: [lo, hi]}); all runs when there is no brush. */
export function brushed(runs, brushes) {
  const active = Object.entries(brushes || {});
  return runs.filter((run) => active.every(([key, [lo, hi]]) => {
    const v = cellValue(run, key);
    return finite(v) && v >= lo && v <= hi;
  })).map((r) => r.id);
}

/** The brushes as filter text in the CLI's language: `config.lr>=0.001, config.lr<=0.01`. */
export function brushClauses(brushes) {
  return Object.entries(brushes || {}).flatMap(([key, [lo, hi]]) => [`${key}>=${round(lo)}`, `${key}<=${round(hi)}`]).join(", ");
}

function round(v) {
  return Number(v.toPrecision(6));
}

/** Brushes to and from the URL: "config.lr:0.001:0.01;summary.loss:0:1". */
export function formatBrushes(brushes) {
  return Object.entries(brushes || {}).map(([k, [lo, hi]]) => `${k}:${round(lo)}:${round(hi)}`).join(";");
}

export function parseBrushes(text) {
  const out = {};
  for (const part of (text || "").split(";")) {
    const cut = part.split(":");
    if (cut.length < 3) continue;
    const hi = Number(cut.pop());
    const lo = Number(cut.pop());
    if (Number.isFinite(lo) && Number.isFinite(hi)) out[cut.join(":")] = [Math.min(lo, hi), Math.max(lo, hi)];
  }
  return out;
}
