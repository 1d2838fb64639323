// Understand a sweep: parameter importance for a chosen metric (Spearman correlation and a random
// forest's permutation importance, computed by the server) and parallel coordinates of the config
// keys against the metric; brushing an axis narrows the runs, and the brushed runs open in the table.
// URL: #/projects/<p>/understand?metric=summary.loss&q=...&brush=config.lr:0.001:0.01

import { api } from "../api.js";
import { h, notice, replace } from "../dom.js";
import { axesFor, brushClauses, brushed, formatBrushes, parseBrushes, position, valueAt } from "../parcoords.js";
import { cellValue, differingKeys, formatValue } from "../table.js";
import { formatHash } from "../url.js";

const debug = (window.__trackkit = window.__trackkit || { charts: {}, system: {} });
const MAX_AXES = 8;
const HEIGHT = 320;
const PAD = { top: 34, bottom: 30, left: 40, right: 40 };

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#888";
}

export async function understandView(root, route, nav) {
  const project = route.path[1];
  let params = { ...route.params };
  const all = await api.runs(project, { q: params.q, limit: 10000 });
  const summaryKeys = differingKeys(all.runs, "summary").filter((k) => all.runs.some((r) => typeof cellValue(r, "summary." + k) === "number"));
  const metric = params.metric || (summaryKeys.includes("loss") ? "summary.loss" : summaryKeys.length ? "summary." + summaryKeys[0] : "");
  const metricSelect = h("select", { id: "metric", "aria-label": "metric", onchange: () => {
    params = { ...params, metric: metricSelect.value, brush: "" };
    nav.push(route.path, params);
    understandView(root, { ...route, params }, nav);
  } }, summaryKeys.map((k) => h("option", { value: "summary." + k }, "summary." + k)));
  metricSelect.value = metric;
  const importanceBox = h("section", { id: "importance" });
  const plotBox = h("div", { class: "parcoords" });
  const brushInfo = h("p", { id: "brush-info", class: "notice" });
  replace(root,
    h("nav", { class: "crumbs" }, h("a", { href: formatHash([]) }, "projects"), " / ",
      h("a", { href: formatHash(["projects", project], { q: params.q }) }, project), " / ", h("span", {}, "understand")),
    h("h1", {}, "Understand"), h("label", {}, "metric ", metricSelect),
    params.q ? h("p", { class: "notice" }, `runs matching: ${params.q}`) : null,
    h("h2", {}, "Parameter importance"), importanceBox, h("h2", {}, "Parallel coordinates"), plotBox, brushInfo);
  if (!metric) {
    replace(importanceBox, notice("No numeric summary metric differs between these runs."));
    return;
  }
  const result = await api.importance(project, metric, params.q);
  renderImportance(importanceBox, result);
  const numericConfig = differingKeys(all.runs, "config").map((k) => "config." + k)
    .filter((k) => all.runs.some((r) => typeof cellValue(r, k) === "number"));
  const ranked = result.params.map((p) => p.key).filter((k) => numericConfig.includes(k));
  const keys = [...new Set([...ranked, ...numericConfig])].slice(0, MAX_AXES);
  drawParcoords(plotBox, brushInfo, all.runs, [...keys, metric], parseBrushes(params.brush), (brushes) => {
    params = { ...params, brush: formatBrushes(brushes) };
    nav.replace(route.path, params);
  }, project, params);
}

function renderImportance(box, result) {
  const head = [h("p", { class: "notice", id: "importance-basis" }, `based on ${result.runs} runs with ${result.metric}` +
    (result.model ? ` · ${result.model}` : "") + (result.message ? ` · ${result.message}` : ""))];
  if (!result.params.length) { replace(box, head); return; }
  replace(box, head, h("table", { class: "grid", id: "importance-table" },
    h("thead", {}, h("tr", {}, ["config key", "runs", "Spearman correlation", "importance"].map((c) => h("th", {}, c)))),
    h("tbody", {}, result.params.map((p) => h("tr", { "data-key": p.key }, h("td", {}, p.key), h("td", { class: "num" }, String(p.runs)),
      h("td", { class: "num" }, formatValue(p.spearman)), h("td", { class: "num" }, formatValue(p.importance)))))));
}

