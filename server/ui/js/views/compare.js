// Compare runs side by side: the config and summary keys that differ (or all, with "show all"), and
// their curves overlaid. URL: #/projects/<p>/compare?runs=a,b,c&all=1 (plus the chart params).

import { api } from "../api.js";
import { h, notice, replace } from "../dom.js";
import { compareRows, formatValue } from "../table.js";
import { formatHash, listParam } from "../url.js";
import { ChartPanel } from "./charts.js";

export async function compareView(root, route, nav) {
  const project = route.path[1];
  let params = { ...route.params };
  const ids = listParam(params.runs);
  if (ids.length < 2) {
    replace(root, notice("Pick two or more runs in the runs table to compare them."),
      h("a", { href: formatHash(["projects", project]) }, "Back to the runs."));
    return;
  }
  const records = await Promise.all(ids.map((id) => api.run(project, id)));
  const names = records.map((r, i) => (r.meta || {}).name || ids[i]);
  const tableBox = h("div", { class: "table-box" });
  const allBox = h("input", { type: "checkbox", id: "show-all", checked: params.all === "1", onchange: () => {
    params = { ...params, all: allBox.checked ? "1" : "" };
    nav.replace(route.path, params);
    renderTable();
  } });
  const chartsBox = h("section", { class: "charts", id: "charts" });
  function renderTable() {
    const rows = compareRows(records, params.all === "1");
    replace(tableBox, rows.length ? h("table", { class: "grid", id: "compare-table" },
      h("thead", {}, h("tr", {}, h("th", {}, "key"), names.map((n, i) => h("th", {},
        h("a", { href: formatHash(["projects", project, "runs", ids[i]]) }, n))))),
      h("tbody", {}, rows.map((row) => h("tr", { class: row.differs ? "differs" : "", "data-key": row.section + "." + row.key },
        h("th", {}, row.section + "." + row.key), row.values.map((v) => h("td", {}, formatValue(v)))))))
      : notice("The runs' configs and summaries are identical."));
  }
  replace(root,
    h("nav", { class: "crumbs" }, h("a", { href: formatHash([]) }, "projects"), " / ",
      h("a", { href: formatHash(["projects", project]) }, project), " / ", h("span", {}, `compare ${ids.length} runs`)),
    h("h1", {}, "Compare"), h("label", {}, allBox, " show all keys (not only those that differ)"), tableBox,
    h("h2", {}, "Charts"), chartsBox);
  renderTable();
  const panel = new ChartPanel(chartsBox, params, (changes) => { params = { ...params, ...changes }; nav.replace(route.path, params); });
  await panel.setRuns(ids.map((id, i) => ({ project, id, name: names[i] })));
}
