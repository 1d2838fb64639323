"""``trackkit sync``: send spooled runs to the tracking server.

    trackkit sync [RUN ...|--all|--project P] [--store URL] [--dir SPOOL] [--watch]

For runs logged with ``mode="offline"``, or whose process was killed before its sender finished. Each
run resumes where the server says it stopped (the offsets of ``trackkit._sender``), so running it
twice, or on a run the server already has, sends nothing twice. With no run named, every run of the
spool is checked. A progress line (rows and runs) on a terminal, plain lines otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

from ._errors import RunInUseError, TrackkitError, UsageError

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trackkit sync", description="Send spooled runs to the tracking server.")
    parser.add_argument("runs", nargs="*", help="project/run_id or run_id (default: every run of the spool)")
    parser.add_argument("--all", action="store_true", help="every run of the spool")
    parser.add_argument("--project", help="every run of one project")
    parser.add_argument("--store", help="the server, http(s)://host:port (default: $TRACKKIT_STORE)")
    parser.add_argument("--dir", help="the spool (default: $TRACKKIT_DIR or the default folder)")
    parser.add_argument("--watch", action="store_true", help="keep sending new rows until interrupted")
    return parser


def _runs(spool: Any, args: argparse.Namespace) -> list[tuple[str, str]]:
    if args.runs:
        found = []
        for name in args.runs:
            project, _, run_id = name.rpartition("/")
            if project:
                found.append((project, run_id))
                continue
            matches = [p for p in spool.projects() if run_id in spool.run_ids(p)]
            if not matches:
                raise UsageError(f"no run {run_id!r} in the spool {spool.location}.")
            found += [(p, run_id) for p in matches]
        return found
    projects = [args.project] if args.project else spool.projects()
    return [(project, run_id) for project in projects for run_id in spool.run_ids(project)]


class _Progress:
    """One line rewritten in place on a terminal; nothing but the per-run lines elsewhere."""

    def __init__(self, runs: int) -> None:
        self.tty = sys.stderr.isatty()
        self.runs = runs
        self.done = 0
        self.rows = 0

    def add(self, rows: int) -> None:
        self.rows += rows
        if self.tty:
            print(f"\rtrackkit sync: {self.rows:,} rows sent, {self.done}/{self.runs} runs", end="", file=sys.stderr, flush=True)

    def line(self, text: str) -> None:
        if self.tty:
            print("\r\033[K", end="", file=sys.stderr)
        print(text, flush=True)


def sync_once(store: Any, spool: Any, targets: list[tuple[str, str]], *, include_live: bool, quiet: bool = False) -> int:
    """Send each run; returns how many could not be sent completely."""
    from ._sender import SyncConflict, sync_run

    progress = _Progress(len(targets))
    failed = 0
    for project, run_id in targets:
        where = f"{project}/{run_id}"
        try:
            if not include_live and spool._is_live(project, run_id):
                progress.line(f"{where}: skipped, a live process is writing it (its own sender sends it)")
                continue
            sent = sync_run(store.client, spool, project, run_id, progress=progress.add)
            if sent or not quiet:
                progress.line(f"{where}: {sent} row(s) sent; the server has all of it")
        except RunInUseError as error:
            failed += 1
            progress.line(f"{where}: conflict: {error}")
        except SyncConflict as error:
            failed += 1
            progress.line(f"{where}: conflict: {error}")
        except TrackkitError as error:
            failed += 1
            progress.line(f"{where}: not sent: {error}")
            if getattr(error, "status", None) == 0:  # the server is unreachable: the others would fail too
                break
        progress.done += 1
    return failed


def main(argv: list[str] | None = None) -> int:
    """``trackkit sync ...``."""
    from ._http_store import HttpStore
    from ._stores import default_store_dir, local_store

    args = build_parser().parse_args(argv)
    try:
        url = args.store or os.environ.get("TRACKKIT_STORE")
        if not url or not url.lower().startswith(("http://", "https://")):
            raise UsageError("trackkit sync needs the server: --store http://host:8080 or TRACKKIT_STORE=http://...")
        spool = local_store(args.dir or os.environ.get("TRACKKIT_DIR") or default_store_dir())
        store = HttpStore(url, spool.location)
        if args.all and (args.runs or args.project):
            raise UsageError("give runs, --project or --all, not several of them.")
        if not args.watch:
            targets = _runs(spool, args)
            if not targets:
                print(f"trackkit sync: no runs in {spool.location}")
                return 0
            return 1 if sync_once(store, spool, targets, include_live=False) else 0
        print(f"trackkit sync: watching {spool.location}, sending to {url} (Ctrl-C to stop)", flush=True)
        while True:
            sync_once(store, spool, _runs(spool, args), include_live=True, quiet=True)
            time.sleep(2.0)
    except TrackkitError as error:
        print(f"trackkit sync: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
