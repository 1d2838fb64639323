"""``trackkit.init()`` and the process-wide state around it: the current run, and finishing
runs when the interpreter exits, an exception escapes or SIGTERM arrives."""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
import time
from typing import Any, NamedTuple

from ._config import expand_dotted
from ._config_files import command_line_config_paths, defaults_paths
from ._context import resolve_context_settings, start_run_context
from ._errors import NoActiveRunError, UsageError
from ._exit_hooks import forget_after_fork, recorded_exit
from ._local_store import check_name, hostname
from ._memory_store import NullSink
from ._names import generate_id, generate_name
from ._run import Run
from ._settings import resolve
from ._sources import config_to_dict
from ._store import ResumeState, Store
from ._stores import resolve_store, run_number

__all__ = ["current_run", "forget", "init", "require_run"]

_lock = threading.RLock()
_current: Run | None = None
_active: list[Run] = []
_hooks_installed = False
_uncaught: BaseException | None = None
_forked_from: Run | None = None  # in a forked child: the parent's current run
_last_finished: str | None = None  # the run finished last when none is active, for NoActiveRunError's message
_exiting = False


def current_run() -> Run | None:
    """The run that module-level calls act on, or None."""
    return _current


def require_run(call: str) -> Run:
    """The current run, or a ``NoActiveRunError`` that tells the user what to do."""
    run = _current
    if run is None and _forked_from is not None:
        return _forked_from  # in a forked child (a DataLoader worker): its writes are ignored with a warning
    if run is None:
        finished = _last_finished
        if finished is not None:  # e.g. an atexit handler that runs after trackkit finished the run at exit
            raise NoActiveRunError(f"the run {finished} has finished; call trackkit.init() before {call} to start a new run.")
        raise NoActiveRunError(f"call trackkit.init() before {call}.")
    return run


def forget(run: Run) -> None:
    """Called by ``Run.finish``: the run is no longer active."""
    global _current, _last_finished
    with _lock:
        if run in _active:
            _active.remove(run)
        if _current is run:
            _current = _active[-1] if _active else None
        if _current is None:
            _last_finished = f"{run.project}/{run.id}" + (" (at interpreter exit)" if _exiting else "")


def _entity() -> str:
    try:
        import getpass

        return getpass.getuser()
    except Exception:
        return "local"


