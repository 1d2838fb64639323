"""Lightning's own logger contract, ported from ``tests/tests_pytorch/loggers/test_all.py`` and
``test_logger.py`` of the Lightning repository to TrackLogger and PLTrackLogger."""

from __future__ import annotations

import inspect
import os
import pickle
from argparse import Namespace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from lightning_tiny import Framework, StoreCase, read_run, rows
from test_lightning_packaging import TINY_SCRIPT_HEAD

import trackkit


def _boring(framework: Framework) -> type:
    """Lightning's ``test_loggers_fit_test`` model: one train metric, two at validation end, one at test end."""

    class CustomModel(framework.Module):  # type: ignore[misc, name-defined]
        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            x, y = batch
            loss = torch.nn.functional.mse_loss(self(x), y)
            self.log("train_some_val", loss)
            return loss

        def validation_step(self, batch: Any, batch_idx: int) -> None:
            pass

        def on_validation_epoch_end(self) -> None:
            self.log_dict({"early_stop_on": torch.tensor(1), "val_loss": torch.tensor(0.5)})

        def test_step(self, batch: Any, batch_idx: int) -> None:
            pass

        def on_test_epoch_end(self) -> None:
            self.log("test_loss", torch.tensor(2))

    return CustomModel


def test_loggers_fit_test(framework: Framework, store: StoreCase) -> None:
    """A subclass that records log_metrics sees Lightning's calls; the run holds the same rows (test_all.py)."""

    class StoreHistoryLogger(framework.TrackLogger):  # type: ignore[misc, name-defined]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.history: list[tuple[int, dict[str, Any]]] = []

        def log_metrics(self, metrics: Any, step: Any = None) -> None:
            super().log_metrics(metrics, step)
            self.history.append((step, metrics))

    logger = StoreHistoryLogger(project="fit-test", **store.kwargs)
    trainer = framework.trainer(logger, max_epochs=1, limit_train_batches=1, limit_val_batches=1)
    model = _boring(framework)()
    trainer.fit(model, datamodule=framework.DataModule())
    trainer.test(model, datamodule=framework.DataModule())

    assert [(step, sorted(metrics)) for step, metrics in logger.history] == [
        (0, ["epoch", "train_some_val"]),
        (0, ["early_stop_on", "epoch", "val_loss"]),
        (1, ["epoch", "test_loss"]),
    ]
    history = rows(read_run(logger, store))
    assert [(row["_step"], sorted(k for k in row if k != "_step")) for row in history] == [
        (0, ["early_stop_on", "epoch", "train_some_val", "val_loss"]),
        (1, ["epoch", "test_loss"]),
    ]


def test_loggers_pickle(framework: Framework, store: StoreCase) -> None:
    """A trainer whose logger has started its run pickles; the copy logs into the same live run (test_all.py)."""
    logger = framework.TrackLogger(project="pickle", **store.kwargs)
    _ = logger.experiment
    logger.log_metrics({"a": 1})
    logger.save()
    pickle.dumps(logger)

    trainer = framework.pl.Trainer(max_epochs=1, logger=logger, default_root_dir=os.getcwd())
    trainer2 = pickle.loads(pickle.dumps(trainer))
    trainer2.logger.log_metrics({"acc": 1.0})
    assert trainer2.logger.name == logger.name
    assert trainer2.logger.save_dir == logger.save_dir

    assert logger.experiment.state == "running"
    logger.finalize("success")
    run = read_run(logger, store)
    assert len(store.api().runs("pickle")) == 1
    assert {key for row in rows(run) for key in row} == {"_step", "a", "acc"}


def test_multiple_loggers_and_their_pickle(framework: Framework, store: StoreCase) -> None:
    """TrackLogger next to CSVLogger: both get the metrics; a pickled trainer's loggers log (test_logger.py)."""
    track = framework.TrackLogger(project="multi", **store.kwargs)
    csv = framework.loggers.CSVLogger(os.getcwd())
    trainer = framework.trainer([track, csv], max_steps=2)
    trainer.fit(framework.Module(), datamodule=framework.DataModule())
    assert trainer.state.finished
    assert [row["_step"] for row in rows(read_run(track, store))] == [0, 1]
    assert "train_loss_step" in Path(csv.log_dir, "metrics.csv").read_text()

    fresh = framework.TrackLogger(project="multi-pickle", **store.kwargs)
    trainer = framework.pl.Trainer(logger=[fresh, framework.loggers.CSVLogger(os.getcwd())], default_root_dir=os.getcwd())
    trainer2 = pickle.loads(pickle.dumps(trainer))
    for each in trainer2.loggers:
        each.log_metrics({"acc": 1.0}, 0)
    trainer2.loggers[0].finalize("success")
    assert rows(read_run(fresh, store)) == [{"acc": 1.0, "_step": 0}]


def test_logger_with_prefix(framework: Framework, store: StoreCase) -> None:
    """prefix= puts "<prefix>-" before every key, Lightning's LOGGER_JOIN_CHAR (test_logger_with_prefix_all)."""
    logger = framework.TrackLogger(project="prefix", prefix="tmp", **store.kwargs)
    logger.log_metrics({"test": 1.0}, step=0)
    logger.finalize("success")
    assert rows(read_run(logger, store)) == [{"tmp-test": 1.0, "_step": 0}]


