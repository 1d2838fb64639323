// The chart panel: one uPlot chart per metric for a set of runs, with x-axis choice, log scale,
// EMA smoothing (raw curve faint behind), the min/max band of each run, an "N of M points" label and
// hover values. Data shaping is in series.js; this module fetches, draws and touches the DOM.

import { api } from "../api.js";
import { h, notice, replace } from "../dom.js";
import { chartSvg, chartTable, fileName, saveBlob, toCsv } from "../export.js";
import { groupSeries } from "../group.js";
import { chartColumns, metricMatches, numericKeys, pointsLabel } from "../series.js";
import { formatValue } from "../table.js";

export const PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#ff9da7", "#9c755f", "#bab0ac"];
const MAX_CHARTS = 24;
const X_AXES = ["_step", "_runtime", "_timestamp"];
/** Axis titles of the built-in x axes (a metric used as x is titled by its name). */
const X_TITLES = { _step: "step (_step)", _runtime: "seconds since start (_runtime)", _timestamp: "wall time (_timestamp)" };
const LEGEND_MAX = 12;
const Y_AXIS = 60;
/** The chart's width less its plot area's: the card's border (2), the y axis and uPlot's right gutter (25). */
const PLOT_MARGIN = 2 + Y_AXIS + 25;
const MAX_GROUPED_RUNS = 200;
/** The bucket columns a chart draws (first, count and nan stay on the server: a smaller answer to parse). */
const FIELDS = ["x", "last", "min", "max"];

/** For tests and debugging: what each chart was given (window.__trackkit.charts[metric];
 * the run page's system panel: window.__trackkit.system[metric]). */
const debug = (window.__trackkit = window.__trackkit || { charts: {}, system: {} });

/** What a polled run document says of a run's history, for ChartPanel.refresh: its state and summary
 * (a logged row changes the summary's last values; `lastStep`, where known, catches a row that does not)
 * and, for its keys, the state and the summary's key names. */
export function historyVersion(state, summary, lastStep = null) {
  const values = summary || {};
  return { data: JSON.stringify([state, lastStep, values]), keys: JSON.stringify([state, Object.keys(values).sort()]) };
}

