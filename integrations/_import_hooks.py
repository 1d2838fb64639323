"""Run a function once a given module has been imported, without importing it ourselves.

``when_imported("transformers.integrations.integration_utils", register)`` calls ``register(module)``
at once if the module is already imported, else right after the module's code has run. It is how
``import trackkit`` makes ``TrainingArguments(report_to="trackkit")`` work without importing
transformers (which takes seconds and pulls in torch).

The mechanism is one finder at the front of ``sys.meta_path``. For any other module name it
returns ``None`` after one dict lookup, so it costs nothing measurable. For a watched name it asks
the finders behind it for the real spec, wraps the spec's loader so that the callbacks run after
``exec_module``, and gives the real loader back to the module before its code runs (``__loader__``
and ``__spec__.loader`` are untouched as far as the module can see). When nothing is left to
watch, the finder removes itself. A callback that raises becomes a warning: a hook must never
break the user's import.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any

__all__ = ["when_imported"]

Callback = Callable[[ModuleType], None]


def when_imported(name: str, callback: Callback) -> None:
    """Call ``callback(module)`` now if ``name`` is imported, else once it has been imported."""
    module = sys.modules.get(name)
    if module is not None and not getattr(getattr(module, "__spec__", None), "_initializing", False):
        _run_callbacks(module, [callback])
        return
    _FINDER.watch(name, callback)


def _run_callbacks(module: ModuleType, callbacks: list[Callback]) -> None:
    for callback in callbacks:
        try:
            callback(module)
        except Exception as error:  # a failing hook must not break the user's import
            import warnings

            warnings.warn(
                f"trackkit: a post-import hook for {module.__name__} failed ({type(error).__name__}: {error}); "
                f"the import itself succeeded.",
                RuntimeWarning,
                stacklevel=2,
            )


class _PostImportFinder:
    """A ``sys.meta_path`` finder that only ever answers for the watched names."""

    def __init__(self) -> None:
        self._callbacks: dict[str, list[Callback]] = {}
        self._lock = threading.Lock()

    def watch(self, name: str, callback: Callback) -> None:
        with self._lock:
            self._callbacks.setdefault(name, []).append(callback)
            if self not in sys.meta_path:
                sys.meta_path.insert(0, self)

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname not in self._callbacks:
            return None
        for finder in list(sys.meta_path):
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        if loader is None or not hasattr(loader, "exec_module"):
            return None  # let the normal machinery handle an unusual loader; no hook then
        spec.loader = _HookedLoader(loader, self)
        return spec

    def fired(self, module: ModuleType) -> None:
        with self._lock:
            callbacks = self._callbacks.pop(module.__name__, [])
            if not self._callbacks:
                try:
                    sys.meta_path.remove(self)
                except ValueError:
                    pass
        _run_callbacks(module, callbacks)


class _HookedLoader:
    """Wraps a module's real loader for one import: run the module, then the callbacks."""

    def __init__(self, loader: Any, finder: _PostImportFinder) -> None:
        self._loader = loader
        self._finder = finder

    def create_module(self, spec: Any) -> ModuleType | None:
        create = getattr(self._loader, "create_module", None)
        return create(spec) if create is not None else None

    def exec_module(self, module: ModuleType) -> None:
        module.__loader__ = self._loader
        if getattr(module, "__spec__", None) is not None:
            module.__spec__.loader = self._loader
        self._loader.exec_module(module)
        self._finder.fired(module)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)


_FINDER = _PostImportFinder()
