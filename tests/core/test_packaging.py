"""Packaging promises: a light import, a complete public surface, a console script."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import trackkit

HEAVY = ("torch", "tensorflow", "keras", "transformers", "lightning", "pytorch_lightning", "absl", "numpy",
         "pandas", "jax", "yaml", "psutil", "pynvml")


def test_import_trackkit_imports_no_framework_numpy_or_pandas() -> None:
    """`import trackkit` leaves every framework, numpy, pandas and even PyYAML unimported."""
    code = f"import sys, json, trackkit; print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == []


def test_all_lists_every_public_name() -> None:
    """`__all__` is sorted and names exactly the public attributes of the package."""
    public = {name for name in vars(trackkit) if not name.startswith("_") and name not in ("annotations", "Any")}
    public -= {"integrations", "testing"}  # subpackages, imported on demand
    exported = set(trackkit.__all__) - {"run", "config", "summary", "__version__"}
    assert exported == public
    assert list(trackkit.__all__) == sorted(trackkit.__all__)


def test_package_is_installed_not_imported_from_the_source_tree() -> None:
    """Tests run against the installed package (core/ is installed as trackkit)."""
    assert "trackkit" in trackkit.__file__.replace("\\", "/").split("/")[-2]


def test_console_script_and_module_entry_point() -> None:
    """Both `trackkit --help` and `python -m trackkit --help` work."""
    script = shutil.which("trackkit") or str(Path(sys.executable).with_name("trackkit"))
    assert Path(script).exists()
    for command in ([script, "--help"], [sys.executable, "-m", "trackkit", "--help"]):
        result = subprocess.run(command, capture_output=True, text=True, check=True)
        assert "runs" in result.stdout and "diff" in result.stdout


def test_errors_share_one_root_and_the_builtin_bases_users_catch() -> None:
    """Misuse errors are ValueError/TypeError subclasses under TrackkitError."""
    assert issubclass(trackkit.UsageError, ValueError)
    assert issubclass(trackkit.InvalidLogDataError, TypeError)
    assert issubclass(trackkit.ConfigChangeError, trackkit.TrackkitError)
    assert issubclass(trackkit.NoActiveRunError, trackkit.UsageError)
    assert issubclass(trackkit.RunFinishedError, trackkit.UsageError)