function alpha(hex, a) {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255},${(n >> 8) & 255},${n & 255},${a})`;
}

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#888";
}

export class ChartPanel {
  /**
   * @param {HTMLElement} container
   * @param {{x?: string, log?: string, smooth?: string, metric?: string}} params  from the URL
   * @param {(changes: object) => void} onParams  called when a control changes (to update the URL)
   */
  constructor(container, params, onParams, name = "charts") {
    this.name = name;
    this.params = { ...params };
    this.onParams = onParams;
    this.runs = [];
    this.keyCache = new Map();
    this.sampleCache = new Map();
    this.charts = new Map();
    this.xSelect = h("select", { "aria-label": "x axis", onchange: () => this.set({ x: this.xSelect.value }, true) });
    this.logBox = h("input", { type: "checkbox", checked: params.log === "1", onchange: () => this.set({ log: this.logBox.checked }) });
    const smooth = Number(params.smooth || 0);
    this.smoothLabel = h("span", { class: "smooth-value" }, smooth.toFixed(2));
    this.smoothRange = h("input", {
      type: "range", min: "0", max: "0.99", step: "0.01", value: String(smooth), "aria-label": "smoothing",
      oninput: () => { this.smoothLabel.textContent = Number(this.smoothRange.value).toFixed(2); this.set({ smooth: this.smoothRange.value }); },
    });
    this.search = h("input", {
      type: "search", placeholder: "metrics: loss, val/*", value: params.metric || "", "aria-label": "metric search",
      onchange: () => this.set({ metric: this.search.value.trim() }, true),
    });
    this.status = h("span", { class: "chart-status" });
    this.grid = h("div", { class: "chart-grid" });
    replace(container,
      h("div", { class: "chart-controls" },
        h("label", {}, "x ", this.xSelect), h("label", {}, this.logBox, " log scale"),
        h("label", {}, "smoothing ", this.smoothRange, this.smoothLabel), this.search, this.status),
      this.grid);
  }

  set(changes, refetch = false) {
    Object.assign(this.params, changes);
    const out = {};
    for (const [k, v] of Object.entries(changes)) out[k] = v === true ? "1" : v === false ? "" : v;
    this.onParams(out);
    return refetch ? this.load() : this.draw();
  }

  /** Chart these runs ([{project, id, name}]), or groups of runs ([{label, members: [{project, id}]}]):
   * a group draws the mean of its members with their min-max band. */
  async setRuns(runs, groups = null, versions = null) {
    this.runs = runs;
    this.groups = groups;
    this.versions = new Map();
    if (await this.load()) this.versions = new Map(versions || []);
  }

  members() {
    return this.groups ? this.groups.flatMap((g) => g.members).slice(0, MAX_GROUPED_RUNS) : this.runs;
  }

  async load(quiet = false) {
    const token = (this.token = {});
    if (!this.members().length) {
      this.destroy();
      debug[this.name] = {};
      replace(this.grid, notice("Select runs in the table to chart them."));
      return;
    }
    if (!quiet) this.status.textContent = "loading…";
    try {
      const members = this.members();
      const keyMaps = await this.keysOf(members);
      const metrics = numericKeys(keyMaps);
      this.fillAxes(metrics);
      const shown = metrics.filter((m) => metricMatches(m, this.params.metric) && m !== this.xKey());
      this.metrics = shown.slice(0, MAX_CHARTS);
      this.hidden = shown.length - this.metrics.length;
      const began = performance.now();
      const data = this.metrics.length ? await this.sample(this.metrics, members) : { runs: [] };
      if (token !== this.token) return;
      const fetched = performance.now();
      this.shape(data);
      this.draw();
      await Promise.resolve(); // uPlot draws in a microtask: let it, to time it
      debug.timing = { fetch: fetched - began, draw: performance.now() - fetched };
      return true;
    } catch (error) {
      if (token !== this.token) return;
      this.status.textContent = "";
      replace(this.grid, notice(error.message, "error"));
    }
  }

  /** Each run's history keys, fetched in one request for the runs not seen yet. */
  async keysOf(runs) {
    const missing = runs.filter((r) => !this.keyCache.has(r.project + "/" + r.id));
    if (missing.length) {
      const answer = api.keysMany(missing.map((r) => [r.project, r.id]));
      missing.forEach((r, i) => this.keyCache.set(r.project + "/" + r.id, answer.then((a) => a.runs[i].keys)));
      answer.catch(() => missing.forEach((r) => this.keyCache.delete(r.project + "/" + r.id))); // try again next time
    }
    return Promise.all(runs.map((r) => this.keyCache.get(r.project + "/" + r.id)));
  }

  xKey() {
    return this.params.x || "_step";
  }

  fillAxes(metrics) {
    const options = [...X_AXES, ...metrics.filter((m) => !X_AXES.includes(m))];
    replace(this.xSelect, options.map((o) => h("option", { value: o }, X_TITLES[o] || o)));
    this.xSelect.value = this.xKey();
  }

  /** What draw() shows: the runs' series as they came, or each group's aggregate series. */
  shape(data) {
    if (!this.groups) {
      this.drawRuns = this.runs;
      this.data = data;
      return;
    }
    const byRun = new Map(data.runs.map((r) => [r.project + "/" + r.id, r.series]));
    const bins = this.samples();
    this.drawRuns = this.groups.map((g) => ({ project: "group", id: g.label, name: `${g.label} (${g.members.length} runs)` }));
    this.data = { runs: this.groups.map((g) => ({ project: "group", id: g.label, series: Object.fromEntries(this.metrics.map((m) =>
      [m, groupSeries(g.members.map((r) => (byRun.get(r.project + "/" + r.id) || {})[m]), bins)])) })) };
  }

  /** Buckets per run: one per pixel of the plot area (more could not be seen: uPlot draws the points
   * of one pixel as one column), so a chart or a zoom asks for no more bytes than it can show. */
  samples() {
    return Math.max(100, Math.min(2000, Math.round(this.chartWidth() - PLOT_MARGIN)));
  }

  /** Min/max buckets of `metrics` for `runs`, each run's answer cached: a live refresh fetches only the
   * runs that are still running, never again the finished ones. */
  async sample(metrics, runs) {
    const samples = this.samples();
    const keyOf = (r) => JSON.stringify([r.project, r.id, metrics, this.xKey(), samples]);
    const missing = runs.filter((r) => !this.sampleCache.has(keyOf(r)));
    if (missing.length) {
      const answer = api.sampleMany(missing.map((r) => [r.project, r.id]), metrics, { x: this.xKey(), samples, fields: FIELDS });
      debug.lastSampled = missing.map((r) => r.project + "/" + r.id);
      missing.forEach((r, i) => this.sampleCache.set(keyOf(r), answer.then((a) => a.runs[i])));
      answer.catch(() => missing.forEach((r) => this.sampleCache.delete(keyOf(r))));
    }
    return { runs: await Promise.all(runs.map((r) => this.sampleCache.get(keyOf(r)))) };
  }

  chartWidth() {
    const width = this.grid.clientWidth || 800;
    return width >= 900 ? Math.floor((width - 16) / 2) : width;
  }

  destroy() {
    for (const chart of this.charts.values()) chart.plot && chart.plot.destroy();
    this.charts = new Map();
  }

  /** Draw every chart from the fetched data with the current smoothing and scale (no fetch). A chart
   * whose runs and options did not change keeps its canvas and only takes the new data (live updates). */
  draw() {
    const registry = (debug[this.name] = {});
    const shown = this.drawRuns || this.runs;
    const names = new Map(shown.map((r) => [r.project + "/" + r.id, r.name || r.id]));
    const byRun = (this.data.runs || []).map((r) => ({ key: r.project + "/" + r.id, series: r.series }));
    const colours = new Map(shown.map((r, i) => [r.project + "/" + r.id, PALETTE[i % PALETTE.length]]));
    const previous = this.charts;
    this.charts = new Map();
    const cards = [];
    for (const metric of this.metrics || []) {
      const chart = this.drawOne(previous.get(metric), metric, byRun, names, colours, registry);
      previous.delete(metric);
      this.charts.set(metric, chart);
      cards.push(chart.card);
    }
    for (const chart of previous.values()) chart.plot && chart.plot.destroy();
    replace(this.grid, cards.length ? cards : notice("No numeric metrics logged by the selected runs" +
      (this.params.metric ? ` match "${this.params.metric}"` : "") + "."));
    if (this.hidden > 0) this.grid.appendChild(notice(`${this.hidden} more metrics: narrow the search to see them.`));
    let drawn = 0;
    let total = 0;
    for (const c of Object.values(registry)) { drawn += c.drawn; total += c.total; }
    const what = this.groups ? `${shown.length} group${shown.length === 1 ? "" : "s"}` : `${shown.length} run${shown.length === 1 ? "" : "s"}`;
    this.status.textContent = `${what} · ${pointsLabel(drawn, total)}`;
  }

  drawOne(old, metric, byRun, names, colours, registry) {
    const smoothing = Number(this.params.smooth || 0);
    const log = this.params.log === "1" || this.params.log === true;
    const shaped = chartColumns(byRun.map((r) => ({ id: r.key, series: r.series[metric] })), { smoothing, log });
    registry[metric] = { x: this.xKey(), xTitle: X_TITLES[this.xKey()] || this.xKey(), smoothing, log, runs: shaped.runs, data: shaped.data, drawn: shaped.drawn, total: shaped.total };
    const few = shaped.runs.length > 0 && shaped.drawn / shaped.runs.length < 40; // a handful of points: draw dots
    const structure = JSON.stringify([shaped.runs, log, smoothing > 0, this.xKey(), few, this.theme()]);
    if (old && old.plot && old.structure === structure) {
      old.shaped = shaped;
      old.points.textContent = pointsLabel(shaped.drawn, shaped.total);
      if (!old.zoomed) old.plot.setData(shaped.data);
      return old;
    }
    if (old && old.plot) old.plot.destroy();
    const chart = { structure, shaped, zoomed: false, colours: shaped.runs.map((id) => colours.get(id)) };
    const hover = h("div", { class: "chart-hover" });
    const plotBox = h("div", { class: "chart-plot" });
    chart.points = h("span", { class: "points" }, pointsLabel(shaped.drawn, shaped.total));
    const exportAs = (kind) => this.exportChart(chart, metric, names, kind);
    chart.card = h("div", { class: "chart-card", "data-metric": metric },
      h("div", { class: "chart-title" }, h("span", { class: "metric" }, metric), chart.points,
        h("span", { class: "exports" }, ["csv", "json", "png", "svg"].map((kind) =>
          h("button", { type: "button", class: "link", "data-export": kind, title: `download this chart as ${kind.toUpperCase()}`,
            onclick: () => exportAs(kind) }, kind)))), plotBox, hover);
    if (!shaped.runs.length) {
      plotBox.appendChild(notice("no points"));
      return chart;
    }
    if (shaped.data[0].length === 1) { // one point per run: a value, not a curve
      plotBox.appendChild(h("ul", { class: "single-points" }, shaped.runs.map((id, i) =>
        h("li", {}, `${names.get(id)}: ${formatValue(shaped.data[1 + i * 4][0])} at ${this.xKey()} ${formatValue(shaped.data[0][0])}`))));
      return chart;
    }
    const fg = cssVar("--muted");
    const gridColour = cssVar("--grid");
    const series = [{ label: this.xKey() }];
    const bands = [];
    shaped.runs.forEach((id, i) => {
      const c = colours.get(id);
      const base = 1 + i * 4;
      const line = { spanGaps: false, points: { show: false } };
      series.push({ ...line, label: names.get(id), stroke: smoothing ? alpha(c, 0.3) : c, width: 1,
        points: { show: few, size: 5, fill: c } });
      series.push({ ...line, label: names.get(id) + " (smoothed)", stroke: c, width: 1.5, show: smoothing > 0 });
      // the band's edges are drawn too: a one-bucket spike is a visible line, not a hairline of fill
      series.push({ ...line, label: "min", stroke: alpha(c, 0.35), width: 1 });
      series.push({ ...line, label: "max", stroke: alpha(c, 0.35), width: 1 });
      bands.push({ series: [base + 3, base + 2], fill: alpha(c, 0.18) });
    });
    const opts = {
      width: this.chartWidth() - 2, height: 220, legend: { show: false },
      scales: { x: { time: this.xKey() === "_timestamp", range: (u, min, max) => (min === max ? [min - 1, max + 1] : [min, max]) },
        y: { distr: log ? 3 : 1 } },
      axes: [{ stroke: fg, grid: { stroke: gridColour, width: 1 }, ticks: { stroke: gridColour }, label: X_TITLES[this.xKey()] || this.xKey(),
        labelSize: 18, labelFont: "12px system-ui, sans-serif" },
        { stroke: fg, grid: { stroke: gridColour, width: 1 }, ticks: { stroke: gridColour }, size: Y_AXIS }],
      // a drag selects a range; the chart zooms once its finer buckets are here (setScale: false spares a
      // redraw of the stretched coarse buckets that the answer replaces at once)
      series, bands, cursor: { drag: { x: true, y: false, setScale: false } },
      hooks: {
        setCursor: [(u) => this.hover(u, chart, names, colours, smoothing)],
        setSelect: [(u) => {
          if (u.select.width < 2) return;
          const lo = u.posToVal(u.select.left, "x");
          const hi = u.posToVal(u.select.left + u.select.width, "x");
          u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
          this.zoom(chart, metric, lo, hi).catch(() => stretch(chart, lo, hi));
        }],
      },
    };
    chart.hoverBox = hover;
    chart.plot = new window.uPlot(opts, shaped.data, plotBox);
    this.legend(chart, names, colours);
    // double click: back to the whole range (the buckets of the full run)
    chart.plot.over.addEventListener("dblclick", () => {
      chart.zoomed = false;
      chart.hoverShaped = null;
      chart.points.textContent = pointsLabel(chart.shaped.drawn, chart.shaped.total);
      chart.plot.setData(chart.shaped.data);
      registry[metric] = { ...registry[metric], zoom: null };
    });
    return chart;
  }

  /** Fetch finer buckets for [lo, hi] of one chart so a zoom shows detail, not stretched buckets. */
  async zoom(chart, metric, lo, hi) {
    const samples = this.samples();
    const began = performance.now();
    const answer = await api.sampleMany(this.members().map((r) => [r.project, r.id]), [metric], { x: this.xKey(), samples, start: lo, stop: hi, fields: FIELDS });
    const fetched = performance.now();
    const smoothing = Number(this.params.smooth || 0);
    const log = this.params.log === "1" || this.params.log === true;
    let byRun = answer.runs.map((r) => ({ id: r.project + "/" + r.id, series: r.series[metric] }));
    if (this.groups) { // each group's mean and band again, from its members' finer buckets
      const series = new Map(byRun.map((r) => [r.id, r.series]));
      byRun = this.groups.map((g) => ({ id: "group/" + g.label, series: groupSeries(g.members.map((r) => series.get(r.project + "/" + r.id)), samples) }));
    }
    const drawn = new Set(chart.shaped.runs);
    const shaped = chartColumns(byRun.filter((r) => drawn.has(r.id)), { smoothing, log, keepEmpty: true });
    if (JSON.stringify(shaped.runs) !== JSON.stringify(chart.shaped.runs) || !shaped.data[0].length) {
      stretch(chart, lo, hi); // nothing finer to draw: the buckets already drawn, stretched
      return;
    }
    chart.zoomed = true;
    chart.hoverShaped = shaped;
    chart.plot.batch(() => {
      chart.plot.setData(shaped.data, false);
      chart.plot.setScale("x", { min: lo, max: hi });
    });
    await Promise.resolve();
    debug.zoomTiming = { fetch: fetched - began, draw: performance.now() - fetched };
    chart.points.textContent = pointsLabel(shaped.drawn, shaped.total) + " in the zoomed range";
    const registry = debug[this.name];
    if (registry[metric]) registry[metric].zoom = { start: lo, stop: hi, data: shaped.data, drawn: shaped.drawn, total: shaped.total };
  }

  /** Download what the chart shows: its data (CSV/JSON, the zoomed range when zoomed) or its canvas (PNG). */
  exportChart(chart, metric, names, kind) {
    const registry = debug[this.name][metric] || {};
    const shown = registry.zoom ? { ...registry, ...registry.zoom } : registry;
    const labels = Object.fromEntries(names);
    if (kind === "png") {
      const canvas = chart.card.querySelector("canvas");
      if (canvas) canvas.toBlob((blob) => saveBlob(blob, fileName(metric, "png")), "image/png");
    } else if (kind === "svg") {
      const colours = Object.fromEntries(shown.runs.map((id, i) => [id, chart.colours[i]]));
      saveBlob(new Blob([chartSvg(shown, labels, colours, metric)], { type: "image/svg+xml" }), fileName(metric, "svg"));
    } else if (kind === "csv") {
      const { headers, rows } = chartTable(shown, labels);
      saveBlob(new Blob([toCsv(headers, rows)], { type: "text/csv" }), fileName(metric, "csv"));
    } else {
      const out = { metric, x: shown.x, smoothing: shown.smoothing, log: shown.log, total: shown.total, runs: shown.runs.map((id, r) => ({
        id, name: labels[id] || id, x: shown.data[0], last: shown.data[1 + r * 4], smoothed: shown.data[2 + r * 4],
        min: shown.data[3 + r * 4], max: shown.data[4 + r * 4] })) };
      saveBlob(new Blob([JSON.stringify(out, null, 1)], { type: "application/json" }), fileName(metric, "json"));
    }
  }

  theme() {
    return document.documentElement.dataset.theme || "";
  }

  /** Live update. `versions` maps "project/id" to what the polled run document says of the run's
   * history, `{data, keys}` (its state and summary, as strings): a run whose version is the one already
   * drawn is not fetched again (a finished run, a paused one); the runs whose version changed, or that
   * have none (null: all), are fetched again in one request; a changed `keys` version also re-fetches
   * their keys. Nothing changed: no request and no redraw, so zoom, smoothing and hover stay as they are.
   * Charts whose runs and options did not change keep their canvas. */
  async refresh(versions = null) {
    const known = this.versions || new Map();
    const stale = new Set();
    const staleKeys = new Set();
    for (const r of this.members()) {
      const key = r.project + "/" + r.id;
      const now = versions && versions.get(key);
      const drawn = known.get(key);
      if (!now || !drawn || now.data !== drawn.data) stale.add(key);
      if (!now || !drawn || now.keys !== drawn.keys) staleKeys.add(key);
    }
    debug.refreshed = [...stale];
    if (!stale.size && !staleKeys.size) return;
    for (const key of [...this.keyCache.keys()]) if (staleKeys.has(key)) this.keyCache.delete(key);
    for (const key of [...this.sampleCache.keys()]) {
      const [project, id] = JSON.parse(key);
      if (stale.has(project + "/" + id)) this.sampleCache.delete(key);
    }
    for (const key of stale) known.delete(key); // fetched again: what was drawn is no longer known
    if (await this.load(true)) for (const key of stale) if (versions && versions.get(key)) known.set(key, versions.get(key));
    this.versions = known;
  }

  /** The hover box: every run's value at the cursor's x. Its rows are made once per chart and then only
   * take new text (a mouse move over 100 runs changes 100 text nodes, it builds no elements). */
  hover(u, chart, names, colours, smoothing) {
    const idx = u.cursor.idx;
    const box = chart.hoverBox;
    if (idx === null || idx === undefined) { this.legend(chart, names, colours); return; }
    const shaped = chart.hoverShaped || chart.shaped;
    if (!chart.hoverRows || chart.hoverRows.shaped !== chart.shaped) {
      const rows = chart.shaped.runs.map((id) => {
        const swatch = h("span", { class: "swatch" });
        swatch.style.background = colours.get(id); // CSSOM, which the CSP allows (no style attributes)
        const text = document.createTextNode("");
        return { row: h("div", { class: "hover-run" }, swatch, text), text };
      });
      chart.hoverRows = { shaped: chart.shaped, head: h("div", { class: "hover-x" }), rows };
    }
    const { head, rows } = chart.hoverRows;
    head.textContent = `${this.xKey()} = ${formatValue(shaped.data[0][idx])}`;
    const shown = [head];
    shaped.runs.forEach((id, i) => {
      const base = 1 + i * 4;
      const value = shaped.data[base + (smoothing ? 1 : 0)][idx];
      if (value === null || value === undefined || !rows[i]) return;
      const lo = shaped.data[base + 2][idx];
      const hi = shaped.data[base + 3][idx];
      const range = lo !== hi && lo !== null ? ` [${formatValue(lo)} … ${formatValue(hi)}]` : "";
      const text = `${names.get(id)}: ${formatValue(value)}${range}`;
      if (rows[i].text.data !== text) rows[i].text.data = text;
      shown.push(rows[i].row);
    });
    if (!sameChildren(box, shown)) box.replaceChildren(...shown);
    chart.legendShown = false;
  }

  /** Away from the cursor, the box is the chart's legend: each line's colour and run (or group). */
  legend(chart, names, colours) {
    const shaped = chart.shaped;
    if (chart.legendShown && chart.legendOf === shaped.runs) return;
    const items = shaped.runs.slice(0, LEGEND_MAX).map((id) => {
      const swatch = h("span", { class: "swatch" });
      swatch.style.background = colours.get(id);
      return h("span", { class: "legend-run" }, swatch, names.get(id) || id);
    });
    if (shaped.runs.length > LEGEND_MAX) items.push(h("span", { class: "legend-run" }, `+${shaped.runs.length - LEGEND_MAX} more`));
    replace(chart.hoverBox, h("div", { class: "legend" }, items));
    chart.legendShown = true;
    chart.legendOf = shaped.runs;
  }
}

/** Zoom a chart to [lo, hi] with the buckets it has (what uPlot's own drag zoom does). */
function stretch(chart, lo, hi) {
  if (chart.plot) chart.plot.setScale("x", { min: lo, max: hi });
}

function sameChildren(box, nodes) {
  const children = box.childNodes;
  if (children.length !== nodes.length) return false;
  for (let i = 0; i < nodes.length; i++) if (children[i] !== nodes[i]) return false;
  return true;
}

/** The run's system metrics (CPU, memory, disk, network ...) along wall time, drawn like the metrics. */
export class SystemChartPanel extends ChartPanel {
  constructor(container, params, onParams) {
    super(container, params, onParams, "system");
    this.xSelect.parentElement.hidden = true;
  }

  xKey() {
    return "_timestamp";
  }

  async zoom(chart, metric, lo, hi) { // system rows have no finer buckets to fetch here: stretch what is drawn
    stretch(chart, lo, hi);
  }

  async load() {
    const token = (this.token = {});
    this.status.textContent = "loading…";
    try {
      const samples = Math.max(100, Math.min(2000, Math.round(this.chartWidth())));
      const answers = await Promise.all(this.runs.map((r) => api.systemSample(r.project, r.id, samples)));
      if (token !== this.token) return;
      this.drawRuns = this.runs;
      this.data = { runs: this.runs.map((r, i) => ({ project: r.project, id: r.id, series: answers[i].series })) };
      const metrics = [...new Set(answers.flatMap((a) => Object.keys(a.series)))].filter((k) => !k.startsWith("_")).sort();
      const shown = metrics.filter((m) => metricMatches(m, this.params.metric));
      this.metrics = shown.slice(0, MAX_CHARTS);
      this.hidden = shown.length - this.metrics.length;
      this.draw();
    } catch (error) {
      if (token !== this.token) return;
      this.status.textContent = "";
      replace(this.grid, notice(error.message, "error"));
    }
  }
}