def init(
    project: str | None = None,
    name: str | None = None,
    config: Any = None,
    id: str | None = None,
    tags: list[str] | tuple[str, ...] | None = None,
    notes: str | None = None,
    group: str | None = None,
    job_type: str | None = None,
    dir: str | os.PathLike[str] | None = None,
    mode: str | None = None,
    resume: str | bool | None = None,
    *,
    entity: str | None = None,
    strict_config: bool = False,
    reinit: str = "finish_previous",
    silent: bool | None = None,
    store: Store | str | os.PathLike[str] | None = None,
    settings: Any = None,
    resume_from_step: int | None = None,
    resume_from: str | None = None,
) -> Run:
    """Start a run and make it the current one.

    Args:
        project: Project name (``TRACKKIT_PROJECT``, else ``"uncategorized"``).
        name: Display name; generated (``bright-river-3``) when not given.
        config: A dict, argparse.Namespace, absl/TF flags, dataclass, pydantic model, OmegaConf
            config, object with attributes, or a path to a YAML file.
        id: Run id (``TRACKKIT_RUN_ID``, else eight random characters).
        dir: The store directory (``TRACKKIT_DIR``, else ``./trackkit-runs``); with an ``http(s)://``
            store, the local spool.
        mode: ``"local"`` (default; ``"offline"`` means the same) or ``"disabled"`` (a run that
            accepts every call and writes nothing). ``TRACKKIT_MODE``.
        resume: ``"allow"``, ``"must"`` or ``"never"``, with ``id=``: continue an existing run.
        strict_config: Make changing a config value raise ``ConfigChangeError`` unless
            ``config.update(..., allow_val_change=True)``.
        reinit: What to do with a run that is still active: ``"finish_previous"`` (default),
            ``"return_previous"`` or ``"create_new"``.
        store: A store object (``trackkit.testing.MemoryStore()``) or a path or URL (``file:///path``,
            ``memory://name``, ``http(s)://host:port``); ``TRACKKIT_STORE``. Wins over ``dir``.
        settings: Run-context settings, a ``trackkit.Settings`` or a dict (``{"console": "off"}``):
            system metrics, console capture, git, environment (see the README's "Run context").
        resume_from_step: Rewind: resume the run (``resume="allow"`` unless given) as of step ``N``,
            as when training restarts from a checkpoint. Rows logged after ``N`` before the rewind
            are superseded: kept on disk, hidden from history and the summary unless asked for
            (``scan_history(include_superseded=True)``); the next step is ``N + 1``.
        resume_from: W&B's spelling of a rewind, ``"<run id>?_step=<N>"`` (``resume="must"`` unless given).

    Example:
        >>> with trackkit.init(project="mnist", config={"lr": 0.01}) as run:
        ...     run.log({"loss": 0.5})
    """
    context_settings = resolve_context_settings(settings)  # checked before anything is written
    id, resume, resume_from_step = _rewind_arguments(id, resume, resume_from_step, resume_from)
    settings = resolve(project=project, dir=dir, mode=mode, resume=resume, silent=silent)
    previous_run = _settle_active_run(reinit)
    if previous_run is not None:
        return previous_run
    run_id, project_name = _identity(id, settings.project, tags)
    # Every config source is read and checked here, before anything is written: a bad config object,
    # a key that names no path (".") or a malformed or missing YAML file leaves no run behind. The
    # converted trees are kept, so the values are made JSON-safe once, not again when loaded.
    config_layers = _read_config_layers(config)
    opened = _open_run(settings, store, dir, mode, project_name, run_id)
    previous = opened.resume_state["record"]["meta"] if opened.resume_state else {}
    name = name or previous.get("name") or generate_name(run_number(opened.store, project_name) if opened.store else 1)
    meta = _initial_meta(run_id, project_name, name, entity, tags, notes, group, job_type, settings.mode, previous,
                         resumed=opened.resume_state is not None)
    run = _make_run(opened, meta, settings, strict_config, resume_from_step)
    _load_initial_config(run, config_layers, resumed=opened.resume_state is not None)
    _make_current(run, reinit)
    run._context = start_run_context(run, context_settings)
    _announce(run, settings, opened)
    return run


class _Opened(NamedTuple):
    """A run opened for writing: its store (None when disabled), sink, resume state and folder."""

    store: Store | None
    sink: Any
    resume_state: ResumeState | None
    run_dir: str | None


def _settle_active_run(reinit: str) -> Run | None:
    """Apply ``reinit`` to the run still active: the run to return instead of a new one, or None."""
    if reinit not in ("finish_previous", "return_previous", "create_new"):
        raise UsageError(f"reinit={reinit!r} is not known; use 'finish_previous', 'return_previous' or 'create_new'.")
    if _current is not None:
        if reinit == "return_previous":
            return _current
        if reinit == "finish_previous":
            for run in list(_active):
                run.finish()
    return None


def _identity(run_id: str | None, project: str, tags: Any) -> tuple[str, str]:
    """The checked run id (given, ``TRACKKIT_RUN_ID`` or generated) and project name; tags are checked too."""
    if tags is not None and (isinstance(tags, str) or not all(isinstance(t, str) for t in tags)):
        raise UsageError(f"tags must be a list of strings; got {tags!r}.")
    return (check_name("run id", run_id or os.environ.get("TRACKKIT_RUN_ID") or generate_id()),
            check_name("project", project))


def _open_run(settings: Any, store: Any, dir: Any, mode: str | None, project: str, run_id: str) -> _Opened:
    """Open the run in its store (``store=`` > ``dir=`` > the environment), or a sink that writes
    nothing when disabled."""
    if settings.mode == "disabled":
        import tempfile

        return _Opened(None, NullSink(), None, os.path.join(tempfile.gettempdir(), "trackkit-disabled", run_id))
    resolved = resolve_store(store, dir)
    if (mode or os.environ.get("TRACKKIT_MODE")) == "offline" and hasattr(resolved, "offline_store"):
        resolved = resolve_store(getattr(resolved, "offline_store")())  # noqa: B009 - spool only; `trackkit sync` later
    sink, resume_state = resolved.open_run(project, run_id, resume=settings.resume)
    return _Opened(resolved, sink, resume_state, getattr(sink, "run_dir", None))  # None: no files on this machine


