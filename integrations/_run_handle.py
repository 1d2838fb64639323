"""One way for every plugin to own a run: ``RunHandle``.

The rule all plugins share: take ``run=``; else the run that is active (``trackkit.run``); else
create one from ``trackkit.init`` keyword arguments. The handle knows whether it created the run,
reopens a finished run through ``run.store`` (never a directory), and finishes only what it
created. It pickles without the live run: unpickled in the same process it attaches to the run
that is still open here; in another process it reopens the run (the store's lock makes that
process the single writer, or says who holds it).
"""

from __future__ import annotations

import inspect
import os
import pickle
import weakref
from collections.abc import Iterable, Mapping
from typing import Any

import trackkit
from trackkit import Run

__all__ = ["INIT_KEYS", "REWIND", "RunHandle", "check_init_kwargs"]

#: The keyword arguments ``trackkit.init`` takes, read from its signature (never copied by hand).
INIT_KEYS: frozenset[str] = frozenset(
    name for name, parameter in inspect.signature(trackkit.init).parameters.items()
    if parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY)
)

#: Whether this trackkit can rewind a run (``init(resume_from_step=)``); without it, resuming appends.
REWIND = "resume_from_step" in INIT_KEYS

#: Runs opened by a handle in this process, by (project, id): what an unpickled copy attaches to.
_live: weakref.WeakValueDictionary[tuple[str, str], Run] = weakref.WeakValueDictionary()
#: Stores that cannot be pickled (``MemoryStore``), by id, for copies unpickled in this process.
_stores: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()


def check_init_kwargs(owner: str, kwargs: Mapping[str, Any], own: Iterable[str] = ()) -> None:
    """Refuse keyword arguments ``trackkit.init`` does not take, naming what ``owner`` accepts."""
    unknown = sorted(set(kwargs) - INIT_KEYS)
    if unknown:
        takes = ", ".join(f"{name}=" for name in own)
        raise TypeError(
            f"{owner}() got unexpected keyword argument(s) {', '.join(unknown)}; it takes {takes + ' ' if takes else ''}"
            f"and the arguments of trackkit.init() ({', '.join(sorted(INIT_KEYS))})."
        )


class _StoreRef:
    """A pickled stand-in for a store that cannot be pickled: found again only in its own process."""

    def __init__(self, store: Any) -> None:
        self.pid = os.getpid()
        self.key = id(store)
        _stores[self.key] = store

    def resolve(self) -> Any:
        store = _stores.get(self.key) if self.pid == os.getpid() else None
        if store is None:
            raise trackkit.UsageError(
                "this plugin's run lives in an in-memory store of another process; a store that other processes "
                "can open (the local store, a server) is needed to log from here."
            )
        return store