def test_numpy_hyperparameters_become_plain_values(lightning: Framework, store: StoreCase) -> None:
    """numpy scalars in log_hyperparams become Python values (test_np_sanitization)."""
    logger = lightning.TrackLogger(project="np", **store.kwargs)
    logger.log_hyperparams(Namespace(**{
        "np_bool": np.bool_(1), "np_byte": np.byte(2), "np_intc": np.intc(3), "np_int": np.int_(4),
        "np_longlong": np.longlong(5), "np_single": np.single(6.0), "np_double": np.double(8.9),
    }))
    logger.finalize("success")
    config = read_run(logger, store).config
    expected = {"np_bool": True, "np_byte": 2, "np_intc": 3, "np_int": 4, "np_longlong": 5, "np_single": 6.0,
                "np_double": 8.9}
    assert {key: config[key] for key in expected} == expected
    assert all(type(config[key]) is type(value) for key, value in expected.items())


@pytest.mark.parametrize("log_to_logger", [True, False])
def test_save_hyperparameters_logger_flag_is_honoured(lightning: Framework, store: StoreCase, log_to_logger: bool) -> None:
    """save_hyperparameters(logger=False) keeps the hparams out of the run (test_log_hyperparams_being_called)."""

    class Model(lightning.Module):  # type: ignore[misc, name-defined]
        def __init__(self, param_one: str = "pytorch", param_two: str = "lightning") -> None:
            super().__init__()
            self.save_hyperparameters(logger=log_to_logger)

    logger = lightning.TrackLogger(project="hp-flag", **store.kwargs)
    lightning.trainer(logger, max_epochs=1).fit(Model(), datamodule=lightning.DataModule())
    assert ("param_one" in read_run(logger, store).config) is log_to_logger


def test_a_logged_step_key_sets_the_step(lightning: Framework, store: StoreCase) -> None:
    """A "step" key in self.log_dict is used as the step of that call (test_adding_step_key)."""

    class Model(lightning.Module):  # type: ignore[misc, name-defined]
        logged_step = 0

        def on_train_epoch_end(self) -> None:
            type(self).logged_step += 1
            self.log_dict({"step": float(self.logged_step), "train_acc": self.logged_step / 10})

        def on_validation_epoch_end(self) -> None:
            type(self).logged_step += 1
            self.log_dict({"step": float(self.logged_step), "val_acc": self.logged_step / 10})

    logger = lightning.TrackLogger(project="step-key", **store.kwargs)
    lightning.trainer(logger, max_epochs=3, log_every_n_steps=50).fit(Model(), datamodule=lightning.DataModule())
    acc_rows = [row for row in rows(read_run(logger, store)) if "val_acc" in row or "train_acc" in row]
    assert [row["_step"] for row in acc_rows] == [1, 2, 3, 4, 5, 6]
    assert [row["_step"] for row in acc_rows if "val_acc" in row] == [1, 3, 5]


def test_no_private_lightning_state_is_read() -> None:
    """The logger meets its trainer through public paths only: no stack frames, no model._trainer."""
    from trackkit.integrations import _lightning_capture, _lightning_logger

    for module in (_lightning_logger, _lightning_capture):
        source = inspect.getsource(module)
        assert "_getframe" not in source and "._trainer" not in source.replace("self._trainer", "")


@pytest.mark.slow
def test_rank_zero_experiment_under_ddp_spawn(run_python) -> None:
    """Under ddp_spawn on 2 CPU processes, rank 1 gets DummyExperiment and rank 0 the run (test_logger_initialization)."""
    run_python(TINY_SCRIPT_HEAD + """
from lightning.pytorch.loggers.logger import DummyExperiment


class RankZeroLoggerCheck(L.Callback):
    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        is_dummy = isinstance(trainer.logger.experiment, DummyExperiment)
        if trainer.is_global_zero:
            assert not is_dummy
            trainer.logger.experiment.summary["seen_by_rank0"] = 1
        else:
            assert is_dummy
            assert pl_module.logger.experiment.something(foo="bar") is None


if __name__ == "__main__":
    logger = TrackLogger(project="spawn", id="spawn001")
    trainer(logger, strategy="ddp_spawn", devices=2, max_steps=1, callbacks=[RankZeroLoggerCheck()]).fit(Tiny(), loader())
""", timeout=300)
    run = trackkit.Api().run("spawn/spawn001")
    assert run.state == "finished" and run.summary["seen_by_rank0"] == 1


def test_a_logger_unpickled_in_another_process_reopens_its_run_as_the_single_writer(
    lightning: Framework, run_python, tmp_path: Path
) -> None:
    """Another process reopens a finished run from a pickled logger; while this process holds the run, it is refused."""
    finished = lightning.TrackLogger(project="elsewhere")
    lightning.trainer(finished, max_epochs=1).fit(lightning.Module(), datamodule=lightning.DataModule())
    live = lightning.TrackLogger(project="elsewhere")
    live.log_metrics({"here": 1.0}, step=0)
    (tmp_path / "finished.pkl").write_bytes(pickle.dumps(finished))
    (tmp_path / "live.pkl").write_bytes(pickle.dumps(live))

    script = f"""
import pickle, sys
import trackkit
logger = pickle.loads(open({str(tmp_path / "finished.pkl")!r}, "rb").read())
logger.log_metrics({{"from_child": 3.0}}, step=50)
logger.finalize("success")
live = pickle.loads(open({str(tmp_path / "live.pkl")!r}, "rb").read())
try:
    live.log_metrics({{"clash": 1.0}}, step=1)
except trackkit.UsageError as error:
    print("REFUSED", error)
"""
    result = run_python(script)
    assert "REFUSED" in result.stdout and "another process holds it open" in result.stdout
    run = read_run(finished)
    assert run.state == "finished" and rows(run)[-1] == {"from_child": 3.0, "_step": 50}
    live.finalize("success")
    assert rows(read_run(live)) == [{"here": 1.0, "_step": 0}]
