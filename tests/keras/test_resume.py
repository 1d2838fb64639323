"""A preempted Keras job resumed in a new process with ``initial_epoch``: steps continue, nothing shows twice."""

from __future__ import annotations

import pytest

import trackkit
from trackkit.integrations._run_handle import REWIND

SCRIPT = """
import sys
import numpy as np
import keras
from trackkit.integrations.keras import TrackCallback

rng = np.random.default_rng(0)
x = rng.random((64, 4), dtype=np.float32)
y = (x.sum(axis=1) > 2).astype("float32")
keras.utils.set_random_seed(0)
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)])
model.compile(optimizer="sgd", loss="mse")
initial_epoch, epochs = int(sys.argv[1]), int(sys.argv[2])
with TrackCallback(project="resume", id="job", resume="allow", log_every_n_batches=2) as callback:
    model.fit(x, y, batch_size=16, initial_epoch=initial_epoch, epochs=epochs, verbose=0, callbacks=[callback])
"""


def _epoch_steps() -> list[tuple[int, int]]:
    return [(row["epoch"], row["_step"]) for row in trackkit.Api().run("resume/job").scan_history() if "epoch" in row]


def test_batch_steps_continue_after_initial_epoch_in_a_new_process(run_python) -> None:
    """4 batches per epoch: epochs 3 and 4 of the resumed process end at steps 16 and 20, not 4 and 8."""
    run_python(SCRIPT, "0", "3")
    run_python(SCRIPT, "3", "5")
    assert _epoch_steps() == [(0, 4), (1, 8), (2, 12), (3, 16), (4, 20)]
    batch_steps = [row["batch/step"] for row in trackkit.Api().run("resume/job").scan_history() if "batch/loss" in row]
    assert batch_steps == list(range(2, 21, 2))


@pytest.mark.skipif(not REWIND, reason="this trackkit has no init(resume_from_step=)")
def test_resuming_from_an_earlier_epoch_supersedes_the_rows_logged_after_it(run_python) -> None:
    """Killed after epoch 4 with a checkpoint of epoch 2: the resumed fit (initial_epoch=3) replaces epochs 3-4."""
    run_python(SCRIPT, "0", "5")
    run_python(SCRIPT, "3", "5")
    assert _epoch_steps() == [(0, 4), (1, 8), (2, 12), (3, 16), (4, 20)]
    everything = list(trackkit.Api().run("resume/job").scan_history(include_superseded=True))
    assert [row["_step"] for row in everything if "epoch" in row] == [4, 8, 12, 16, 20, 16, 20]
