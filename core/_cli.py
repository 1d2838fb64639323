"""The ``trackkit`` command: list projects and runs, show a run, diff configs, check a store."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Sequence
from typing import Any

from ._api import Api, ApiRun
from ._errors import TrackkitError, UsageError
from ._filters import STRING_FIELDS, check_filters, field_value
from ._regex import check_regex

__all__ = ["main"]

_MISSING_CELL = "-"


def _flat(tree: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(tree, dict):
        for key, value in tree.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(value, dict) and value:
                out.update(_flat(value, name))
            else:
                out[name] = value
    return out


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return _MISSING_CELL if value is None else str(value)


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [[_cell(c) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines.extend("  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in cells)
    return "\n".join(line.rstrip() for line in lines)


#: ``field op value``: the operator is the first one after the field name.
_CONDITION = re.compile(r"\s*([^\s=<>!~,\"'(){}\[\]]+)\s*(>=|<=|!=|==|!~|=|~|>|<)(.*)", re.DOTALL)
_OPERATORS = {">=": "$gte", "<=": "$lte", "!=": "$ne", "==": "$eq", "=": "$eq", ">": "$gt", "<": "$lt"}
_SEPARATOR = re.compile(r",|\s+and\s+")
_CLOSING = {"(": ")", "[": "]", "{": "}"}


def _separators(text: str) -> list[tuple[int, int]]:
    """Spans of the commas and `` and `` outside brackets, double quotes and backslash escapes."""
    spans: list[tuple[int, int]] = []
    stack: list[str] = []
    quoted = False
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\":
            index += 2
            continue
        separator = None if quoted or stack else _SEPARATOR.match(text, index)
        if separator:
            spans.append(separator.span())
            index = separator.end()
            continue
        if quoted:
            quoted = char != '"'
        elif char == '"':
            quoted = True
        elif char in _CLOSING:
            stack.append(_CLOSING[char])
        elif stack and char == stack[-1]:
            stack.pop()
        index += 1
    if stack or quoted:  # unbalanced (a regex like `a(`): brackets say nothing, split everywhere
        spans = [m.span() for m in _SEPARATOR.finditer(text)]
    return spans


def _split_conditions(text: str) -> list[str]:
    """The conditions of a filter expression. A piece that does not start with ``field op``
    belongs to the condition before it (``name~^a{1,3}$``, ``config.dims=[1,2]``, ``name~a,b``)."""
    pieces: list[list[int]] = []
    start = 0
    for cut_start, cut_end in [*_separators(text), (len(text), len(text))]:
        piece = text[start:cut_start]
        if pieces and not _CONDITION.match(piece):
            pieces[-1][1] = cut_start
        elif piece.strip():
            pieces.append([start, cut_start])
        start = cut_end
    return [text[a:b].strip() for a, b in pieces]


def _condition(part: str) -> dict[str, Any]:
    match = _CONDITION.match(part)
    if match is None:
        raise UsageError(f"cannot read filter condition {part!r}; write it like config.lr>0.01 or state=finished.")
    field, symbol, raw = match.group(1), match.group(2), match.group(3).strip()
    if symbol in ("~", "!~"):
        pattern = {"$regex": check_regex(raw)}
        return {field: pattern if symbol == "~" else {"$not": pattern}}
    op = _OPERATORS[symbol]
    text = raw
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        try:
            text = json.loads(raw)  # a quoted value is always a string
        except ValueError:
            pass
        return {field: {op: text}}
    if field in STRING_FIELDS:  # `id=4242`, `name=2024`: these fields hold text
        return {field: {op: raw}}
    try:
        value = json.loads(raw)
    except ValueError:
        return {field: {op: raw}}
    if (isinstance(value, (int, float, bool)) or value is None) and op in ("$eq", "$ne"):
        # config.seed=42 finds 42, 42.0 and "42"
        return {field: {"$in" if op == "$eq" else "$nin": [value, raw]}}
    return {field: {op: value}}


def parse_filter(expression: str | None) -> dict[str, Any] | None:
    """A JSON filter (``'{"config.lr": {"$gt": 0.01}}'``) or simple conditions joined by commas
    or ``and`` (``config.lr>0.01, state=finished``).

    Operators: ``= == != > >= < <=``, ``~`` (``$regex``) and ``!~`` (not ``$regex``). Values of the
    text fields (id, name, project, entity, state, tags, group, job_type, notes) are text; for
    config and summary fields a number, ``true``, ``false`` or ``null`` compared with ``=``/``!=``
    also matches the same text (``config.seed=42`` finds ``42`` and ``"42"``), and a value in double
    quotes is always text. A comma inside brackets or a regex bound (``{1,3}``) does not split.
    """
    if not expression:
        return None
    text = expression.strip()
    if text.startswith("{"):
        try:
            parsed = json.loads(text)
        except ValueError as error:
            raise UsageError(f"--filter is not valid JSON: {error}.") from None
        if not isinstance(parsed, dict):
            raise UsageError(f"--filter JSON must be an object like {{\"config.lr\": {{\"$gt\": 0.01}}}}; got {text!r}.")
        check_filters(parsed)
        return parsed
    clauses = [_condition(part) for part in _split_conditions(text)]
    return {"$and": clauses} if len(clauses) > 1 else (clauses[0] if clauses else None)


def _print(args: argparse.Namespace, data: Any, text: str) -> None:
    print(json.dumps(data, indent=2, default=str, allow_nan=True) if args.json else text)


def _cmd_projects(api: Api, args: argparse.Namespace) -> None:
    projects = api.projects()
    data = [{"name": p.name, "runs": p.run_count} for p in projects]
    _print(args, data, _table(["project", "runs"], [[p.name, p.run_count] for p in projects]) if projects
           else f"no projects in {api.store.location}")


def _run_row(run: ApiRun) -> dict[str, Any]:
    return {"id": run.id, "name": run.name, "project": run.project, "state": run.state, "created_at": run.created_at,
            "tags": run.tags, "config": run.config, "summary": run.summary}


def _cmd_runs(api: Api, args: argparse.Namespace) -> None:
    order = [key for key in args.sort.split(",") if key.strip()] if args.sort else None
    runs = list(api.runs(args.project, filters=parse_filter(args.filter), order=order))
    if args.json:
        _print(args, [_run_row(r) for r in runs], "")
        return
    if not runs:
        print(f"no runs in {api.store.location}" + (f" for project {args.project}" if args.project else ""))
        return
    if args.columns:
        columns = [c.strip() for c in args.columns.split(",") if c.strip()]
    else:
        configs = [_flat(r.config) for r in runs]
        keys = sorted({k for c in configs for k in c})
        varying = [k for k in keys if len({json.dumps(c.get(k), default=str) for c in configs}) > 1] or keys
        summary_keys = sorted({k for r in runs for k in r.summary})
        columns = [f"config.{k}" for k in varying[:8]] + [f"summary.{k}" for k in summary_keys[:8]]
    headers = ["id", "name", "state", *columns]
    rows = []
    for run in runs:
        document = run.document()
        rows.append([run.id, run.name, run.state, *[field_value(document, c) for c in columns]])
    print(_table(headers, rows))


def _cmd_show(api: Api, args: argparse.Namespace) -> None:
    run = api.run(args.run)
    key_infos = run.history_keys()  # kept by the store as rows are written: no history is read
    keys = sorted(k for k in key_infos if not k.startswith("_"))
    rows = _history_rows(run, key_infos)
    data = {
        **_run_row(run),
        "notes": run.notes,
        "group": run.group,
        "job_type": run.job_type,
        "provenance": run.provenance,
        "config_changes": run.config_changes,
        "history": {"rows": rows, "keys": keys},
        "metadata": run.metadata,
    }
    from ._api_context import context_data, context_lines

    data.update(context_data(run))  # files and a system-metrics digest (run context, issue 10)
    if args.json:
        _print(args, data, "")
        return
    provenance = run.provenance
    config = _flat(run.config)
    lines = [
        f"run      {run.project}/{run.id}  ({run.name})",
        f"state    {run.state}" + (f"  ({run.metadata.get('exit_reason')})" if run.metadata.get("exit_reason") else ""),
        f"created  {run.created_at}",
        f"tags     {', '.join(run.tags) or '-'}",
        f"history  {rows} rows; keys: {', '.join(keys) or '-'}",
        "",
        "config",
        _table(["key", "value", "source"], [[k, v, provenance.get(k, "?")] for k, v in config.items()]) if config else "  (empty)",
        "",
        "summary",
        _table(["key", "value"], [[k, v] for k, v in sorted(run.summary.items())]) if run.summary else "  (empty)",
    ]
    if run.config_changes:
        lines += ["", "config changes",
                  _table(["key", "old", "new", "step", "source"],
                         [[c["key"], c["old"], c["new"], c.get("step"), c.get("source")] for c in run.config_changes])]
    lines += context_lines(run, data)
    print("\n".join(lines))


def _history_rows(run: ApiRun, key_infos: dict[str, Any]) -> int:
    """The run's row count: what a finished run recorded, else (a run still writing) the count of
    its most logged key."""
    recorded = run.metadata.get("history_rows") if run.state != "running" else None
    if isinstance(recorded, int) and not isinstance(recorded, bool):
        return recorded
    return max((int(info.get("count") or 0) for info in key_infos.values()), default=0)


_ABSENT = object()


def _exact(value: Any) -> tuple[str, str]:
    """A value's identity for diffs: 1 and 1.0, None and a missing key, "1" and 1 all differ."""
    if value is _ABSENT:
        return ("absent", "")
    return (type(value).__name__, json.dumps(value, sort_keys=True, default=repr, allow_nan=True))


