// The app shell: the router (the URL hash names the view and holds its state) and the theme switch.

import { h, notice, replace } from "./dom.js";
import { formatHash, parseHash } from "./url.js";
import { compareView } from "./views/compare.js";
import { projectsView } from "./views/projects.js";
import { runView } from "./views/run.js";
import { runsView } from "./views/runs.js";

const root = document.getElementById("main");

/** How views change the URL: push (a new history entry) or replace (chart tweaks); neither re-renders. */
const nav = {
  push: (path, params) => history.pushState(null, "", formatHash(path, params)),
  replace: (path, params) => history.replaceState(null, "", formatHash(path, params)),
};

function pick(path) {
  if (path.length === 0) return projectsView;
  if (path[0] === "projects" && path.length === 2) return runsView;
  if (path[0] === "projects" && path.length === 4 && path[2] === "runs") return runView;
  if (path[0] === "projects" && path.length === 3 && path[2] === "compare") return compareView;
  return null;
}

async function render() {
  const route = parseHash(location.hash);
  const view = pick(route.path);
  document.body.dataset.view = view ? view.name : "none";
  document.body.dataset.ready = "";
  if (!view) {
    replace(root, notice("Nothing here. "), h("a", { href: "#/" }, "Back to the projects."));
  } else {
    try {
      await view(root, route, nav);
    } catch (error) {
      replace(root, notice(error.message, "error"), h("a", { href: "#/" }, "Back to the projects."));
    }
  }
  document.body.dataset.ready = "1";
}

// -- theme: the system's choice unless the user picked one (kept in localStorage) --------------------
function applyTheme(theme) {
  document.documentElement.dataset.theme = theme;
}

function setupTheme() {
  const saved = localStorage.getItem("trackkit-theme");
  const system = matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  applyTheme(saved || system);
  document.getElementById("theme").addEventListener("click", () => {
    const next = document.documentElement.dataset.theme === "dark" ? "light" : "dark";
    localStorage.setItem("trackkit-theme", next);
    applyTheme(next);
    render(); // charts read their colours from the theme
  });
}

setupTheme();
window.addEventListener("hashchange", render);
window.addEventListener("popstate", render);
render();