def _initial_meta(
    run_id: str,
    project: str,
    name: str,
    entity: str | None,
    tags: Any,
    notes: str | None,
    group: str | None,
    job_type: str | None,
    mode: str,
    previous: dict[str, Any],
    *,
    resumed: bool,
) -> dict[str, Any]:
    """The run's metadata at start: what ``init`` was given, else what a resumed run had."""
    now = time.time()
    return {
        "id": run_id,
        "name": name,
        "project": project,
        "entity": entity or previous.get("entity") or _entity(),
        "state": "running",
        "tags": list(tags) if tags is not None else list(previous.get("tags") or []),
        "notes": notes if notes is not None else previous.get("notes"),
        "group": group if group is not None else previous.get("group"),
        "job_type": job_type if job_type is not None else previous.get("job_type"),
        "created_at": previous.get("created_at", now),
        "started_at": now,
        "mode": mode,
        "host": hostname(),
        "pid": os.getpid(),
        "writer_id": os.urandom(8).hex(),
        "python": sys.version.split()[0],
        "argv": list(sys.argv),
        "cwd": os.getcwd(),
        "resumed": resumed,
        "resume_count": int(previous.get("resume_count", 0)) + (1 if resumed else 0),
        "metrics": previous.get("metrics", []),
        "trackkit_version": _version(),
    }


def _make_run(opened: _Opened, meta: dict[str, Any], settings: Any, strict_config: bool, resume_from_step: int | None) -> Run:
    """Write the metadata and build the ``Run``; the sink is released if either fails."""
    try:
        opened.sink.write_meta(meta)
        return Run(
            sink=opened.sink,
            meta=meta,
            settings=settings,
            run_dir=opened.run_dir,
            resume_state=opened.resume_state,
            strict_config=strict_config,
            store=opened.store,
            resume_from_step=resume_from_step,
        )
    except BaseException:
        opened.sink.close()
        raise


def _make_current(run: Run, reinit: str) -> None:
    """Register the run as active (and current, unless ``reinit="create_new"`` beside another) and
    install the exit, exception, signal and fork hooks."""
    global _current
    with _lock:
        _active.append(run)
        if reinit != "create_new" or _current is None:
            _current = run
    _install_hooks()


def _announce(run: Run, settings: Any, opened: _Opened) -> None:
    if settings.silent or settings.mode == "disabled":
        return
    verb = "resumed" if opened.resume_state else "started"
    where = opened.run_dir or (opened.store.location if opened.store is not None else "")
    print(f"trackkit: {verb} run {run.name} ({run.project}/{run.id}) in {where}", file=sys.stderr)


def _rewind_arguments(
    run_id: str | None, resume: str | bool | None, step: Any, resume_from: str | None
) -> tuple[str | None, str | bool | None, int | None]:
    """Check ``resume_from_step`` / ``resume_from="<id>?_step=<N>"``; return id, resume and the step."""
    if resume_from is not None:
        if step is not None:
            raise UsageError("pass either resume_from_step=N or resume_from='<id>?_step=<N>', not both.")
        found_id, sep, query = str(resume_from).partition("?")
        key, _, value = query.partition("=")
        if not sep or key != "_step" or not found_id or not value.strip().isdigit():
            raise UsageError(f"resume_from={resume_from!r} is not valid; use '<run id>?_step=<N>', like 'abc123?_step=200'.")
        if run_id is not None and run_id != found_id:
            raise UsageError(f"resume_from={resume_from!r} names run {found_id!r}, but id={run_id!r} was given.")
        run_id, step = found_id, int(value)
        if resume is None:
            resume = "must"
    if step is None:
        return run_id, resume, None
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        try:
            import operator

            step = operator.index(step)  # numpy integers
        except TypeError:
            step = -1
        if isinstance(step, bool) or step < 0:
            raise UsageError(f"resume_from_step must be a step number (an int >= 0); got {step!r}.")
    if resume in (None, False):
        resume = "allow"
    elif resume == "never":
        raise UsageError("resume_from_step rewinds an existing run; it cannot be used with resume='never'.")
    return run_id, resume, int(step)