def _diff_cells(values: list[Any]) -> list[str]:
    """Cells that show every difference: floats by ``repr`` (``1.0``), ``None``, ``(missing)``, and
    quoted strings where a string would read like another value (``'1'`` beside ``1``)."""
    def plain(value: Any) -> str:
        if value is _ABSENT:
            return "(missing)"
        if isinstance(value, (list, dict)):
            return json.dumps(value, default=repr, allow_nan=True)
        return value if isinstance(value, str) else repr(value)

    cells = [plain(v) for v in values]
    if len(set(cells)) < len({_exact(v) for v in values}):
        cells = [plain(v) if v is _ABSENT or isinstance(v, (list, dict)) else repr(v) for v in values]
    return cells


def _cmd_diff(api: Api, args: argparse.Namespace) -> None:
    runs = [api.run(path) for path in args.runs]
    configs = [_flat(r.config) for r in runs]
    keys = sorted({k for c in configs for k in c})
    if not args.all:
        keys = [k for k in keys if len({_exact(c.get(k, _ABSENT)) for c in configs}) > 1]
    # --json: a run without the key is left out of that key's object, so null means None
    data = {k: {r.id: c[k] for r, c in zip(runs, configs) if k in c} for k in keys}
    if args.json:
        _print(args, data, "")
        return
    rows = [[k, *_diff_cells([c.get(k, _ABSENT) for c in configs])] for k in keys]
    print(_table(["key", *[f"{r.id} ({r.name})" for r in runs]], rows) if keys else "the configs are identical")


