// The app shell: the router (the URL hash names the view and holds its state) and the theme switch.

import { api, token } from "./api.js";
import { h, notice, replace } from "./dom.js";
import { formatHash, parseHash, tableQuery } from "./url.js";

// Views load on demand (index.html preloads their modules in parallel): the app starts its first request
// (for the runs table: the page of runs) while the view's code is still arriving.
const views = {
  projects: () => import("./views/projects.js").then((m) => m.projectsView),
  runs: () => import("./views/runs.js").then((m) => m.runsView),
  run: () => import("./views/run.js").then((m) => m.runView),
  compare: () => import("./views/compare.js").then((m) => m.compareView),
  understand: () => import("./views/understand.js").then((m) => m.understandView),
};

const root = document.getElementById("main");

/** How views change the URL: push (a new history entry) or replace (chart tweaks); neither re-renders. */
const nav = {
  push: (path, params) => history.pushState(null, "", formatHash(path, params)),
  replace: (path, params) => history.replaceState(null, "", formatHash(path, params)),
};

function pick(path) {
  if (path.length === 0) return "projects";
  if (path[0] === "projects" && path.length === 2) return "runs";
  if (path[0] === "projects" && path.length === 4 && path[2] === "runs") return "run";
  if (path[0] === "projects" && path.length === 3 && path[2] === "compare") return "compare";
  if (path[0] === "projects" && path.length === 3 && path[2] === "understand") return "understand";
  return null;
}

// index.html's deferred scripts after this module (uPlot) have run once the DOM content is loaded.
const scriptsLoaded = new Promise((resolve) => {
  if (document.readyState === "complete") resolve();
  else document.addEventListener("DOMContentLoaded", resolve, { once: true });
});

async function render() {
  const route = parseHash(location.hash);
  const name = pick(route.path);
  if (name === "runs") api.prefetchRuns(route.path[1], tableQuery(route.params));
  document.body.dataset.ready = "";
  let view = null;
  try {
    [view] = await Promise.all([name && views[name](), scriptsLoaded]);
  } catch (error) {
    replace(root, notice(`The ${name} view failed to load: ${error.message}`, "error"));
    document.body.dataset.ready = "1";
    return;
  }
  document.body.dataset.view = view ? view.name : "none";
  if (!view) {
    replace(root, notice("Nothing here. "), h("a", { href: "#/" }, "Back to the projects."));
  } else {
    try {
      await view(root, route, nav);
    } catch (error) {
      if (error.status !== 401) replace(root, notice(error.message, "error"), h("a", { href: "#/" }, "Back to the projects."));
    }
  }
  document.body.dataset.ready = "1";
}

/** The server wants a token: ask for it (a password field; stored in this browser, never in the URL). */
function askForToken(message) {
  const input = h("input", { type: "password", id: "token", autocomplete: "off", "aria-label": "API token", size: "40" });
  replace(root, h("h1", {}, "Sign in"), notice(message, token.get() ? "error" : "info"),
    h("form", { id: "token-form", onsubmit: (e) => { e.preventDefault(); token.set(input.value.trim()); render(); } },
      h("label", {}, "API token ", input), " ", h("button", { type: "submit" }, "use token")),
    h("p", { class: "notice" }, "Make one with: trackkit server token create NAME [--read-only]"));
  input.focus();
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
window.addEventListener("trackkit:unauthorized", (event) => askForToken(event.detail || "This server needs an API token."));
window.addEventListener("hashchange", render);
window.addEventListener("popstate", render);
render();
