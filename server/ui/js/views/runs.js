// The runs table of a project, with the chart panel of the selected runs below it.
// URL params: q (filter text), order, offset, limit, cols, sel (run ids); chart params x, log, smooth, metric.

import { api } from "../api.js";
import { h, notice, replace } from "../dom.js";
import { fileName, saveBlob, toCsv } from "../export.js";
import { groupRuns } from "../group.js";
import { allColumns, cellValue, clauseFor, defaultColumns, formatDuration, formatTime, formatValue } from "../table.js";
import { formatHash, listParam, tableQuery, toggleOrder } from "../url.js";
import { ChartPanel, historyVersion } from "./charts.js";

const FIXED = [
  { field: "state", label: "state", cell: (r) => r.state },
  { field: "name", label: "name" },
  { field: "tags", label: "tags", cell: (r) => (r.tags || []).join(", ") },
  { field: "created_at", label: "created", cell: (r) => formatTime(r.created_at) },
  { field: "runtime", label: "duration", cell: (r) => formatDuration(r.runtime) },
];
const DEFAULT_SELECTED = 5;
/** While a run on the page is running, the table and charts refresh this often (ms). */
const LIVE_MS = 2000;
/** Group mode groups at most this many runs (the store pages them in one query). */
const MAX_GROUPED = 10000;

/** The runs table's box gets class "wide" while the table overflows it sideways: then the tick, state and
 * name columns stick to the left edge (app.css). One resize listener for the box on screen. */
let shownBox = null;
function markWide(box) {
  shownBox = box;
  box.classList.toggle("wide", box.scrollWidth > box.clientWidth);
}
window.addEventListener("resize", () => shownBox && document.body.contains(shownBox) && markWide(shownBox));

/** A group label back to the value it came from ("32" -> 32, "adam" -> "adam"). */
function parseLabel(label) {
  try {
    return JSON.parse(label);
  } catch {
    return label;
  }
}

