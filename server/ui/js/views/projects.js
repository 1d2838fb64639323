// The projects list: each project with its run count, running runs and last activity.

import { api } from "../api.js";
import { h, notice, replace } from "../dom.js";
import { formatTime } from "../table.js";
import { formatHash } from "../url.js";

export async function projectsView(root) {
  const { projects } = await api.projects();
  if (!projects.length) {
    replace(root, h("h1", {}, "Projects"), notice("No runs yet. Log one with trackkit.init() and trackkit.log(), then reload."));
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
