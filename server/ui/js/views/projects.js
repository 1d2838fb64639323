// The projects list: each project with its run count, running runs and last activity.

import { api } from "../api.js";
import { h, replace } from "../dom.js";
import { formatTime } from "../table.js";
import { formatHash } from "../url.js";

export async function projectsView(root) {
  const { projects } = await api.projects();
  if (!projects.length) {
    replace(root, h("h1", {}, "Projects"), h("p", { class: "notice", id: "no-runs" },
      "No runs in the store this UI serves (its path is printed where trackkit ui started). Log some with ",
      h("code", {}, "python examples/quickstart.py"), " or trackkit.init() and trackkit.log(), or serve the folder that holds your runs: ",
      h("code", {}, "trackkit ui --store PATH"), ". Then reload."));
    return;
  }
  const rows = projects.map((p) => h("tr", {},
    h("td", {}, h("a", { href: formatHash(["projects", p.name]) }, p.name)),
    h("td", { class: "num" }, String(p.run_count)),
    h("td", { class: "num" }, String(p.running)),
    h("td", {}, formatTime(p.last_activity))));
  replace(root, h("h1", {}, "Projects"),
    h("table", { class: "grid", id: "projects-table" },
      h("thead", {}, h("tr", {}, h("th", {}, "project"), h("th", { class: "num" }, "runs"), h("th", { class: "num" }, "running"), h("th", {}, "last activity"))),
      h("tbody", {}, rows)));
}