export async function runsView(root, route, nav) {
  const project = route.path[1];
  let params = { ...route.params };
  const path = ["projects", project];
  const filterBox = h("input", { type: "search", id: "filter", value: params.q || "", placeholder: "config.lr>0.01, state=finished",
    "aria-label": "filter runs", size: "40" });
  const colsBox = h("input", { type: "text", id: "columns", value: params.cols || "", placeholder: "columns: config.lr,summary.loss",
    "aria-label": "columns", size: "36" });
  const groupBox = h("input", { type: "text", id: "group", value: params.group || "", placeholder: "group by: config.optim, state",
    "aria-label": "group by", size: "24" });
  const message = h("div", { class: "messages" });
  const tableBox = h("div", { class: "table-box" });
  const pager = h("div", { class: "pager" });
  const chartsBox = h("section", { class: "charts", id: "charts" });
  const picker = h("details", { class: "column-picker", id: "column-picker" });
  const compareLink = h("div", { class: "compare-link" });
  const update = (changes, { reloadTable = true, push = true } = {}) => {
    params = { ...params, ...changes };
    (push ? nav.push : nav.replace)(path, params);
    return reloadTable ? loadTable() : null;
  };
  const charts = new ChartPanel(chartsBox, params, (changes) => {
    params = { ...params, ...changes };
    nav.replace(path, params);
  });
  replace(root,
    h("nav", { class: "crumbs" }, h("a", { href: formatHash([]) }, "projects"), " / ", h("span", {}, project), " · ",
      h("a", { id: "understand", href: formatHash(["projects", project, "understand"], { q: params.q }) }, "understand (importance, parallel coordinates)")),
    h("form", { class: "toolbar", onsubmit: (e) => { e.preventDefault(); update({ q: filterBox.value.trim(), cols: colsBox.value.trim(), group: groupBox.value.trim(), offset: "" }); } },
      h("label", {}, "filter ", filterBox), h("label", {}, "columns ", colsBox), h("label", {}, "group by ", groupBox),
      h("button", { type: "submit" }, "apply"),
      h("button", { type: "button", id: "export-csv", title: "every matching run with the shown columns", onclick: () => exportCsv() }, "export CSV")),
    h("p", { class: "hint" }, "Click a column header to sort (the best run first), a value to filter by it; tick runs to chart and compare them."),
    picker, message, tableBox, pager, compareLink, h("h2", {}, "Charts"), chartsBox);

  let page = null;
  let shownOrder = [];
  let timer = null;
  // The default columns stay put while sorting and paging (a column must not vanish when clicked); a new
  // filter picks them again.
  let defaults = null;
  let defaultsFor = null;
  const chosenColumns = () => {
    if (listParam(params.cols).length) return listParam(params.cols);
    if (defaults === null || defaultsFor !== (params.q || "")) {
      defaults = defaultColumns(page.runs);
      defaultsFor = params.q || "";
    }
    return defaults;
  };
  async function loadTable(live = false) {
    const { limit, offset } = tableQuery(params);
    clearTimeout(timer);
    try {
      page = await api.runs(project, tableQuery(params));
    } catch (error) {
      replace(message, notice(error.message, "error"));
      replace(tableBox);
      return;
    }
    replace(message);
    if (live) { // a live update keeps the rows where they were; new runs join at the end
      const at = new Map(shownOrder.map((id, i) => [id, i]));
      page.runs.sort((a, b) => (at.has(a.id) ? at.get(a.id) : 1e9) - (at.has(b.id) ? at.get(b.id) : 1e9));
    }
    shownOrder = page.runs.map((r) => r.id);
    const columns = chosenColumns();
    if (!params.cols) colsBox.placeholder = columns.join(",") || colsBox.placeholder;
    renderPicker(columns);
    if (listParam(params.group).length) {
      await loadGroups(columns);
      return;
    }
    const explicit = params.sel !== undefined && params.sel !== "";
    const selected = new Set(explicit ? listParam(params.sel).filter((s) => s !== "-") : page.runs.slice(0, DEFAULT_SELECTED).map((r) => r.id));
    renderTable(page.runs, columns, selected);
    replace(compareLink, selected.size >= 2
      ? h("a", { id: "compare", href: formatHash(["projects", project, "compare"], { runs: [...selected].join(",") }) }, `compare ${selected.size} selected runs`)
      : h("span", { class: "notice" }, "select two or more runs to compare them"));
    renderPager(page.total, limit, offset);
    const byId = new Map(page.runs.map((r) => [r.id, r]));
    const chartRuns = [...selected].map((id) => ({ project, id, name: (byId.get(id) || {}).name || id }));
    // live: the charts fetch again only the runs whose state or summary changed since they were drawn
    // (a finished or paused run is not fetched again); runs not on this page have no version: fetched again
    const versions = new Map(chartRuns.filter((r) => byId.has(r.id)).map((r) => [project + "/" + r.id, historyVersion(byId.get(r.id).state, byId.get(r.id).summary)]));
    if (live && JSON.stringify(chartRuns) === JSON.stringify(charts.runs)) await charts.refresh(versions);
    else await charts.setRuns(chartRuns, null, versions);
    if (page.runs.some((r) => r.state === "running")) {
      timer = setTimeout(() => document.body.contains(tableBox) && loadTable(true), LIVE_MS);
    }
  }

  /** The table as CSV: every run the filter matches (not only this page), in order, with the shown columns. */
  async function exportCsv() {
    const columns = page ? chosenColumns() : listParam(params.cols);
    try {
      const all = await api.runs(project, { q: params.q, order: params.order, limit: MAX_GROUPED,
        fields: columns.filter((c) => c.startsWith("config.") || c.startsWith("summary.")).join(",") || "summary._none" });
      const headers = ["id", "name", "state", "tags", "created_at", "runtime", ...columns];
      const rows = all.runs.map((r) => [r.id, r.name, r.state, (r.tags || []).join(" "), r.created_at, r.runtime, ...columns.map((c) => cellValue(r, c))]);
      saveBlob(new Blob([toCsv(headers, rows)], { type: "text/csv" }), fileName(project + "-runs", "csv"));
    } catch (error) {
      replace(message, notice(error.message, "error"));
    }
  }

  /** Group mode: every matching run (not only the page) in groups, with stats of the summary columns. */
  async function loadGroups(columns) {
    const fields = listParam(params.group);
    const summaryColumns = columns.filter((c) => c.startsWith("summary."));
    const wanted = [...fields, ...summaryColumns].filter((f) => f.startsWith("config.") || f.startsWith("summary."));
    let all;
    try {
      all = await api.runs(project, { q: params.q, order: params.order, limit: MAX_GROUPED, fields: wanted.join(",") || "summary._none" });
    } catch (error) {
      replace(message, notice(error.message, "error"));
      return;
    }
    const groups = groupRuns(all.runs, fields, summaryColumns);
    const showRuns = (g) => {
      const clauses = fields.map((f, i) => (g.values[i] === "-" || f === "tags" ? null : clauseFor(f, parseLabel(g.values[i])))).filter(Boolean);
      update({ group: "", q: [params.q, ...clauses].filter(Boolean).join(", "), offset: "" });
    };
    const head = h("tr", {}, fields.map((f) => h("th", {}, f)), h("th", {}, "runs"),
      summaryColumns.map((c) => ["mean", "min", "max"].map((stat) => h("th", {}, `${c} ${stat}`))));
    const body = groups.map((g) => h("tr", { "data-group": g.label },
      g.values.map((v) => h("td", {}, h("button", { type: "button", class: "link", title: "show the runs of this group", onclick: () => showRuns(g) }, v))),
      h("td", { class: "num", "data-stat": "count" }, String(g.count)),
      summaryColumns.map((c) => ["mean", "min", "max"].map((stat) => h("td", { class: "num", "data-column": c, "data-stat": stat },
        formatValue(g.stats[c][stat]))))));
    replace(tableBox, h("table", { class: "grid", id: "groups-table" }, h("thead", {}, head), h("tbody", {}, body)));
    replace(pager, h("span", { class: "count" }, `${groups.length} groups of ${all.total} runs` +
      (all.total > all.runs.length ? ` (the first ${all.runs.length} grouped)` : "")));
    replace(compareLink);
    await charts.setRuns([], groups.map((g) => ({ label: g.label, members: g.ids.map((id) => ({ project, id })) })));
  }

  function sortHeader(field, label, cls) {
    const arrow = params.order === field ? " ▲" : params.order === "-" + field ? " ▼" : "";
    return h("th", { class: cls }, h("button", { class: "sort", type: "button", "data-field": field,
      onclick: () => update({ order: toggleOrder(params.order, field), offset: "" }) }, label + arrow));
  }

  function renderTable(runs, columns, selected) {
    if (!runs.length) {
      replace(tableBox, notice(params.q ? "No runs match this filter." : "No runs in this project."));
      return;
    }
    const toggle = (id, on) => {
      const next = new Set(selected);
      if (on) next.add(id); else next.delete(id);
      update({ sel: [...next].join(",") || "-" }, { reloadTable: true });
    };
    // the first three columns (tick, state, name) stay in view while the table scrolls sideways (app.css)
    const head = h("tr", {}, h("th", { class: "pick" }, ""), FIXED.map((c) => sortHeader(c.field, c.label, "fixed-" + c.field)),
      columns.map((c) => sortHeader(c, c)));
    const body = runs.map((run) => h("tr", { "data-run": run.id, class: selected.has(run.id) ? "selected" : "" },
      h("td", { class: "pick" }, h("input", { type: "checkbox", checked: selected.has(run.id), "aria-label": "select " + run.name,
        onchange: (e) => toggle(run.id, e.target.checked) })),
      h("td", { class: "fixed-state" }, h("span", { class: "state " + run.state }, run.state)),
      h("td", { class: "name fixed-name", title: run.name || run.id },
        h("a", { href: formatHash(["projects", project, "runs", run.id]) }, run.name || run.id)),
      FIXED.slice(2).map((c) => h("td", {}, c.cell(run))),
      columns.map((c) => {
        const value = cellValue(run, c);
        return h("td", { class: "value" + (typeof value === "number" ? " num" : ""), "data-column": c, title: "click to filter by this value",
          onclick: () => value !== undefined && (filterBox.value = [filterBox.value.trim(), clauseFor(c, value)].filter(Boolean).join(", ")) },
        formatValue(value));
      })));
    replace(tableBox, h("table", { class: "grid", id: "runs-table" }, h("thead", {}, head), h("tbody", {}, body)));
    markWide(tableBox);
  }

  /** The column picker: every config and summary key of the page's runs, the shown ones ticked. */
  function renderPicker(columns) {
    const shown = new Set(columns);
    const keys = [...new Set([...columns, ...allColumns(page.runs)])];
    const setColumns = (next) => {
      colsBox.value = next.join(",");
      update({ cols: next.join(",") || "" });
    };
    const previous = picker.querySelector(".column-search");
    const narrow = () => {
      const text = search.value.trim().toLowerCase();
      for (const item of list.children) item.hidden = Boolean(text) && !item.dataset.column.toLowerCase().includes(text);
    };
    const search = h("input", { type: "search", class: "column-search", placeholder: "find a key", "aria-label": "find a column",
      value: previous ? previous.value : "", oninput: narrow });
    const list = h("div", { class: "column-list" }, keys.map((key) => h("label", { "data-column": key },
      h("input", { type: "checkbox", checked: shown.has(key), onchange: (e) =>
        setColumns(e.target.checked ? [...columns, key] : columns.filter((c) => c !== key)) }), " ", key)));
    narrow();
    const wasOpen = picker.open;
    replace(picker, h("summary", {}, `columns: ${columns.length} shown of ${keys.length}`),
      h("div", { class: "column-tools" }, search,
        h("button", { type: "button", title: "the keys that differ between runs", onclick: () => setColumns([]) }, "defaults")),
      list);
    picker.open = wasOpen;
  }

  function renderPager(total, limit, offset) {
    const last = Math.min(offset + limit, total);
    replace(pager,
      h("button", { type: "button", disabled: offset <= 0, onclick: () => update({ offset: String(Math.max(0, offset - limit)) }) }, "‹ prev"),
      h("span", { class: "count" }, total ? `${offset + 1}–${last} of ${total} runs` : "0 runs"),
      h("button", { type: "button", disabled: last >= total, onclick: () => update({ offset: String(offset + limit) }) }, "next ›"));
  }

  await loadTable();
}
