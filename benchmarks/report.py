"""The Markdown report and the target checks (issues 5 and 9) for one benchmark run's JSON document."""

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


def _waits(figures: dict[str, Any]) -> str:
    waits, spent = figures.get("backpressure_waits"), figures.get("backpressure_wait_ms")
    if not waits:
        return "–"
    return f"{_num(waits['median'])} ({_num(spent['median'])} ms)" if spent else _num(waits["median"])


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
        _store_targets(doc, None, add)
        return _with_previous(out, previous, doc)
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
    _store_targets(doc, tk, add)
    return _with_previous(out, previous, doc)


def _with_previous(out: list[dict[str, Any]], previous: dict[str, Any] | None, doc: dict[str, Any]) -> list[dict[str, Any]]:
    if previous and previous.get("mode") == doc.get("mode"):
        before = {item["key"]: item["met"] for item in previous.get("targets", [])}
        for item in out:
            item["met_previous_run"] = before.get(item["key"])
    return out


def _store_targets(doc: dict[str, Any], tk: dict[str, Any] | None, add: Any) -> None:
    """Issue 9: flat memory, a quick finish, and the store's read side at full scale."""
    t = doc["trackers"]
    big = tk["by_steps"].get("100000") if tk else None
    if big is not None:
        rss = big["peak_rss_mb"]["median"]
        wandb = t.get("wandb", {}).get("by_steps", {}).get("100000")
        floor = t.get("floor", {}).get("by_steps", {}).get("100000")
        peers = []
        if floor:
            peers.append(f"floor {_num(floor['peak_rss_mb']['median'])} MB")
        if wandb:
            peers.append(f"wandb {_num(wandb['peak_rss_mb']['median'])} MB")
        ok = rss <= 40 and (not floor or rss <= 2 * floor["peak_rss_mb"]["median"]) and (
            not wandb or rss < wandb["peak_rss_mb"]["median"])
        add("rss_100k", "peak RSS at 100k x 10 ≤ 40 MB (≤ 2x the floor, below wandb)",
            f"{_num(rss)} MB" + (f" ({', '.join(peers)})" if peers else ""), ok)
        fin = big["finish_ms"]["median"]
        waits = big.get("backpressure_waits")
        add("finish_100k_v2", "finish() after 100k x 10 ≤ 100 ms", f"{_num(fin)} ms"
            + (f"; log() waited for the writer {_num(waits['median'])} times" if waits else ""), fin <= 100)
    else:
        add("rss_100k", "peak RSS at 100k x 10 ≤ 40 MB", "not measured (no 100,000-step run)", None)
    store = doc.get("store") or {}
    if not store:
        return
    scan = store["scan"]
    complete = scan["points"] == scan["points_expected"]
    add("scan_1m", f"scan_history of 1,000,000 points ≤ 250 ms (here {scan['points_expected']:,})",
        f"{_num(scan['cold_ms'])} ms first call, {_num(scan['warm_ms'])} ms again; every point back: {complete}",
        (scan["cold_ms"] <= 250 and complete) if scan["points_expected"] >= 1_000_000 else None)
    sample = store["sample"]
    sound = sample["spike_kept"] and sample["counts_sum"] == sample["total"] == sample["rows"]
    add("sample_1m", f"sample_history of one key, 1,000,000-row run, 1,000 buckets ≤ 30 ms (here {sample['rows']:,} rows)",
        f"{_num(sample['cold_ms'])} ms first call, {_num(sample['warm_ms'])} ms again; {sample['buckets']} buckets, "
        f"spike kept: {sample['spike_kept']}, counts sum to the total: {sample['counts_sum'] == sample['total']}",
        (sample["cold_ms"] <= 30 and sound) if sample["rows"] >= 1_000_000 else None)
    query = store["query"]
    add("query_10k", f"query_runs over 10,000 runs, a config filter and a summary sort ≤ 300 ms warm (here {query['runs']:,})",
        f"{_num(query['warm_ms'])} ms warm, {_num(query['cold_ms'])} ms cold; through Api().runs: "
        f"{_num(query['api_warm_ms'])} ms warm; {query['matched']:,} matched",
        query["warm_ms"] <= 300 if query["runs"] >= 10_000 else None)
    init = store["init"]
    full = init["full"]["median_ms"]
    add("init_10k", f"init in a project of 10,000 runs ≤ 5 ms (here {init['runs_in_full_project']:,})",
        f"{_num(full)} ms (empty project: {_num(init['empty']['median_ms'])} ms; median of 5 after a first init)",
        full <= 5 if init["runs_in_full_project"] >= 10_000 else None)


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
    if t:  # not with --store-only
        lines += ["## Start-up (fresh process)", "", "| tracker | `import` (ms) | `init` until `log` works (ms) |",
                  "|---|---|---|"]
        for name, entry in t.items():
            lines.append(f"| {NAMES[name]} | {_cell(entry['import_ms'], ref and ref['import_ms'])} | "
                         f"{_cell(entry['init_ms'], ref and ref['init_ms'])} |")
        lines.append("")

    for steps in sorted({k for e in t.values() for k in e["by_steps"]}, key=int):
        r = ref["by_steps"].get(steps) if ref else None
        lines += [f"## {int(steps):,} steps x 10 scalars", "",
                  "| tracker | `log()` median (µs) | `log()` p99 (µs) | `finish()` (ms) | `log()` waits for the writer | "
                  "process wall (s) | peak RSS (MB) | on disk (MB) | read-back (s) | every point back |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
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
                f"{_cell(f['log_p99_us'], r and r['log_p99_us'])} | {c('finish_ms')} | {_waits(f)} | {c('wall_s')} | "
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

    store = doc.get("store") or {}
    if store:
        b = store["build"]
        lines += ["## The store's read side (trackkit, through the `Store` protocol)", "",
                  f"Built through `open_run` and the run sink in {_num(b['wall_s'])} s: one run of {b['steps']:,} steps x 10 "
                  f"scalars, one run of {b['sample_rows']:,} rows of one key with a spike, a project of {b['runs']:,} runs "
                  "(20-key config, summary). Measured in a fresh process: the first call, then the median of 5 more.", "",
                  "| query | first call (ms) | again (ms) | checked |", "|---|---|---|---|"]
        sc, sa, q, i = store["scan"], store["sample"], store["query"], store["init"]
        lines.append(f"| `scan_history`, {sc['points_expected']:,} points | {_num(sc['cold_ms'])} | {_num(sc['warm_ms'])} | "
                     f"{sc['points']:,} points back |")
        lines.append(f"| `sample_history`, 1 key, {sa['rows']:,} rows, 1,000 buckets | {_num(sa['cold_ms'])} | "
                     f"{_num(sa['warm_ms'])} | {sa['buckets']} buckets, spike kept: {sa['spike_kept']} |")
        lines.append(f"| `query_runs`, {q['runs']:,} runs, `config.lr` filter, `-summary.acc` | {_num(q['cold_ms'])} | "
                     f"{_num(q['warm_ms'])} | {q['matched']:,} matched |")
        lines.append(f"| `Api().runs(...)`, the same query | {_num(q['api_cold_ms'])} | {_num(q['api_warm_ms'])} | |")
        lines.append(f"| `init` in a project of {i['runs_in_full_project']:,} runs | {_num(i['full']['first_ms'])} | "
                     f"{_num(i['full']['median_ms'])} | empty project: {_num(i['empty']['median_ms'])} ms |")
        lines.append("")

    peers = doc.get("store_peers") or {}
    if peers:
        mine = peers.get("trackkit")
        lines += ["## The read side against MLflow (each through its own API)", "",
                  "At the scale MLflow loads in under a minute: a runs query over 1,000 runs (config/params "
                  "`optimizer = adam`, sorted by `acc` descending), and a chart query of one metric over 10 runs x "
                  "10,000 steps. MLflow's client has no sampled read, so its chart query reads every point; trackkit "
                  "is shown both sampled (1,000 buckets, what its charts use) and reading every point. First call in a "
                  "fresh process, then the median of 3 more; ×ratio to trackkit.", "",
                  "| tracker | runs query, first (ms) | runs query, again (ms) | chart, every point (ms) | "
                  "chart, sampled (ms) |", "|---|---|---|---|---|"]

        def cell(entry: dict[str, Any], part: str, key: str) -> str:
            figure = entry.get(part)
            if not figure:
                return "–"
            ref = mine.get(part) if mine else None
            text = _num(figure[key])
            if ref and entry is not mine and ref[key] > 0:
                text += f" ×{_ratio(figure[key] / ref[key])}"
            return text

        for name, entry in peers.items():
            lines.append(f"| {NAMES.get(name, name)} | {cell(entry, 'runs_query', 'cold_ms')} | "
                         f"{cell(entry, 'runs_query', 'warm_ms')} | {cell(entry, 'chart_full', 'warm_ms')} | "
                         f"{cell(entry, 'chart_sampled', 'warm_ms')} |")
        lines.append("")

    lines += ["## Targets (issues 5 and 9)", "", "| target | measured | status |", "|---|---|---|"]
    for item in doc["targets"]:
        status = {True: "met", False: "**not met**", None: "not measured"}[item["met"]]
        if "met_previous_run" in item and item["met"] is not None:
            status += " (previous run: " + {True: "met", False: "not met", None: "–"}[item["met_previous_run"]] + ")"
        lines.append(f"| {item['target']} | {item['measured']} | {status} |")
    lines.append("")
    if doc["failures"]:
        lines += ["## Failures", ""] + [f"- {f}" for f in doc["failures"]] + [""]
    return "\n".join(lines)
