"""The post-import hook helper on throw-away modules: fires once after the module ran, then gets out of the way."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from trackkit.integrations import _import_hooks
from trackkit.integrations._import_hooks import when_imported


@pytest.fixture
def module_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    directory = tmp_path / "modules"
    directory.mkdir()
    monkeypatch.syspath_prepend(str(directory))
    importlib.invalidate_caches()
    yield directory
    for name in [n for n in sys.modules if n.startswith("hooked_")]:
        del sys.modules[name]
    _import_hooks._FINDER._callbacks = {k: v for k, v in _import_hooks._FINDER._callbacks.items()
                                        if not k.startswith("hooked_")}
    if not _import_hooks._FINDER._callbacks and _import_hooks._FINDER in sys.meta_path:
        sys.meta_path.remove(_import_hooks._FINDER)


def test_fires_after_the_module_ran_and_removes_itself(module_dir: Path) -> None:
    """The callback sees the module's finished namespace; the finder leaves sys.meta_path when done."""
    (module_dir / "hooked_a.py").write_text("REGISTRY = {}\n")
    seen: list[ModuleType] = []
    when_imported("hooked_a", lambda module: module.REGISTRY.setdefault("trackkit", "yes") and seen.append(module))
    assert "hooked_a" not in sys.modules

    import hooked_a

    assert hooked_a.REGISTRY == {"trackkit": "yes"}
    assert seen == [hooked_a]
    assert type(hooked_a.__loader__).__name__ == "SourceFileLoader"
    assert hooked_a.__spec__.loader is hooked_a.__loader__
    assert _import_hooks._FINDER not in sys.meta_path


def test_fires_at_once_for_an_imported_module(module_dir: Path) -> None:
    """A module already imported gets its callback immediately, and no finder is installed."""
    (module_dir / "hooked_b.py").write_text("VALUE = 1\n")
    import hooked_b  # noqa: F401

    seen: list[int] = []
    when_imported("hooked_b", lambda module: seen.append(module.VALUE))
    assert seen == [1]
    assert _import_hooks._FINDER not in sys.meta_path


def test_a_failing_callback_does_not_break_the_import(module_dir: Path) -> None:
    """A callback that raises becomes a warning; the user's import succeeds."""
    (module_dir / "hooked_c.py").write_text("VALUE = 2\n")

    def broken(module: ModuleType) -> None:
        raise KeyError("nope")

    when_imported("hooked_c", broken)
    with pytest.warns(RuntimeWarning, match="hooked_c failed"):
        import hooked_c
    assert hooked_c.VALUE == 2


def test_a_module_that_fails_to_import_keeps_the_hook(module_dir: Path) -> None:
    """If the watched module raises on import, the hook stays and fires on the successful retry."""
    source = module_dir / "hooked_d.py"
    source.write_text("raise ImportError('not yet')\n")
    seen: list[str] = []
    when_imported("hooked_d", lambda module: seen.append(module.__name__))
    with pytest.raises(ImportError, match="not yet"):
        import hooked_d  # noqa: F401
    assert seen == []
    source.write_text("VALUE = 3\n")
    importlib.invalidate_caches()
    sys.modules.pop("hooked_d", None)
    import hooked_d  # noqa: F401, F811

    assert seen == ["hooked_d"]


def test_other_imports_are_untouched(module_dir: Path) -> None:
    """While a hook waits, other modules import normally, with their own loaders."""
    (module_dir / "hooked_e.py").write_text("VALUE = 4\n")
    (module_dir / "hooked_waiting.py").write_text("VALUE = 5\n")
    when_imported("hooked_waiting", lambda module: None)
    import hooked_e

    assert hooked_e.VALUE == 4
    assert type(hooked_e.__loader__).__name__ == "SourceFileLoader"
    assert _import_hooks._FINDER in sys.meta_path
