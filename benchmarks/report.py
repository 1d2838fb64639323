"""The Markdown report and the target checks (issue 5) for one benchmark run's JSON document."""

from __future__ import annotations

from typing import Any

__all__ = ["render", "targets"]

NAMES = {"trackkit": "**trackkit**", "floor": "floor (JSON lines)", "wandb": "wandb (offline)", "mlflow": "MLflow",
         "trackio": "trackio", "tensorboardX": "tensorboardX"}
LOGGER_NAMES = {"none": "no logger", "trackkit": "**trackkit plugin**", "csv": "CSVLogger", "wandb": "WandbLogger (offline)"}


def _logger_name(spec: str, framework: str) -> str:
    name, _, every = spec.partition("@")
    text = LOGGER_NAMES.get(name, name)
    if every:
        unit = "step" if framework == "lightning" else "batch"
        text += f", every {unit}" if every == "1" else f", every {every} {unit}s"
    return text


def _num(value: float) -> str:
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def _cell(figure: dict[str, float] | None, ref: dict[str, float] | None, ratio: bool = True) -> str:
    if figure is None:
        return "–"
    text = _num(figure["median"])
    if figure.get("n", 1) > 1:
        text += f" ({_num(figure['min'])}–{_num(figure['max'])})"
    if ratio and ref is not None and ref["median"] > 0:
        text += f" ×{_ratio(figure['median'] / ref['median'])}"
    return text


def _ratio(value: float) -> str:
    if value < 0.01:
        return "<0.01"
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.0f}"
    return f"{value:.2g}" if value < 1 else f"{value:.1f}"


def _largest(entry: dict[str, Any]) -> str:
    return max(entry["by_steps"], key=int)


