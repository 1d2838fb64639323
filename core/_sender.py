"""Shipping spooled runs to the tracking server: the background sender and ``trackkit sync`` share it.

A run with an http(s) store is written to the local spool exactly as to a local store. ``RunSender``
reads it back: history rows by their line number in ``history.jsonl`` (the *offset*), and the run's
documents (run.json, config.json, summary.json, with edits folded in) as changes against what the
server last acknowledged. Each batch says where its rows start; the server commits rows and offset in
one transaction and answers the committed offset, so a retried batch stores once and a new process
(``trackkit sync``) resumes where the server says it stopped (``trackkit.server.ingest``).

``SendingSink`` wraps the spool's sink for a live run: a daemon thread sends as soon as the run's
writer has appended rows to the spool (the sender can only ship what the writer flushed, so it waits
for that, not for a clock), and otherwise every ``TRACKKIT_SYNC_INTERVAL`` seconds (0.5: document
changes, heartbeats). Rows that arrive while a batch is in flight go in the next one, so batches grow
when the server is slow instead of queueing requests. The writer of such a run flushes every
``REMOTE_FLUSH_INTERVAL`` seconds (0.5, unless ``TRACKKIT_FLUSH_INTERVAL`` is set) instead of the local
store's 1 s: what a row waits for before it can be shipped. The sender retries with backoff up to 30 s
when the server is slow or down (one warning, then it catches up), and at ``finish()`` waits up to
``TRACKKIT_SYNC_TIMEOUT`` seconds (30) before saying how many rows are left for ``trackkit sync``.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from ._changes import CHANGES as _CHANGES
from ._errors import RunInUseError, TrackkitError

__all__ = ["RunSender", "SendingSink", "SyncConflict", "sync_run"]

#: A batch carries at most this many rows and about this many bytes of them.
MAX_ROWS = 5_000
MAX_BYTES = 1 << 20
_DOCUMENTS = ("run.json", "config.json", "summary.json", "edits.jsonl")
#: In the spool's run directory: the documents the server last acknowledged.
SENT_FILE = ".sync-sent.json"
#: In a spool a resumed run was copied into from the server: the server offset of its line 0.
BASE_FILE = ".sync-base.json"
#: Seconds between uploads of a run file that keeps changing (the console log), until the run ends.
FILE_EVERY = 30.0
#: Seconds between the writer's flushes to the spool for a run with a server (``TRACKKIT_FLUSH_INTERVAL``
#: overrides it): a row is shipped after the flush that puts it in the spool, so this bounds the lag.
#: 0.25 s gave no better lag on a loaded machine and twice the batches (each a transaction on the server).
REMOTE_FLUSH_INTERVAL = 0.5


class SyncConflict(TrackkitError):
    """The server holds more of this run than the spool (another machine's run with the same id)."""


def _setting(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name) or default)
    except ValueError:
        return default


def _say(message: str) -> None:
    try:
        print(f"trackkit: {message}", file=sys.stderr, flush=True)
    except Exception:  # pragma: no cover - stderr closed at shutdown
        pass


