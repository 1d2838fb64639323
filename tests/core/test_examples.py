"""The README's main job, examples/quickstart.py, runs as written on a fresh store."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import trackkit

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_quickstart_trains_a_grid_and_prints_the_runs_table(isolated_store: Path) -> None:
    """Six finished runs (3 learning rates x 2 batch sizes), one row per epoch, and a table of them."""
    result = subprocess.run([sys.executable, str(EXAMPLES / "quickstart.py")], capture_output=True, text=True,
                            check=True, timeout=300)
    assert "6 runs in project 'quickstart'" in result.stdout and "best:" in result.stdout
    runs = trackkit.Api().runs("quickstart")
    assert len(runs) == 6 and {r.state for r in runs} == {"finished"}
    assert sorted({(r.config["optim"]["lr"], r.config["batch_size"]) for r in runs}) == [
        (0.01, 16), (0.01, 64), (0.1, 16), (0.1, 64), (1.0, 16), (1.0, 64)]
    for run in runs:
        rows = list(run.scan_history())
        assert [r["epoch"] for r in rows] == list(range(8))
        assert run.summary["val/loss"] == min(r["val/loss"] for r in rows)  # define_metric(summary="min")