def targets(doc: dict[str, Any], previous: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Each target: what it asks, the measured figure, met / not met / not measured, and
    whether it was also met in the previous run of the same mode (issue 5: a figure is met when it
    holds in two consecutive runs)."""
    t = doc["trackers"]
    tk = t.get("trackkit")
    out: list[dict[str, Any]] = []

    def add(key: str, what: str, measured: str, met: bool | None) -> None:
        out.append({"key": key, "target": what, "measured": measured, "met": met})

    if tk is None:
        return out
    steps_keys = sorted(tk["by_steps"], key=int)
    # log() caller cost
    for steps in steps_keys:
        mine = tk["by_steps"][steps]["log_median_us"]["median"]
        wandb = t.get("wandb", {}).get("by_steps", {}).get(steps)
        floor = t.get("floor", {}).get("by_steps", {}).get(steps)
        if wandb:
            w = wandb["log_median_us"]["median"]
            add(f"log_vs_wandb_{steps}", f"log() ≤ 1/10 of wandb's ({int(steps):,} steps)",
                f"{_num(mine)} µs vs {_num(w)} µs (1/{_num(w / mine)})", mine <= w / 10)
        if floor:
            f = floor["log_median_us"]["median"]
            add(f"log_vs_floor_{steps}", f"log() within 3x of the floor's per-line cost ({int(steps):,} steps)",
                f"{_num(mine)} µs vs {_num(f)} µs ({_num(mine / f)}x)", mine <= 3 * f)
    # init
    init = tk["init_ms"]["median"]
    if "wandb" in t:
        w = t["wandb"]["init_ms"]["median"]
        add("init_vs_wandb", "init ≤ 1/20 of wandb's", f"{_num(init)} ms vs {_num(w)} ms (1/{_num(w / init)})",
            init <= w / 20)
    add("init_abs", "init < 30 ms", f"{_num(init)} ms", init < 30)
    # import
    imp = tk["import_ms"]["median"]
    heavy = tk["heavy_modules_after_import"]
    add("import", "import trackkit < 50 ms, no framework/numpy/pandas imported",
        f"{_num(imp)} ms; heavy modules: {', '.join(heavy) or 'none'}", imp < 50 and not heavy)
    # finish after 100k
    if "100000" in tk["by_steps"]:
        fin = tk["by_steps"]["100000"]["finish_ms"]["median"]
        add("finish_100k", "finish() after 100k steps x 10 scalars < 0.5 s", f"{_num(fin)} ms", fin < 500)
    else:
        add("finish_100k", "finish() after 100k steps x 10 scalars < 0.5 s",
            f"not measured (largest run: {int(_largest(tk)):,} steps)", None)
    # read-back
    big = _largest(tk)
    mine_read = tk["by_steps"][big]["read_s"]
    if mine_read is not None:
        mine_rate = mine_read["median"] / tk["by_steps"][big]["steps_done"]
        slower = []
        compared = []
        for name, entry in t.items():
            figures = entry["by_steps"].get(big)
            if name in ("trackkit", "floor") or not figures or not figures["has_reader"] or figures["read_s"] is None:
                continue
            rate = figures["read_s"]["median"] / figures["steps_done"]  # per step: peers may have stopped early
            compared.append(f"{NAMES[name]} ×{_ratio(rate / mine_rate)}")
            if rate <= mine_rate:
                slower.append(name)
        ok_points = tk["by_steps"][big]["points_ok"]
        if big == "100000":
            add("read_100k", "scan_history of 100k x 10 points < 1 s, every point back",
                f"{_num(mine_read['median'])} s; points complete: {ok_points}",
                mine_read["median"] < 1 and ok_points)
        else:
            add("read_100k", "scan_history of 100k x 10 points < 1 s",
                f"not measured (largest run: {int(big):,} steps: {_num(mine_read['median'])} s)", None)
        add("read_vs_peers", "read-back faster than every peer with a reader (per step)",
            "peers' time per step vs trackkit's: " + (", ".join(compared) or "no peer with a reader"),
            not slower if compared else None)
    # plugin overhead
    for framework, loggers in doc.get("training", {}).items():
        plugin = loggers.get("trackkit")
        what = f"{framework.capitalize()} plugin overhead < 2% vs no logger"
        if plugin is None:
            continue
        if "unavailable" in plugin:
            add(f"plugin_{framework}", what, plugin["unavailable"], None)
        elif plugin["slowdown_pct"] is None:
            add(f"plugin_{framework}", what, "no baseline", None)
        else:
            s = plugin["slowdown_pct"]
            add(f"plugin_{framework}", what, f"{s['median']:+.1f}% (quartiles {s['p25']:+.1f}…{s['p75']:+.1f}%, "
                f"{s['n']} paired epochs)", s["median"] < 2)
    if previous and previous.get("mode") == doc.get("mode"):
        before = {item["key"]: item["met"] for item in previous.get("targets", [])}
        for item in out:
            item["met_previous_run"] = before.get(item["key"])
    return out


def render(doc: dict[str, Any]) -> str:
    m = doc["machine"]
    s = doc["settings"]
    t = doc["trackers"]
    lines: list[str] = [f"# trackkit benchmarks ({doc['mode']} mode)", ""]
    lines.append(f"Reproduce with: `{doc['command']}` (from the repository root). Ran {doc['date_utc']}"
                 f"{' in ' + str(doc['duration_s']) + ' s' if doc.get('duration_s') else ''}.")
    lines.append("")
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items())
    lines.append(f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gb']} GB RAM, Python {m['python']}, "
                 f"{m['platform']}. Versions: {versions}.")
    lines.append("")
    lines.append(f"Every figure is the median over {s['reps']} fresh processes per tracker, (min–max), and ×ratio to "
                 "trackkit in the same run. log(): 10 float scalars per call, timed around each call with "
                 f"`perf_counter_ns`; slow trackers stop logging after {s['budget_s']:g} s (their per-call figures "
                 "stay valid; finish, wall, disk and read-back then cover fewer steps, marked †).")
    lines.append("")
    missing = {k: v for k, v in doc["status"].items() if v != "ok"}
    if missing:
        lines.append("Not measured: " + "; ".join(f"{NAMES[k]}: {v}" for k, v in missing.items()) + ".")
        lines.append("")

    ref = t.get("trackkit")
    lines += ["## Start-up (fresh process)", "", "| tracker | `import` (ms) | `init` until `log` works (ms) |",
              "|---|---|---|"]
    for name, entry in t.items():
        lines.append(f"| {NAMES[name]} | {_cell(entry['import_ms'], ref and ref['import_ms'])} | "
                     f"{_cell(entry['init_ms'], ref and ref['init_ms'])} |")
    lines.append("")

    for steps in sorted({k for e in t.values() for k in e["by_steps"]}, key=int):
        r = ref["by_steps"].get(steps) if ref else None
        lines += [f"## {int(steps):,} steps x 10 scalars", "",
                  "| tracker | `log()` median (µs) | `log()` p99 (µs) | `finish()` (ms) | process wall (s) | "
                  "peak RSS (MB) | on disk (MB) | read-back (s) | every point back |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for name, entry in t.items():
            f = entry["by_steps"].get(steps)
            if f is None:
                continue
            partial = f["steps_done"] < int(steps)
            dagger = f" † {f['steps_done']:,} steps" if partial else ""

            def c(key: str, fig: dict[str, Any] = f, ref: Any = r, scaled: bool = partial) -> str:
                return _cell(fig[key], ref and ref[key], ratio=not scaled)

            if not f["has_reader"]:
                read, back = "no reader", "–"
            else:
                read = c("read_s")
                back = "yes" if f["points_ok"] else f"NO ({f['points']} of {f['points_expected']})"
            lines.append(
                f"| {NAMES[name]}{dagger} | {_cell(f['log_median_us'], r and r['log_median_us'])} | "
                f"{_cell(f['log_p99_us'], r and r['log_p99_us'])} | {c('finish_ms')} | {c('wall_s')} | "
                f"{_cell(f['peak_rss_mb'], r and r['peak_rss_mb'])} | {c('disk_mb')} | {read} | {back} |")
        lines.append("")

    if doc.get("training"):
        lines += ["## Training-loop overhead", "",
                  f"A one-layer model on synthetic data, {s['batches']:,} batches of {s['batch_size']} per epoch, Keras "
                  "on the torch backend. In each process the loggers take turns: every round fits one epoch with each "
                  f"logger (a fresh Trainer / `fit()`, the same model), {s['rounds']} rounds after a warm-up round, "
                  f"{s['training_reps']} process(es). Only the epoch is timed. Slowdown: the epoch's CPU time (every thread "
                  "of the process; stable on a shared machine, unlike wall time) against the no-logger epoch of the "
                  "same round; median and interquartile range. wandb's own service process is not counted (its "
                  "logging work happens there). Loggers use the framework's "
                  "defaults (Lightning logs every 50 steps; trackkit's Keras callback once per epoch) unless the row "
                  "says every step / batch (a stress case).", "",
                  "| framework | logger | epoch wall (s) | epoch CPU (s) | slowdown vs no logger (CPU) |",
                  "|---|---|---|---|---|"]
        for framework, loggers in doc["training"].items():
            for logger, figures in loggers.items():
                name = _logger_name(logger, framework)
                if "unavailable" in figures:
                    lines.append(f"| {framework} | {name} | {figures['unavailable']} | – | – |")
                    continue
                slow = figures["slowdown_pct"]
                slow_text = "–" if slow is None else (
                    f"{slow['median']:+.1f}%" + (f" ({slow['p25']:+.1f}…{slow['p75']:+.1f})" if slow["n"] > 1 else ""))
                lines.append(f"| {framework} | {name} | {_cell(figures['epoch_s'], None, ratio=False)} | "
                             f"{_cell(figures.get('epoch_cpu_s'), None, ratio=False)} | {slow_text} |")
        lines.append("")

    lines += ["## Targets (issue 5)", "", "| target | measured | status |", "|---|---|---|"]
    for item in doc["targets"]:
        status = {True: "met", False: "**not met**", None: "not measured"}[item["met"]]
        if "met_previous_run" in item and item["met"] is not None:
            status += " (previous run: " + {True: "met", False: "not met", None: "–"}[item["met_previous_run"]] + ")"
        lines.append(f"| {item['target']} | {item['measured']} | {status} |")
    lines.append("")
    if doc["failures"]:
        lines += ["## Failures", ""] + [f"- {f}" for f in doc["failures"]] + [""]
    return "\n".join(lines)