# -- one run -------------------------------------------------------------------------------------------
class RunSender:
    """Sends one spooled run to a server, batch by batch (``step``); not thread-safe, one per run.

    Args:
        client: an ``HttpClient``.
        spool: the ``LocalStore`` the run is spooled in.
        judge_liveness: read the run's state as a reader would (``trackkit sync`` of a killed run
            sends it as crashed); a live run's own sender sends what its writer wrote.
    """

    def __init__(self, client: Any, spool: Any, project: str, run_id: str, *, judge_liveness: bool = False) -> None:
        self.client = client
        self.spool = spool
        self.project = project
        self.run_id = run_id
        self.run_dir = spool.run_dir(project, run_id)
        self.rows = _Stream(os.path.join(self.run_dir, "history.jsonl"), "rows")
        self.system = _Stream(os.path.join(self.run_dir, "system.jsonl"), "system-metrics rows")
        self.history = self.rows.path
        try:
            with open(os.path.join(self.run_dir, BASE_FILE), encoding="utf-8") as handle:
                base = json.load(handle)
            if base.get("url") == client.url:
                self.rows.base, self.system.base = int(base["offset"]), int(base["system_offset"])
        except (OSError, ValueError, AttributeError, KeyError, TypeError):
            pass
        self.judge_liveness = judge_liveness
        self.connected = False
        self._sent: dict[str, dict[str, Any]] = {"meta": {}, "config": {}, "summary": {}}
        self._stamp: Any = None
        self._record: dict[str, Any] | None = None
        self._last_send = 0.0
        self._stamp_sent = 0.0
        self._files_sent: dict[str, list[float]] = {}  # name -> [size, updated_at] the server has
        self._files_tried: dict[str, float] = {}  # name -> when it was last sent (a growing file waits FILE_EVERY)
        self._path = f"/ingest/{quote(project, safe='')}/{quote(run_id, safe='')}"
        #: The writer id batches carry: the live run's own (``SendingSink``), else the one in run.json.
        self.writer: str | None = None

    @property
    def offset(self) -> int | None:
        """History rows the server has committed (None: not asked yet)."""
        return self.rows.offset if self.connected else None

    # -- where we stand --------------------------------------------------------------------------
    def _locate(self, offset: int, system_offset: int) -> None:
        where = f"run {self.project}/{self.run_id} at {self.client.url}"
        self.rows.locate(offset, where)
        self.system.locate(system_offset, where)
        self.connected = True

    def connect(self) -> None:
        """Ask the server how far it has the run (and take up what an earlier sender says it sent)."""
        state = self.client.get_json(self._path)
        offset = int(state.get("offset") or 0)
        self._locate(offset, int(state.get("system_offset") or 0))
        try:
            with open(os.path.join(self.run_dir, SENT_FILE), encoding="utf-8") as handle:
                saved = json.load(handle)
            if offset and saved.get("url") == self.client.url and saved.get("offset", 0) <= offset:
                self._sent = {part: dict(saved["sent"].get(part) or {}) for part in self._sent}
                self._files_sent = {str(k): list(v) for k, v in (saved.get("files") or {}).items()}
        except (OSError, ValueError, AttributeError, KeyError, TypeError):
            pass

    def _save_sent(self) -> None:
        """Remember the documents the server acknowledged, so a later ``trackkit sync`` sends only
        what changed since (and never writes over edits made on the server)."""
        from ._local_store import _write_json_atomic

        try:
            _write_json_atomic(os.path.join(self.run_dir, SENT_FILE),
                               {"url": self.client.url, "offset": self.rows.offset, "sent": self._sent,
                                "files": self._files_sent})
        except OSError:
            pass

    def rows_left(self) -> int:
        """Complete history rows in the spool not committed by the server yet (no network here)."""
        return self.rows.count_from(self.rows.position if self.connected else 0)

    # -- what to send ------------------------------------------------------------------------------
    def _documents(self) -> dict[str, Any] | None:
        """The run's record, re-read only when one of its files changed."""
        stamps: list[tuple[int, int, int] | None] = []
        for name in _DOCUMENTS:
            try:  # documents are replaced whole (a new inode each time), edits.jsonl grows
                status = os.stat(os.path.join(self.run_dir, name))
                stamps.append((status.st_ino, status.st_mtime_ns, status.st_size))
            except FileNotFoundError:
                stamps.append(None)
        if stamps[0] is None:
            return None  # run.json not written yet
        if stamps != self._stamp or self._record is None:
            self._record = dict(self.spool._read_record(self.run_dir, self.project, self.run_id,
                                                        check_liveness=self.judge_liveness))
            self._stamp = stamps
        return self._record

    def caught_up(self) -> bool:
        """Every complete row and every document change acknowledged by the server."""
        record = self._documents()
        if not self.connected:
            return False
        if record is not None and any(_CHANGES[p](self._sent[p], record[p]) is not None for p in self._sent):
            return False
        return self.rows.caught_up() and self.system.caught_up() and not self._files_due(final=True)

    # -- run files -------------------------------------------------------------------------------------
    def _files_due(self, *, final: bool) -> list[dict[str, Any]]:
        """Spool files the server does not have as they are now (a file that keeps growing, such as
        output.log, at most every ``FILE_EVERY`` seconds until the end)."""
        try:
            infos = self.spool.list_files(self.project, self.run_id)
        except Exception:
            return []
        now = time.monotonic()
        return [info for info in infos if self._files_sent.get(info["name"]) != [info["size"], info["updated_at"]]
                and (final or now - self._files_tried.get(info["name"], -FILE_EVERY) >= FILE_EVERY)]

    def _send_files(self, writer: str, *, final: bool) -> None:
        """Upload the files that are due, streamed (after the run's metadata is on the server)."""
        if not self._sent["meta"]:
            return
        for info in self._files_due(final=final):
            name = info["name"]
            self._files_tried[name] = time.monotonic()
            path = os.path.join(self.run_dir, "files", *name.split("/"))
            try:
                handle = open(path, "rb")  # noqa: SIM115 - closed below, after the request streamed it
            except FileNotFoundError:
                continue
            with handle:
                self.client.request("PUT", f"/upload/{quote(self.project, safe='')}/{quote(self.run_id, safe='')}/"
                                    f"{quote(name)}", data=handle,
                                    headers={"Content-Type": "application/octet-stream", "X-Trackkit-Writer": writer},
                                    timeout=(5.0, 300.0))
            self._files_sent[name] = [info["size"], info["updated_at"]]
            self._save_sent()

    def step(self, *, heartbeat_every: float = 10.0, final: bool = False) -> int:
        """Send one batch if there is anything to send (or a heartbeat is due); the history rows sent.
        Raises ``ServerError`` / ``RunInUseError`` / ``SyncConflict``; state is kept for a retry."""
        record = self._documents()
        if record is None:
            return 0
        if not self.connected:
            self.connect()
        lines, length = self.rows.read()
        system, system_length = self.system.read(max(0, MAX_ROWS - len(lines)))
        changes = {part: _CHANGES[part](self._sent[part], record[part]) for part in self._sent}
        if not lines and not system and not any(changes.values()) and time.monotonic() - self._last_send < heartbeat_every:
            if self._files_due(final=final):
                self._send_files(self.writer or str(record["meta"].get("writer_id") or "sync"), final=final)
            return 0
        writer = self.writer or str(record["meta"].get("writer_id") or "sync")
        self._stamp_sent = max(time.time(), self._stamp_sent + 1e-6)  # a late delivery of it never undoes newer changes
        head: dict[str, Any] = {"writer": writer, "offset": self.rows.offset, "system_offset": self.system.offset,
                                "stamp": self._stamp_sent}
        head.update({part: change for part, change in changes.items() if change is not None})
        body = json.dumps(head, allow_nan=True, separators=(",", ":"), default=str).encode()
        body = (body[:-1] + b',"rows":[' + b",".join(_row(line) for line in lines) + b'],"system":['
                + b",".join(_row(line) for line in system) + b"]}")
        try:
            response = self.client.request("POST", self._path, data=body)
        except TrackkitError as error:
            if getattr(error, "code", None) == "offset_gap":  # the server lost or never got rows: resend from there
                found = getattr(error, "body", {})
                self._locate(int(found.get("offset", 0)), int(found.get("system_offset", 0)))
                return 0
            raise
        committed = response.json()
        self._last_send = time.monotonic()
        for part in self._sent:
            self._sent[part] = json.loads(json.dumps(record[part], allow_nan=True, default=str))
        self.rows.advance(int(committed["offset"]), len(lines), length)
        self.system.advance(int(committed.get("system_offset", self.system.offset + len(system))), len(system), system_length)
        if any(changes.values()):
            self._save_sent()
        if not lines:  # rows first; files when the rows are caught up
            self._send_files(writer, final=final)
        return len(lines)


