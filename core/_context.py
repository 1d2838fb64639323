"""The run context: what a run records about the process it runs in, started by ``init`` in one call
(``start_run_context``) and stopped by ``finish`` (``RunContext.stop``).

=====================  ===================================================  =================================
part                   where it goes                                        turn it off
=====================  ===================================================  =================================
environment            ``run.metadata``: ``os``, ``executable``, ``program``,  ``disable_meta`` /
                       ``args``, ``cpu_count``, ``gpu``, ``frameworks``,       ``TRACKKIT_DISABLE_META=1``
                       ``slurm``, ``distributed`` ...
installed packages     run file ``requirements.txt``                         ``disable_requirements`` /
                                                                             ``TRACKKIT_DISABLE_REQUIREMENTS=1``
code                   ``run.metadata["git"]`` and run file ``diff.patch``    ``disable_git`` / ``TRACKKIT_DISABLE_GIT=1``
system metrics         the run's system stream (``run.system_metrics()``)   ``disable_system_metrics`` /
                                                                             ``TRACKKIT_DISABLE_SYSTEM_METRICS=1``
console                run file ``output.log``                               ``console="off"`` / ``TRACKKIT_CONSOLE=off``
exit code              ``state``, ``exit_code``, ``exit_reason``             always on while a run is active
=====================  ===================================================  =================================

``init`` only starts threads and patches two stream methods (well under a millisecond); git, package
metadata and NVML are read on a helper thread, and every store write goes through the run's writer.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Mapping
from typing import IO, TYPE_CHECKING, Any, NamedTuple, cast

from . import _console, _exit_hooks
from ._errors import UsageError
from ._system_metrics import SystemMonitor, no_fork

if TYPE_CHECKING:
    from ._run import Run

__all__ = ["CONSOLE_PUT_INTERVAL", "RunContext", "Settings", "resolve_context_settings", "save_file", "start_run_context"]

#: Seconds between re-puts of a growing ``output.log`` (it is put again at finish).
CONSOLE_PUT_INTERVAL = 15.0
#: The helper threads start their work this long after init (sooner if the run finishes first).
START_DELAY = 0.05
_CONSOLE_MODES = ("auto", "wrap", "off")


class Settings(NamedTuple):
    """Run-context settings for ``trackkit.init(settings=...)``: a ``Settings`` or a dict with these keys.

    A field left ``None`` comes from its ``TRACKKIT_*`` variable, else the default.

    Example:
        >>> trackkit.init(project="p", settings=trackkit.Settings(console="off", system_interval=30))
        >>> trackkit.init(project="p", settings={"disable_git": True})
    """

    #: ``"auto"`` / ``"wrap"`` copy stdout and stderr into ``output.log``; ``"off"`` does not. ``TRACKKIT_CONSOLE``.
    console: str | None = None
    #: Stop the system-metrics thread. ``TRACKKIT_DISABLE_SYSTEM_METRICS``.
    disable_system_metrics: bool | None = None
    #: Seconds between system-metrics samples (default 10). ``TRACKKIT_SYSTEM_INTERVAL``.
    system_interval: float | None = None
    #: Record no git facts and no ``diff.patch``. ``TRACKKIT_DISABLE_GIT``.
    disable_git: bool | None = None
    #: Record no environment facts (host, OS, Python, GPUs, frameworks ...). ``TRACKKIT_DISABLE_META``.
    disable_meta: bool | None = None
    #: Store no ``requirements.txt``. ``TRACKKIT_DISABLE_REQUIREMENTS``.
    disable_requirements: bool | None = None
    #: The largest ``diff.patch`` kept (default 1 MiB; the rest is cut off). ``TRACKKIT_GIT_DIFF_MAX_BYTES``.
    git_diff_max_bytes: int | None = None
    #: The largest ``output.log`` kept (default 50 MiB). ``TRACKKIT_CONSOLE_MAX_BYTES``.
    console_max_bytes: int | None = None


_ENV = {
    "console": "TRACKKIT_CONSOLE",
    "disable_system_metrics": "TRACKKIT_DISABLE_SYSTEM_METRICS",
    "system_interval": "TRACKKIT_SYSTEM_INTERVAL",
    "disable_git": "TRACKKIT_DISABLE_GIT",
    "disable_meta": "TRACKKIT_DISABLE_META",
    "disable_requirements": "TRACKKIT_DISABLE_REQUIREMENTS",
    "git_diff_max_bytes": "TRACKKIT_GIT_DIFF_MAX_BYTES",
    "console_max_bytes": "TRACKKIT_CONSOLE_MAX_BYTES",
}
_DEFAULTS: dict[str, Any] = {
    "console": "auto",
    "disable_system_metrics": False,
    "system_interval": 10.0,
    "disable_git": False,
    "disable_meta": False,
    "disable_requirements": False,
    "git_diff_max_bytes": 1024 * 1024,
    "console_max_bytes": 50 * 1024 * 1024,
}


def resolve_context_settings(settings: Settings | Mapping[str, Any] | None) -> Settings:
    """Explicit settings over ``TRACKKIT_*`` variables over defaults; a ``UsageError`` names a bad one."""
    if settings is None:
        given: dict[str, Any] = {}
    elif isinstance(settings, Settings):
        given = {k: v for k, v in settings._asdict().items() if v is not None}
    elif isinstance(settings, Mapping):
        given = {k: v for k, v in settings.items() if v is not None}
        unknown = sorted(set(given) - set(_DEFAULTS))
        if unknown:
            raise UsageError(f"init(settings=...) does not know {', '.join(map(repr, unknown))}; "
                             f"the settings are: {', '.join(_DEFAULTS)}.")
    else:
        raise UsageError(f"init(settings=...) takes a trackkit.Settings or a dict; got {type(settings).__name__}.")
    values: dict[str, Any] = {}
    for field, default in _DEFAULTS.items():
        if field in given:
            values[field] = _check(field, given[field], f"settings[{field!r}]")
            continue
        raw = os.environ.get(_ENV[field], "").strip()
        values[field] = _check(field, raw, _ENV[field]) if raw else default
    return Settings(**values)


def _check(field: str, value: Any, where: str) -> Any:
    default = _DEFAULTS[field]
    if field == "console":
        if value is False:
            return "off"
        if value is True:
            return "auto"
        text = str(value).strip().lower()
        if text not in _CONSOLE_MODES:
            raise UsageError(f"{where}={value!r} is not known; use 'auto' (the default), 'wrap' or 'off'.")
        return text
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off", ""):
            return False
        raise UsageError(f"{where}={value!r} must be true or false (1/0).")
    try:
        number = float(value) if isinstance(default, float) else int(value)
    except (TypeError, ValueError):
        raise UsageError(f"{where}={value!r} must be a number.") from None
    if number <= 0 and field == "system_interval":
        raise UsageError(f"{where}={value!r} must be a positive number of seconds.")
    if number < 0:
        raise UsageError(f"{where}={value!r} must not be negative.")
    return number


class RunContext:
    """The context of one run: the threads, the console log and the exit hooks ``init`` started."""

    def __init__(self, run: Run, settings: Settings) -> None:
        self._run = run
        self._settings = settings
        self._sink = run._sink
        self._writer = run._writer
        self._quiet = bool(run._settings.silent)
        self._cwd = os.getcwd()
        self._done = threading.Event()
        self.facts_ready = threading.Event()  # set once the helper thread has recorded the environment and git facts
        self._stopped = False
        self._tmpdir: str | None = None
        self._previous_log: str | None = None
        self._console: _console.ConsoleLog | None = None
        self._console_put_version = 0
        self._console_put_pending = False
        self._monitor: Any = None
        self._can_put = callable(getattr(self._sink, "put_file", None))
        _exit_hooks.install()
        if settings.console != "off" and self._can_put:
            try:
                import tempfile

                self._tmpdir = tempfile.mkdtemp(prefix="trackkit-console-")
                self._console = _console.ConsoleLog(os.path.join(self._tmpdir, "output.log"), int(settings.console_max_bytes or 0))
                _console.attach(self._console)
                if run.resumed:  # keep the earlier sessions' output: copied first, on the writer thread
                    self._previous_log = os.path.join(self._tmpdir, "previous.log")
                    self._writer.submit(self._copy_previous_log)
            except OSError:
                self._console = None
        no_fork()  # registers the fork hook from this thread, before the helper threads start
        if not settings.disable_system_metrics and callable(getattr(self._sink, "append_system", None)):
            self._monitor = SystemMonitor(
                self._emit_system, interval=float(settings.system_interval or 10.0), start_time=run._start_time, quiet=self._quiet
            ).start()
        self._thread = threading.Thread(target=self._collect, name=f"trackkit-context-{run.id}", daemon=True)
        self._thread.start()

    # -- on the helper thread ------------------------------------------------------------------
    def _collect(self) -> None:
        self._done.wait(START_DELAY)  # let init return first: its caller, not this thread, gets the GIL
        try:
            self._collect_facts()
        except Exception as error:  # pragma: no cover - every reader below already swallows its errors
            self._say(f"trackkit: could not read the run context ({type(error).__name__}: {error}).")
        finally:
            self.facts_ready.set()
        while not self._done.wait(CONSOLE_PUT_INTERVAL):
            self._put_console()

    def _collect_facts(self) -> None:
        settings, facts = self._settings, {}
        requirements = ""
        with no_fork():  # everything that imports (or starts NVML) ends before a fork, never spans one
            from . import _environment
            from ._system_metrics import gpu_facts

            if not settings.disable_meta:
                facts.update(_environment.environment_facts())
                facts.update(gpu_facts())
                facts["frameworks"] = _environment.framework_versions()
            if not settings.disable_requirements:
                requirements = _environment.requirements_text()
        if not settings.disable_git:  # subprocesses only: no lock, so a slow git never delays a fork
            found = _environment.git_facts(self._cwd, max_diff_bytes=int(settings.git_diff_max_bytes or 0))
            if found is not None:
                git, diff = found
                facts["git"] = git
                if diff:
                    self._put("diff.patch", diff)
        if facts:
            self._run._update_meta(**facts)
        if requirements:
            self._put("requirements.txt", requirements.encode("utf-8"))

    # -- store writes, all on the run's writer thread --------------------------------------------
    def _emit_system(self, rows: list[dict[str, Any]]) -> None:
        sink = self._sink
        self._writer.submit(lambda: sink.append_system(rows))

    def _put(self, name: str, source: Any) -> None:
        if self._can_put:
            sink = self._sink
            self._writer.submit(lambda: sink.put_file(name, source))

    def _put_console(self) -> None:
        log = self._console
        if log is None or self._console_put_pending or log.version == self._console_put_version:
            return
        self._console_put_pending = True
        self._console_put_version = log.version
        sink, path, previous = self._sink, log.path, self._previous_log

        def put() -> None:
            self._console_put_pending = False
            if not os.path.exists(path):
                return
            if previous is None or not os.path.exists(previous):
                sink.put_file("output.log", path)
                return
            with _Concatenated([previous, path]) as both:
                sink.put_file("output.log", cast(IO[bytes], both))  # stores stream any object with read()

        self._writer.submit(put)

    def _copy_previous_log(self) -> None:
        """On a resumed run: the stored ``output.log`` of the earlier sessions, to put before this one's."""
        store, target = self._run.store, self._previous_log
        if store is None or target is None or not callable(getattr(store, "open_file", None)):
            return
        try:
            source = store.open_file(self._run.project, self._run.id, "output.log")
        except Exception:  # no earlier output
            return
        import shutil

        try:
            with source, open(target, "wb") as out:
                shutil.copyfileobj(source, out, 1 << 20)
        except OSError as error:  # a failed copy must not block the writer's queue with retries
            self._say(f"trackkit: could not read the earlier output.log of run {self._run.id} ({error}); "
                      f"it will hold this session's output only.")
            try:
                os.unlink(target)
            except OSError:
                pass

    # -- finish --------------------------------------------------------------------------------
    def stop(self, exit_code: int | None = None) -> None:
        """Stop sampling, wait briefly for the facts, put the final ``output.log``, restore the hooks.

        Called by ``Run.finish`` before the writer's last cycle, so everything queued here is written
        by it. Never raises; a second call does nothing. ``exit_code`` is the run's (unused for now).
        """
        if self._stopped:
            return
        self._stopped = True
        try:
            _exit_hooks.uninstall()
            if self._monitor is not None:
                self._monitor.stop()
            self._done.set()
            if self._thread is not threading.current_thread():
                self._thread.join(2.0)  # git and package metadata take tens of milliseconds
            if self._console is not None:
                _console.detach(self._console)
                self._console_put_pending = False
                if self._console.bytes_written:
                    self._console_put_version = -1  # force the last put
                    self._put_console()
            tmpdir = self._tmpdir
            if tmpdir is not None:
                self._writer.submit(lambda: _remove_dir(tmpdir))
        except Exception as error:  # pragma: no cover - finish must go on
            self._say(f"trackkit: could not stop the run context cleanly ({type(error).__name__}: {error}).")

    def _say(self, message: str) -> None:
        if not self._quiet:
            _stderr(message)