function drawParcoords(box, info, runs, keys, brushes, onBrush, project, params) {
  const canvas = h("canvas", { id: "parcoords-canvas" });
  replace(box, canvas);
  const width = Math.max(400, box.clientWidth || 900);
  const ratio = window.devicePixelRatio || 1;
  canvas.width = width * ratio;
  canvas.height = HEIGHT * ratio;
  canvas.style.width = width + "px"; // CSSOM: allowed by the CSP
  canvas.style.height = HEIGHT + "px";
  const axes = axesFor(runs, keys);
  const metricAxis = axes[axes.length - 1];
  const xOf = (i) => PAD.left + (i * (width - PAD.left - PAD.right)) / Math.max(1, axes.length - 1);
  const yOf = (place) => PAD.top + (1 - place) * (HEIGHT - PAD.top - PAD.bottom);
  const placeOf = (y) => Math.min(1, Math.max(0, 1 - (y - PAD.top) / (HEIGHT - PAD.top - PAD.bottom)));
  let drag = null;

  function paint() {
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, HEIGHT);
    const selected = new Set(brushed(runs, brushes));
    const fg = cssVar("--fg");
    for (const pass of [false, true]) { // unselected runs first, faint; selected on top, coloured by the metric
      for (const run of runs) {
        if (selected.has(run.id) !== pass) continue;
        const m = position(metricAxis, cellValue(run, metricAxis.key));
        ctx.strokeStyle = pass ? (m === null ? "#999" : `hsl(${220 - 190 * m}, 70%, 50%)`) : "rgba(128,128,128,0.15)";
        ctx.lineWidth = pass ? 1.4 : 1;
        ctx.beginPath();
        let open = false;
        axes.forEach((axis, i) => {
          const p = position(axis, cellValue(run, axis.key));
          if (p === null) { open = false; return; }
          if (open) ctx.lineTo(xOf(i), yOf(p)); else ctx.moveTo(xOf(i), yOf(p));
          open = true;
        });
        ctx.stroke();
      }
    }
    ctx.fillStyle = fg;
    ctx.strokeStyle = fg;
    ctx.font = "12px system-ui, sans-serif";
    ctx.textAlign = "center";
    axes.forEach((axis, i) => {
      const x = xOf(i);
      ctx.textAlign = i === 0 ? "left" : i === axes.length - 1 ? "right" : "center";
      const tx = i === 0 ? x - PAD.left + 4 : i === axes.length - 1 ? x + PAD.right - 4 : x;
      ctx.beginPath(); ctx.moveTo(x, yOf(0)); ctx.lineTo(x, yOf(1)); ctx.stroke();
      // canvas text: drawn as pixels, never parsed as HTML
      ctx.fillText(axis.key.replace(/^(config|summary)\./, "") + (axis.log ? " (log)" : ""), tx, 14);
      ctx.fillText(formatValue(axis.max), tx, PAD.top - 6);
      ctx.fillText(formatValue(axis.min), tx, HEIGHT - PAD.bottom + 16);
      const brush = brushes[axis.key];
      if (brush) {
        const top = yOf(position(axis, Math.min(brush[1], axis.max)) ?? 1);
        const bottom = yOf(position(axis, Math.max(brush[0], axis.min)) ?? 0);
        ctx.fillStyle = "rgba(47,111,179,0.25)";
        ctx.fillRect(x - 8, top, 16, bottom - top);
        ctx.fillStyle = fg;
      }
    });
    const ids = [...selected];
    debug.parcoords = { axes: axes.map((a) => a.key), brushes, selected: ids, runs: runs.length };
    const active = Object.keys(brushes).length;
    replace(info, `${ids.length} of ${runs.length} runs in the brush` + (active ? "" : " (drag along an axis to brush)"), " ",
      active ? h("a", { id: "brushed-runs", href: formatHash(["projects", project], { q: [params.q, brushClauses(brushes)].filter(Boolean).join(", ") }) },
        "show them in the runs table") : null, " ",
      active ? h("button", { type: "button", id: "clear-brush", onclick: () => { brushes = {}; onBrush(brushes); paint(); } }, "clear") : null);
  }

  const local = (event) => {
    const rect = canvas.getBoundingClientRect();
    return { x: event.clientX - rect.left, y: event.clientY - rect.top };
  };
  canvas.addEventListener("mousedown", (event) => {
    const { x, y } = local(event);
    const index = axes.findIndex((_, i) => Math.abs(xOf(i) - x) < 14);
    if (index >= 0) drag = { axis: axes[index], from: placeOf(y) };
  });
  canvas.addEventListener("mousemove", (event) => {
    if (!drag) return;
    const to = placeOf(local(event).y);
    const a = valueAt(drag.axis, Math.min(drag.from, to));
    const b = valueAt(drag.axis, Math.max(drag.from, to));
    brushes = { ...brushes, [drag.axis.key]: [a, b] };
    paint();
  });
  window.addEventListener("mouseup", () => {
    if (drag) onBrush(brushes);
    drag = null;
  });
  paint();
}