class _Stream:
    """One append-only JSON-lines file of the spool (history or system metrics), read by offset."""

    def __init__(self, path: str, what: str) -> None:
        self.path = path
        self.what = what
        self.offset = 0  # lines the server has committed
        self.position = 0  # the byte where line ``offset`` starts
        self.base = 0  # the server's offset of this file's first line (a run copied from the server)

    def locate(self, offset: int, where: str) -> None:
        """Set the position to the start of line ``offset``."""
        position, count, wanted = 0, 0, offset - self.base
        if wanted < 0:
            raise SyncConflict(f"the server holds {offset} {self.what} of {where}, fewer than this spool was copied "
                               f"from ({self.base}); nothing is sent for it.")
        offset, base = wanted, self.base
        try:
            with open(self.path, "rb") as handle:
                while count < offset:
                    chunk = handle.read(1 << 20)
                    if not chunk:
                        break
                    start = 0
                    while count < offset:
                        found = chunk.find(b"\n", start)
                        if found < 0:
                            break
                        count += 1
                        start = found + 1
                    position += start if count == offset else len(chunk)
        except FileNotFoundError:
            pass
        if count < offset:
            raise SyncConflict(
                f"the server holds {offset} {self.what} of {where}, this spool only {count}: it is another run "
                f"with the same id, or its rows were sent from another machine. Nothing is sent for it.")
        self.offset, self.position = offset + base, position

    def read(self, limit: int = MAX_ROWS) -> tuple[list[bytes], int]:
        """Complete lines from the position on (at most ``limit`` / about ``MAX_BYTES``) and their byte length."""
        if limit <= 0:
            return [], 0
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self.position)
                data = handle.read(MAX_BYTES)
                while data and b"\n" not in data:  # one row longer than a batch: read it whole
                    more = handle.read(MAX_BYTES)
                    if not more:
                        break
                    data += more
        except FileNotFoundError:
            return [], 0
        lines = data[: data.rfind(b"\n") + 1].split(b"\n")[:-1][:limit]
        return lines, sum(len(line) + 1 for line in lines)

    def advance(self, committed: int, sent: int, length: int) -> None:
        if committed == self.offset + sent:
            self.offset, self.position = committed, self.position + length
        else:
            self.locate(committed, self.path)

    def caught_up(self) -> bool:
        """No complete line after the position."""
        try:
            size = os.path.getsize(self.path)
        except FileNotFoundError:
            return True
        if size <= self.position:
            return True
        return not self.read(1)[0]

    def count_from(self, position: int) -> int:
        count = 0
        try:
            with open(self.path, "rb") as handle:
                handle.seek(position)
                while chunk := handle.read(1 << 20):
                    count += chunk.count(b"\n")
        except FileNotFoundError:
            return 0
        return count