def _cmd_doctor(api: Api, args: argparse.Namespace) -> None:
    from ._doctor import check_store

    report = check_store(api.store, repair=args.repair)
    _print(args, report, "\n".join(report["messages"]) or f"{api.store.location}: no problems found")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trackkit", description="Look at the runs in a trackkit store.")
    parser.add_argument("--store", help="a store path or URL: /path, file:///path, http(s)://host:port "
                        "(default: $TRACKKIT_STORE)")
    parser.add_argument("--dir", help="the store directory (default: $TRACKKIT_DIR or ./trackkit-runs)")
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--json", action="store_true", help="print JSON instead of a table")
        return p

    command("projects", "list the projects")
    runs = command("runs", "a table of runs with config and summary columns")
    runs.add_argument("project", nargs="?")
    runs.add_argument("--filter", help="'config.lr>0.01, state=finished' or a JSON Mongo-style filter")
    runs.add_argument("--sort", help="fields, '-' for descending: -summary.val_acc,config.lr (missing and NaN last)")
    runs.add_argument("--columns", help="comma-separated fields: config.lr,summary.loss")
    show = command("show", "a run's config (with where each value came from), summary and state")
    show.add_argument("run", help="project/run_id or run_id")
    diff = command("diff", "configs of several runs side by side")
    diff.add_argument("runs", nargs="+", help="project/run_id ...")
    diff.add_argument("--all", action="store_true", help="show keys that are equal too")
    doctor = command("doctor", "check a store for damaged files and runs left running")
    doctor.add_argument("--repair", action="store_true", help="trim torn lines and mark dead runs crashed")
    sub.add_parser("server", help="the tracking server (trackkit server --help; needs trackkit[server])")
    sub.add_parser("sync", help="send spooled runs to the tracking server (trackkit sync --help)")
    ui = sub.add_parser("ui", help="the web UI over the store, on 127.0.0.1 (needs trackkit[server])")
    ui.add_argument("--store", default=argparse.SUPPRESS,  # not given here: the global --store stands
                    help="a store directory (default: --dir, $TRACKKIT_DIR or the default folder)")
    ui.add_argument("--port", type=int, default=8787, help="port (default 8787, or the next free one)")
    ui.add_argument("--no-browser", action="store_true", help="print the URL, do not open a browser")
    ui.add_argument("--read-only", action="store_true", help="refuse edits of tags and notes")
    return parser


