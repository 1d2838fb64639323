"""The vendored front-end files are the pinned upstream files, licence included."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_vendored_files_match_their_sha256sums(capsys: pytest.CaptureFixture[str]) -> None:
    """Every file in server/ui/vendor is listed in SHA256SUMS with its hash, beside its licence."""
    spec = importlib.util.spec_from_file_location("vendor_ui", ROOT / "scripts" / "vendor_ui.py")
    assert spec is not None and spec.loader is not None
    vendor_ui = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(vendor_ui)
    assert vendor_ui.check() == 0, capsys.readouterr().out
    lines = (vendor_ui.VENDOR / "SHA256SUMS").read_text().splitlines()
    listed = {line.split()[1] for line in lines if line and not line.startswith("#")}
    on_disk = {p.name for p in vendor_ui.VENDOR.iterdir() if p.name != "SHA256SUMS"}
    assert listed == on_disk
    assert "uPlot.LICENSE" in listed