def _remove_dir(path: str) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def _stderr(message: str) -> None:
    try:
        print(message, file=sys.stderr)
    except Exception:
        pass


class _Concatenated:
    """A binary reader over several files, one after another (what ``put_file`` streams)."""

    def __init__(self, paths: list[str]) -> None:
        self._paths = list(paths)
        self._handle: Any = None

    def read(self, size: int = -1) -> bytes:
        chunks = []
        while self._paths or self._handle is not None:
            if self._handle is None:
                self._handle = open(self._paths.pop(0), "rb")  # noqa: SIM115 - closed when drained
            chunk = self._handle.read(size if size >= 0 else -1)
            if chunk:
                chunks.append(chunk)
                if size >= 0:
                    break
                continue
            self._handle.close()
            self._handle = None
        return b"".join(chunks)

    def __enter__(self) -> _Concatenated:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._handle is not None:
            self._handle.close()


def start_run_context(run: Run, settings: Settings) -> RunContext | None:
    """Start capturing the context of ``run`` (None for a disabled run)."""
    if run.mode == "disabled":
        return None
    return RunContext(run, settings)


def save_file(run: Run, path: str | os.PathLike[str], name: str | None = None) -> list[str]:
    """``Run.save``: put files into the run (a path or a glob pattern); returns the names stored."""
    pattern = os.fspath(path)
    import glob

    matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
    matches = [m for m in matches if os.path.isfile(m)]
    if not matches:
        raise UsageError(f"run.save({pattern!r}): no such file.")
    if name is not None and len(matches) > 1:
        raise UsageError(f"run.save({pattern!r}, name={name!r}): the pattern matches {len(matches)} files; "
                         f"name= is for one file.")
    if run.mode == "disabled":
        return []
    names = []
    for match in matches:
        stored = _file_name(name if name is not None else os.path.basename(match))
        names.append(stored)
        _save_one(run, os.path.abspath(match), stored)
    return names


def _file_name(name: str) -> str:
    try:
        from ._run_files import check_file_name
    except ImportError:  # pragma: no cover - the Store v2 files module is part of the package
        return name
    return check_file_name(name)


def _save_one(run: Run, path: str, name: str) -> None:
    sink = run._sink
    if not run._closed:
        if not callable(getattr(sink, "put_file", None)):
            raise UsageError("run.save(): this run's store cannot hold files.")

        def put() -> None:
            if not os.path.exists(path):  # deleted since: nothing to retry (a raise here would be retried)
                _stderr(f"trackkit: run.save() could not store {path}: the file was deleted before it was copied.")
                return
            sink.put_file(name, path)

        run._writer.submit(put)
        return
    store = run.store  # after finish: straight into the store (a post-finish edit)
    if store is None or not callable(getattr(store, "put_file", None)):
        raise UsageError("run.save(): this run has finished and its store cannot hold files.")
    store.put_file(run.project, run.id, name, path)
