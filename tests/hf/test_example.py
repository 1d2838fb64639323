"""examples/hf_example.py runs as written and leaves a complete run in the store."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import trackkit

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_hf_example_runs_and_tracks_config_history_and_summary(isolated_store: Path) -> None:
    """The example trains a tiny BERT with report_to="trackkit": the run has the training args, eval rows and a summary."""
    result = subprocess.run([sys.executable, str(EXAMPLES / "hf_example.py")], capture_output=True, text=True,
                            timeout=600, env={**os.environ, "TRACKKIT_DIR": str(isolated_store)})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "test accuracy" in result.stdout
    (run,) = trackkit.Api().runs("huggingface")
    assert run.state == "finished"
    assert "learning_rate" in run.config and "hidden_size" in run.config["model"]
    rows = list(run.scan_history())
    assert any("train/loss" in r for r in rows) and any("eval/loss" in r for r in rows)
    assert "train_runtime" in run.summary