def _cmd_ui(api: Api, args: argparse.Namespace) -> None:
    import importlib
    import importlib.util

    if importlib.util.find_spec("starlette") is None or importlib.util.find_spec("uvicorn") is None:
        raise UsageError("trackkit ui needs the server extra: pip install 'trackkit[server]'")
    raise SystemExit(importlib.import_module("trackkit.server.ui_command").main_ui(args))


def _server_or_sync(command: str, argv: list[str]) -> int:
    import importlib
    import importlib.util

    if command == "sync":
        from ._sync import main as sync_main

        return sync_main(argv)
    if any(importlib.util.find_spec(name) is None for name in ("starlette", "uvicorn", "psycopg")):
        print("trackkit: trackkit server needs the server extra: pip install 'trackkit[server]'", file=sys.stderr)
        return 2
    result: int = importlib.import_module("trackkit.server.server_command").main(argv)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``trackkit`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    for index, arg in enumerate(argv[:-1]):  # `--sort -summary.acc`: a value that looks like an option
        if arg == "--sort" and argv[index + 1].startswith("-"):
            argv[index : index + 2] = [f"--sort={argv[index + 1]}"]
            break
    if argv[:1] == ["server"] or argv[:1] == ["sync"]:  # their own parsers; `server` needs trackkit[server]
        return _server_or_sync(argv[0], argv[1:])
    args = build_parser().parse_args(argv)
    handlers = {"projects": _cmd_projects, "runs": _cmd_runs, "show": _cmd_show, "diff": _cmd_diff,
                "doctor": _cmd_doctor, "ui": _cmd_ui}
    try:
        api = Api(args.dir, store=args.store)  # a bad --store or $TRACKKIT_STORE is a message, not a traceback
        handlers[args.command](api, args)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
    except TrackkitError as error:
        print(f"trackkit: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `trackkit show ... | head`: the reader is gone; stop quietly like a Unix tool
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a tool stopped by a closed pipe
    return 0