def _read_config_layers(config: Any) -> list[tuple[str, dict[str, Any]]]:
    """Every config source, low to high: defaults files < ``init(config=)`` < command-line files;
    each read and converted now, so that a bad one raises before the run exists."""
    from ._sources import load_yaml_config

    layers: list[tuple[str, dict[str, Any]]] = []
    for path in defaults_paths():
        layers.append((f"defaults:{path}", expand_dotted(load_yaml_config(path))))
    initial = expand_dotted(config_to_dict(config))
    if initial:
        layers.append(("init", initial))
    for path in command_line_config_paths():
        layers.append((f"file:{os.path.abspath(path)}", expand_dotted(load_yaml_config(path))))
    return layers


def _load_initial_config(run: Run, layers: list[tuple[str, dict[str, Any]]], *, resumed: bool) -> None:
    """Apply the config layers read by ``_read_config_layers``.

    A new run starts from them and records no "changes". A resumed run starts from its saved
    config: defaults files only fill keys it lacks, while ``init(config=)`` and command-line files
    apply on top, and what they really change is recorded (no change is recorded for a value that
    is the same).
    """
    run.config.load_layers(layers, record_changes=resumed,
                           fill_only=lambda source: resumed and source.startswith("defaults:"))


def _version() -> str:
    from . import __version__

    return __version__


# -- process lifecycle -------------------------------------------------------------------------
def _finish_all(exit_code: int | None, reason: str | None) -> None:
    for run in list(_active):
        try:
            run.finish(exit_code=exit_code, reason=reason)
        except Exception as error:  # pragma: no cover - last-chance cleanup must not raise
            print(f"trackkit: could not finish run {run.id}: {error}", file=sys.stderr)


def _at_exit() -> None:
    global _exiting
    _exiting = True
    if _uncaught is not None:
        _finish_all(1, f"{type(_uncaught).__name__}: {_uncaught}")
    else:
        _finish_all(*recorded_exit())  # sys.exit(n) outside a `with` block: the code the hook noted


def _excepthook(kind: type[BaseException], value: BaseException, tb: Any) -> None:
    global _uncaught
    _uncaught = value
    _previous_excepthook(kind, value, tb)  # Python prints the traceback as usual


def _on_sigterm(signum: int, frame: Any) -> None:
    name = signal.Signals(signum).name
    _finish_all(128 + signum, f"killed by {name}")
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _after_fork_in_child() -> None:
    global _current, _forked_from
    for run in _active:
        run._mark_forked()
    _active.clear()
    _forked_from, _current = _current, None
    forget_after_fork()  # a sys.exit the parent noted is not how this child ends
    # A child has no run to finish: give it back the default SIGTERM, then let through a SIGTERM
    # that arrived during the fork. A Python-level handler inherited by a multiprocessing worker
    # can lose a SIGTERM sent while the worker starts, and Pool.terminate() then waits forever.
    try:
        if signal.getsignal(signal.SIGTERM) is _on_sigterm:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
    except (ValueError, OSError):  # pragma: no cover
        pass
    _unblock_sigterm()


_fork_masks: dict[int, Any] = {}


def _block_sigterm_for_fork() -> None:
    """Before a fork: hold SIGTERM back in the forking thread, so the child cannot lose one."""
    if hasattr(signal, "pthread_sigmask") and signal.getsignal(signal.SIGTERM) is _on_sigterm:
        try:
            _fork_masks[threading.get_ident()] = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        except (OSError, ValueError):  # pragma: no cover
            pass


def _unblock_sigterm() -> None:
    """After a fork, in parent and child: restore the forking thread's signal mask."""
    mask = _fork_masks.pop(threading.get_ident(), None)
    if mask is not None:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


_previous_excepthook = sys.excepthook


def _install_hooks() -> None:
    global _hooks_installed, _previous_excepthook
    _install_sigterm_handler()  # again in a forked child that starts its own run
    if _hooks_installed:
        return
    _hooks_installed = True
    atexit.register(_at_exit)
    _previous_excepthook = sys.excepthook
    sys.excepthook = _excepthook
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(
            before=_block_sigterm_for_fork, after_in_parent=_unblock_sigterm, after_in_child=_after_fork_in_child
        )


def _install_sigterm_handler() -> None:
    """Finish runs on SIGTERM, unless the program handles SIGTERM itself."""
    if threading.current_thread() is threading.main_thread():
        try:
            if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
                signal.signal(signal.SIGTERM, _on_sigterm)
        except (ValueError, OSError):  # pragma: no cover - embedded interpreters
            pass
