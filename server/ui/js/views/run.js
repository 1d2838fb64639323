// The run page: state and exit reason, tags and notes (editable), metadata, the config as a tree with
// each key's provenance and change history, the summary, files, and charts of its metrics and
// system metrics.

import { api, download } from "../api.js";
import { h, notice, replace } from "../dom.js";
import { flatten, formatDuration, formatTime, formatValue } from "../table.js";
import { formatHash } from "../url.js";
import { ChartPanel, SystemChartPanel, historyVersion } from "./charts.js";

/** Metadata shown elsewhere on the page (or internal), left out of the metadata table. */
const META_HIDDEN = new Set(["name", "state", "tags", "notes", "created_at", "runtime", "metrics"]);

function configTree(values, provenance, prefix = "") {
  const items = Object.entries(values || {}).map(([key, value]) => {
    const path = prefix ? prefix + "." + key : key;
    if (value !== null && typeof value === "object" && !Array.isArray(value) && Object.keys(value).length) {
      return h("li", {}, h("details", { open: true }, h("summary", {}, key), configTree(value, provenance, path)));
    }
    return h("li", { "data-key": path }, h("span", { class: "key" }, key), ": ", h("span", { class: "value" }, formatValue(value)),
      provenance[path] ? h("span", { class: "provenance", title: "where the value came from" }, provenance[path]) : null);
  });
  return h("ul", { class: "tree" }, items);
}

function alertIn(box, error) {
  box.appendChild(notice(error.message, "error"));
}

function keyValueTable(id, entries) {
  return h("table", { class: "grid kv", id }, h("tbody", {}, entries.map(([k, v]) =>
    h("tr", {}, h("th", {}, k), h("td", {}, formatValue(v))))));
}

export async function runView(root, route, nav) {
  const [, project, , runId] = route.path;
  const record = await api.run(project, runId);
  const meta = record.meta || {};
  const config = record.config || {};
  const summary = (record.summary || {}).values || {};
  const tagsBox = h("input", { type: "text", id: "tags", value: (meta.tags || []).join(", "), "aria-label": "tags", size: "40" });
  const notesBox = h("textarea", { id: "notes", rows: "3", cols: "60", "aria-label": "notes" });
  notesBox.value = meta.notes || "";
  const editStatus = h("span", { class: "edit-status", role: "status" });
  const save = async (event) => {
    event.preventDefault();
    const tags = tagsBox.value.split(",").map((t) => t.trim()).filter(Boolean);
    try {
      await api.editRun(project, runId, { tags, notes: notesBox.value });
      editStatus.textContent = "saved";
    } catch (error) {
      editStatus.textContent = error.message;
      editStatus.className = "edit-status error";
    }
  };
  const filesBox = h("div", { id: "files" });
  const chartsBox = h("section", { class: "charts", id: "charts" });
  const systemBox = h("section", { class: "charts", id: "system-charts" });
  const changes = config.changes || [];
  const metaEntries = Object.keys(meta).filter((k) => !META_HIDDEN.has(k) && meta[k] !== undefined && meta[k] !== null)
    .flatMap((k) => (typeof meta[k] === "object" && !Array.isArray(meta[k]) ? Object.entries(flatten(meta[k], k)) : [[k, meta[k]]]))
    .map(([k, v]) => [k, k.endsWith("_at") && typeof v === "number" ? formatTime(v) : v]);
  replace(root,
    h("nav", { class: "crumbs" }, h("a", { href: formatHash([]) }, "projects"), " / ",
      h("a", { href: formatHash(["projects", project]) }, project), " / ", h("span", {}, meta.name || runId)),
    h("h1", { id: "run-name" }, meta.name || runId, " ", h("span", { class: "state " + meta.state }, meta.state || "?")),
    h("p", { class: "facts" }, `created ${formatTime(meta.created_at)} · duration ${formatDuration(meta.runtime)}` +
      (meta.exit_reason ? ` · exit: ${meta.exit_reason}` : "") + (meta.exit_code !== undefined && meta.exit_code !== null ? ` (code ${meta.exit_code})` : "")),
    h("form", { class: "edit", onsubmit: save },
      h("label", {}, "tags ", tagsBox), h("label", {}, "notes ", notesBox), h("button", { type: "submit" }, "save"), editStatus),
    h("div", { class: "columns" },
      h("section", {}, h("h2", {}, "Config"), configTree(config.values, config.provenance || {}),
        changes.length ? [h("h3", {}, "Changes"), h("table", { class: "grid", id: "config-changes" },
          h("thead", {}, h("tr", {}, ["key", "old", "new", "step", "source"].map((c) => h("th", {}, c)))),
          h("tbody", {}, changes.map((c) => h("tr", {}, [c.key, c.old, c.new, c.step, c.source].map((v) => h("td", {}, formatValue(v)))))))] : null),
      h("section", {}, h("h2", {}, "Summary"), keyValueTable("summary", Object.entries(flatten(summary)).sort()),
        h("h2", {}, "Metadata"), keyValueTable("metadata", metaEntries), h("h2", {}, "Files"), filesBox)),
    h("h2", {}, "Metrics"), chartsBox, h("h2", {}, "System"), systemBox);

  api.files(project, runId).then(({ files }) => replace(filesBox, files.length
    ? h("ul", { class: "files" }, files.map((f) => h("li", {}, h("a", { href: api.fileUrl(project, runId, f.name), download: f.name.split("/").pop(),
      onclick: (e) => { e.preventDefault(); download(api.fileUrl(project, runId, f.name), f.name.split("/").pop()).catch((err) => alertIn(filesBox, err)); } }, f.name),
      ` (${f.size.toLocaleString("en-US")} bytes)`)))
    : notice("no files"))).catch((error) => replace(filesBox, notice(error.message, "error")));
  const panel = new ChartPanel(chartsBox, route.params, (changes) => nav.replace(route.path, { ...route.params, ...changes }));
  const key = project + "/" + runId;
  const versionOf = (doc) => new Map([[key, historyVersion((doc.meta || {}).state, (doc.summary || {}).values, (doc.summary || {}).last_step)]]);
  await panel.setRuns([{ project, id: runId, name: meta.name || runId }], null, versionOf(record));
  if (meta.state === "running") { // a live run: new points arrive without a reload (fetched only when it logged)
    const tick = async () => {
      if (!document.body.contains(chartsBox)) return;
      const doc = await api.run(project, runId);
      const still = (doc.meta || {}).state === "running";
      await panel.refresh(versionOf(doc));
      if (still) setTimeout(tick, 2000); // the last refresh after the run ended shows its last points
    };
    setTimeout(tick, 2000);
  }
  const system = new SystemChartPanel(systemBox, {}, () => {});
  await system.setRuns([{ project, id: runId, name: meta.name || runId }]);
}