def _row(line: bytes) -> bytes:
    """A spool line as it goes on the wire: itself when it is a JSON object (NaN literals included);
    a damaged line (skipped by readers of the spool) keeps its place as an empty row."""
    try:
        if isinstance(json.loads(line), dict):
            return line
    except ValueError:
        pass
    return b"{}"


def _count_lines(path: str) -> int:
    try:
        with open(path, "rb") as handle:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
    except FileNotFoundError:
        return 0


# -- the live run's background sender --------------------------------------------------------------
class SendingSink:
    """The spool's ``RunSink`` plus a thread that sends the run while it is written (module docstring)."""

    def __init__(self, sink: Any, client: Any, project: str, run_id: str) -> None:
        from ._stores import local_store

        self._sink = sink
        self.run_dir: str = sink.run_dir
        spool = local_store(os.path.dirname(os.path.dirname(sink.run_dir)))
        self.sender = RunSender(client, spool, project, run_id)
        self._pid = os.getpid()
        self._closing = threading.Event()
        self._abandoned = threading.Event()  # finish() stopped waiting: the rest is for `trackkit sync`
        self._wake = threading.Event()
        self._warned: set[str] = set()
        self._stopped_reason: str | None = None
        self._thread = threading.Thread(target=self._loop, name=f"trackkit-sender-{run_id}", daemon=True)
        self._thread.start()

    # the spool sink's methods, unchanged: the writer thread never touches the network
    def write_meta(self, meta: dict[str, Any]) -> None:
        self._sink.write_meta(meta)
        if self.sender.writer is None and meta.get("writer_id"):
            self.sender.writer = str(meta["writer_id"])  # this process's id: sending may start
            self._wake.set()

    def write_config(self, document: dict[str, Any]) -> None:
        self._sink.write_config(document)

    def write_summary(self, document: dict[str, Any]) -> None:
        self._sink.write_summary(document)

    @property
    def flush_interval(self) -> float:
        """How often the run's writer should flush to the spool (``Run`` asks its sink)."""
        return _setting("TRACKKIT_FLUSH_INTERVAL", REMOTE_FLUSH_INTERVAL)

    def append_history(self, rows: Any) -> None:
        self._sink.append_history(rows)
        self._wake.set()  # on the writer thread, after the rows are in the spool: ship them now

    def heartbeat(self) -> None:
        self._sink.heartbeat()

    def read_edits(self, cursor: int) -> tuple[list[dict[str, Any]], int]:
        result: tuple[list[dict[str, Any]], int] = self._sink.read_edits(cursor)
        return result

    def append_system(self, rows: Any) -> None:
        self._sink.append_system(rows)
        self._wake.set()

    def put_file(self, name: str, source: Any) -> Any:
        return self._sink.put_file(name, source)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sink, name)

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            _say(message)

    def _loop(self) -> None:
        interval = _setting("TRACKKIT_SYNC_INTERVAL", 0.5)
        heartbeat = max(1.0, self.sender.spool.heartbeat_timeout / 3)
        backoff = 0.0
        where = f"run {self.sender.project}/{self.sender.run_id}"
        while not self._abandoned.is_set():
            closing = self._closing.is_set()
            sent = 0
            if self.sender.writer is None and not closing:  # run.json of this process not written yet
                self._wake.wait(interval)
                self._wake.clear()
                continue
            try:
                sent = self.sender.step(heartbeat_every=heartbeat, final=closing)
                if backoff and "unreachable" in self._warned:
                    _say(f"the server at {self.sender.client.url} answers again; {where} is catching up.")
                    self._warned.discard("unreachable")
                backoff = 0.0
            except RunInUseError as error:
                self._warn_once("in_use", f"{error} Rows of {where} stay in the spool ({self.run_dir}).")
                backoff = 5.0
            except SyncConflict as error:
                self._stopped_reason = str(error)
                self._warn_once("conflict", str(error))
                return
            except TrackkitError as error:
                status = getattr(error, "status", 0)
                if status in (400, 401, 403, 413):  # the server will not take it: keep it for `trackkit sync`
                    self._stopped_reason = str(error)
                    self._warn_once("refused", f"{error}. {where} is kept in the spool; send it with `trackkit sync`.")
                    return
                self._warn_once("unreachable", f"{error}; {where} keeps being written to the spool "
                                f"({self.run_dir}) and is sent when the server is back.")
                backoff = min(30.0, max(0.5, backoff * 2))
            except Exception as error:  # a bug must not end the training process
                self._warn_once("bug", f"the sender of {where} failed ({type(error).__name__}: {error}); "
                                f"`trackkit sync` will send the run.")
                self._stopped_reason = str(error)
                return
            if closing and not backoff:
                try:
                    if self.sender.caught_up():
                        return
                except Exception:
                    return
            if sent >= MAX_ROWS and not backoff:
                continue
            if backoff:  # rows the writer appends meanwhile do not cut a backoff short; finish() does
                until = time.monotonic() + backoff
                while time.monotonic() < until and not self._abandoned.is_set() and (closing or not self._closing.is_set()):
                    self._wake.wait(until - time.monotonic())
                    self._wake.clear()
                continue
            self._wake.wait(interval)
            self._wake.clear()

    def close(self) -> None:
        """Close the spool's sink, then give the sender up to ``TRACKKIT_SYNC_TIMEOUT`` seconds to finish."""
        self._sink.close()
        if os.getpid() != self._pid or self._closing.is_set():
            return
        self._closing.set()
        self._wake.set()
        self._thread.join(_setting("TRACKKIT_SYNC_TIMEOUT", 30.0))
        if self._thread.is_alive():  # no thread outlives its run: what is left waits in the spool
            self._abandoned.set()
            self._wake.set()
        try:
            alive = self._thread.is_alive()
            left = self.sender.rows_left() if alive or self._stopped_reason else 0
            done = not alive and not self._stopped_reason and self.sender.caught_up()
        except Exception:
            left, done = _count_lines(self.sender.history), False
        if not done:
            what = f"{left} row(s)" if left else "its last changes"
            _say(f"{what} of run {self.sender.project}/{self.sender.run_id} not sent to {self.sender.client.url} yet; "
                 f"`trackkit sync {self.sender.project}/{self.sender.run_id}` will send them.")


def sync_run(client: Any, spool: Any, project: str, run_id: str, *, progress: Callable[[int], None] | None = None,
             timeout: float | None = None) -> int:
    """Send one spooled run until the server has all of it (``trackkit sync``); the rows sent.
    Raises ``ServerError`` / ``RunInUseError`` / ``SyncConflict``."""
    sender = RunSender(client, spool, project, run_id, judge_liveness=True)
    sender.connect()
    deadline = None if timeout is None else time.monotonic() + timeout
    total = 0
    while not sender.caught_up():
        sent = sender.step(final=True)
        total += sent
        if progress is not None and sent:
            progress(sent)
        if deadline is not None and time.monotonic() > deadline:
            break
    return total