class RunHandle:
    """The run a plugin logs to, and whether the plugin owns (created) it.

    Args:
        run: The run to use (never finished by the handle unless it reopens it after the user finished it).
        init_kwargs: ``trackkit.init`` arguments for a run the handle creates.
        attach_active: Use ``trackkit.run`` when no ``run=`` was given (checked at ``get()``, or at
            once with ``attach_now()``).
    """

    def __init__(self, run: Run | None = None, *, init_kwargs: Mapping[str, Any] | None = None,
                 attach_active: bool = True) -> None:
        self._run = run
        self.given = run is not None
        self.owns = False
        self.init_kwargs: dict[str, Any] = {k: v for k, v in (init_kwargs or {}).items() if v is not None}
        self.attach_active = attach_active
        self._store: Any = None

    # -- what the handle holds -----------------------------------------------------------------
    @property
    def run(self) -> Run | None:
        """The run held now (maybe finished), or None before the first ``get()``."""
        return self._run

    def attach_now(self) -> Run | None:
        """Take the active run now, if there is one and none was given."""
        if self._run is None and self.attach_active and trackkit.run is not None:
            self._run = trackkit.run
            self.given = True
        if self._run is not None:
            self._remember(self._run)
        return self._run

    def get(self, *, finished: str = "reopen", resume_from_step: int | None = None) -> Run:
        """The live run: the held one; else (first use) the given, active or a new one.

        A held run that was finished since is reopened (``finished="reopen"``, same id, same
        store) or dropped for the active or a new run (``finished="replace"``; a ``run=`` given
        by the user is always reopened instead).
        """
        run = self._run
        if not REWIND:
            resume_from_step = None
        if run is not None and run.state == "running":
            if resume_from_step is not None:
                return self.rewind(resume_from_step)
            self._remember(run)
            return run
        if run is not None and (finished == "reopen" or (self.given and not self.owns)):
            return self._open_again(run.project, run.id, run.mode, self._store_of(run), resume_from_step)
        if run is None and self._store is not None:  # unpickled: the run of the original
            return self._open_again(self.init_kwargs["project"], self.init_kwargs["id"],
                                    self.init_kwargs.get("mode"), self._resolved_store(), resume_from_step)
        self._run, self.owns, self.given = None, False, False
        if self.attach_active and trackkit.run is not None:
            self._run = trackkit.run
            self.given = True
            self._remember(self._run)
            return self._run
        kwargs = dict(self.init_kwargs)
        if isinstance(kwargs.get("store"), _StoreRef):
            kwargs["store"] = kwargs["store"].resolve()
        if resume_from_step is not None:
            kwargs["resume_from_step"] = resume_from_step
            kwargs.setdefault("resume", "allow")
        self._run = trackkit.init(**{"reinit": "create_new", **kwargs})
        self.owns = True
        self._remember(self._run)
        return self._run

    def rewind(self, step: int) -> Run:
        """Continue the run from ``step``: rows logged after it are marked superseded (a resumed checkpoint)."""
        run = self._run
        if not REWIND:
            return self.get()
        if run is None:
            return self.get(resume_from_step=step)
        if run.state == "running":
            if not self.owns:
                return run  # the user's open run: rewinding it needs a reopen, which is theirs to do
            run.finish()
        return self._open_again(run.project, run.id, run.mode, self._store_of(run), step)

    def finish(self, exit_code: int | None = None, reason: str | None = None) -> None:
        """Finish the run if the handle created (or reopened) it and it is still running."""
        run = self._run
        if run is not None and self.owns and run.state == "running":
            run.finish(exit_code=exit_code, reason=reason)

    def reset(self, run: Run | None = None, *, init_kwargs: Mapping[str, Any] | None = None) -> None:
        """Start over with ``run`` (used as given) or, without it, a run to create from ``init_kwargs``."""
        self._run, self.given, self.owns, self._store = run, run is not None, False, None
        self.init_kwargs = {k: v for k, v in (init_kwargs or {}).items() if v is not None}

    def forget(self) -> None:
        """Let go of the run (the next ``get()`` starts from scratch)."""
        self._run, self.owns, self.given = None, False, False

    # -- helpers -------------------------------------------------------------------------------
    def _open_again(self, project: str, run_id: str, mode: str | None, store: Any,
                    resume_from_step: int | None) -> Run:
        live = _live.get((project, run_id))
        if live is not None and live.state == "running" and resume_from_step is None and _same_store(live, store):
            self._run = live  # the same process holds it open (an unpickled copy, another handle)
            return live
        if mode == "disabled":
            run = trackkit.init(mode="disabled", reinit="create_new")
        else:
            kwargs: dict[str, Any] = {"project": project, "id": run_id, "resume": "must", "reinit": "create_new",
                                      "silent": True}
            if store is not None:
                kwargs["store"] = store
            elif self.init_kwargs.get("dir") is not None:
                kwargs["dir"] = self.init_kwargs["dir"]
            if resume_from_step is not None:
                kwargs["resume_from_step"] = resume_from_step
            try:
                run = trackkit.init(**kwargs)
            except trackkit.RunNotFoundError:  # never written (a run of another store): start it
                kwargs.update(self.init_kwargs, resume="allow", reinit="create_new")
                if isinstance(kwargs.get("store"), _StoreRef):
                    kwargs["store"] = kwargs["store"].resolve()
                run = trackkit.init(**kwargs)
        self._run, self.owns = run, True
        self._remember(run)
        return run

    def _remember(self, run: Run) -> None:
        if run.mode != "disabled":
            _live[(run.project, run.id)] = run

    @staticmethod
    def _store_of(run: Run) -> Any:
        return getattr(run, "store", None)

    def _resolved_store(self) -> Any:
        store = self._store
        return store.resolve() if isinstance(store, _StoreRef) else store

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        run = self._run
        state["_run"] = None
        kwargs = dict(self.init_kwargs)
        if "store" in kwargs:
            kwargs["store"] = _portable(kwargs["store"])
        if run is not None:
            kwargs.update(project=run.project, id=run.id, mode=run.mode)
            store = self._store_of(run)
            state["_store"] = _portable(store) if store is not None else _portable(self._store)
        else:
            state["_store"] = _portable(self._store)
        state["init_kwargs"] = kwargs
        return state


def _same_store(run: Run, store: Any) -> bool:
    """Whether ``run`` lives in ``store`` (the same object, or a local store of the same folder)."""
    mine = getattr(run, "store", None)
    if store is None or mine is None or mine is store:
        return True
    location = getattr(store, "location", None)
    return location is not None and location == getattr(mine, "location", None)


def _portable(store: Any) -> Any:
    """The store itself if it pickles (the local store), else a reference valid in this process only."""
    if store is None or isinstance(store, _StoreRef):
        return store
    try:
        pickle.dumps(store)
    except Exception:
        return _StoreRef(store)
    return store
