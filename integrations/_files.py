"""Putting files into a run (checkpoints, a CLI's config) through the store's file API.

Plugins never write into a directory derived from the run: ``run.store.put_file(project, run_id,
name, source)``, at once (Lightning may delete a checkpoint that falls out of its top k right after
saving it, so a copy made later by a background thread could miss it); ``run.save(path, name=)``
when the store has no ``put_file``. A store without files gets a warning once and the file is skipped.
"""

from __future__ import annotations

import warnings
from typing import Any

import trackkit

__all__ = ["put_run_file"]

_warned: set[str] = set()


def put_run_file(run: trackkit.Run, name: str, source: str | bytes) -> bool:
    """Store ``source`` (a path or the bytes) as the run file ``name``; False if the store cannot."""
    if run.mode == "disabled":
        return False
    store: Any = getattr(run, "store", None)
    put = getattr(store, "put_file", None)
    save = getattr(run, "save", None)
    try:
        if callable(put):
            put(run.project, run.id, name, source)
            return True
        if callable(save) and isinstance(source, str):
            save(source, name=name)
            return True
    except (OSError, trackkit.TrackkitError) as error:
        warnings.warn(f"trackkit: could not put {name!r} into run {run.project}/{run.id}: {error}", stacklevel=3)
        return False
    kind = type(store).__name__
    if kind not in _warned:
        _warned.add(kind)
        warnings.warn(f"trackkit: the run's store ({kind}) keeps no files; {name!r} was not stored.", stacklevel=3)
    return False
