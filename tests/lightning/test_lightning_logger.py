"""TrackLogger with a real Trainer: what a user finds in the run after fit, validate and test."""

from __future__ import annotations

import os
import pickle
from argparse import Namespace

import pytest
import torch
from lightning_tiny import BATCHES_PER_EPOCH, CALLED, Framework, Schedule, StoreCase, read_run, rows

import trackkit
from trackkit.integrations._run_handle import REWIND


def _fit(framework: Framework, logger: object, module_kwargs: dict | None = None, **trainer_kwargs: object):
    model = framework.Module(**(module_kwargs or {}))
    data = framework.DataModule(batch_size=8, noise=0.1)
    trainer = framework.trainer(logger, **trainer_kwargs)
    trainer.fit(model, datamodule=data)
    return trainer, model, data


def test_hyperparameters_of_module_and_datamodule_keep_their_structure(framework: Framework, store: StoreCase) -> None:
    """save_hyperparameters() values land in the config: nesting kept, classes and callables by name, never called."""
    logger = framework.TrackLogger(project="hparams", **store.kwargs)
    _fit(framework, logger, {
        "lr": 0.05,
        "optim": {"betas": [0.9, 0.99], "inner": {"eps": 1e-8}},
        "args": Namespace(depth=3, tag="ns"),
        "schedule": Schedule(warmup=5),
    })

    config = read_run(logger, store).config
    assert config["lr"] == 0.05
    assert config["hidden"] == 16
    assert config["activation"] == "torch.nn.modules.activation.Tanh"
    assert config["init_fn"] == "lightning_tiny.must_not_be_called"
    assert CALLED == []
    assert config["optim"] == {"betas": [0.9, 0.99], "inner": {"eps": 1e-8}}
    assert config["args"] == {"depth": 3, "tag": "ns"}
    assert config["schedule"] == {"warmup": 5, "decay": 0.5}
    assert config["batch_size"] == 8 and config["noise"] == 0.1  # from the datamodule
    assert read_run(logger, store).provenance["lr"] == "lightning"


def test_trainer_arguments_optimizer_and_model_are_captured(framework: Framework, store: StoreCase) -> None:
    """Trainer args, the optimizer's class and defaults, and the model's class and size land under trainer.*."""
    logger = framework.TrackLogger(project="trainer-args", **store.kwargs)
    _, model, _ = _fit(
        framework, logger, max_epochs=2, accumulate_grad_batches=2, gradient_clip_val=0.5,
        gradient_clip_algorithm="value", limit_val_batches=2, check_val_every_n_epoch=1, precision="32-true",
    )

    trainer = read_run(logger, store).config["trainer"]
    assert trainer["max_epochs"] == 2
    assert trainer["max_steps"] == -1
    assert trainer["accumulate_grad_batches"] == 2
    assert trainer["gradient_clip_val"] == 0.5
    assert trainer["gradient_clip_algorithm"] == "value"
    assert trainer["precision"] == "32-true"
    assert trainer["limit_val_batches"] == 2
    assert trainer["limit_train_batches"] == 1.0
    assert trainer["log_every_n_steps"] == 1
    assert trainer["check_val_every_n_epoch"] == 1
    assert trainer["val_check_interval"] == 1.0
    assert (trainer["accelerator"], trainer["strategy"], trainer["devices"]) == ("cpu", "single_device", 1)
    assert (trainer["num_nodes"], trainer["world_size"]) == (1, 1)
    assert trainer["optimizer"]["class"] == "torch.optim.sgd.SGD"
    assert trainer["optimizer"]["lr"] == 0.05
    assert trainer["optimizer"]["momentum"] == 0.9
    assert trainer["optimizer"]["weight_decay"] == 1e-4
    assert trainer["model"]["class"].endswith("TinyRegressor")
    assert trainer["model"]["params"] == sum(p.numel() for p in model.parameters()) == 4 * 16 + 16 + 16 + 1


def test_history_has_one_row_per_lightning_step_with_epoch_metrics(framework: Framework, store: StoreCase) -> None:
    """Each step is one row at Lightning's own step; epoch-end train and val metrics merge into the last step of the epoch."""
    logger = framework.TrackLogger(project="history", **store.kwargs)
    _fit(framework, logger)

    history = rows(read_run(logger, store))
    assert [row["_step"] for row in history] == list(range(2 * BATCHES_PER_EPOCH))
    assert all("train_loss_step" in row for row in history)
    epoch_rows = [row for row in history if "val_loss" in row]
    assert [row["_step"] for row in epoch_rows] == [BATCHES_PER_EPOCH - 1, 2 * BATCHES_PER_EPOCH - 1]
    assert [row["epoch"] for row in epoch_rows] == [0, 1]
    assert all(isinstance(row["train_loss_epoch"], float) for row in epoch_rows)


def test_validate_and_test_after_fit_log_into_the_same_finished_run(framework: Framework, store: StoreCase) -> None:
    """A later validate() and test() add rows to the run of fit(), which is finished after each call."""
    logger = framework.TrackLogger(project="after-fit", **store.kwargs)
    trainer, model, data = _fit(framework, logger)
    assert read_run(logger, store).state == "finished"

    trainer.validate(model, datamodule=data)
    assert read_run(logger, store).state == "finished"
    trainer.test(model, datamodule=data)

    run = read_run(logger, store)
    assert run.state == "finished"
    assert len(store.api().runs("after-fit")) == 1
    history = rows(run)
    test_rows = [row for row in history if "test_loss" in row]
    assert len(test_rows) == 1 and test_rows[0]["epoch"] == 2
    assert len([row for row in history if "val_loss" in row]) == 3  # two epochs, then validate()
    assert run.summary["test_loss"] == test_rows[0]["test_loss"]


def test_training_that_raises_leaves_a_failed_run_with_the_exception(lightning: Framework, store: StoreCase) -> None:
    """An exception during fit() marks the run failed with the exception as its reason; earlier rows are kept."""
    logger = lightning.TrackLogger(project="failing", **store.kwargs)
    with pytest.raises(RuntimeError, match="training exploded"):
        _fit(lightning, logger, {"fail_at_step": 3})

    run = read_run(logger, store)
    assert run.state == "failed"
    assert run.metadata["exit_reason"] == "RuntimeError: training exploded"
    assert [row["_step"] for row in rows(run)] == [0, 1, 2]


def test_checkpoints_are_recorded_in_the_summary_and_put_into_the_run_with_log_model(
    framework: Framework, store: StoreCase
) -> None:
    """Best and last checkpoint paths, the monitor and its best score go to the summary; log_model puts the best file in."""
    logger = framework.TrackLogger(project="ckpt", log_model=True, **store.kwargs)
    checkpoint = framework.callbacks.ModelCheckpoint(monitor="val_loss", mode="min", save_last=True)
    _fit(framework, logger, callbacks=[checkpoint])

    run = read_run(logger, store)
    summary = run.summary
    expected_dir = os.path.join(os.getcwd(), "ckpt", logger.version, "checkpoints")
    assert summary["checkpoint/best_path"] == checkpoint.best_model_path
    assert os.path.dirname(summary["checkpoint/best_path"]) == expected_dir
    assert summary["checkpoint/last_path"] == os.path.join(expected_dir, "last.ckpt")
    assert summary["checkpoint/monitor"] == "val_loss"
    assert summary["checkpoint/best_score"] == pytest.approx(min(r["val_loss"] for r in rows(run) if "val_loss" in r))
    best_name = "checkpoints/" + os.path.basename(checkpoint.best_model_path)
    assert summary["checkpoint/logged_file"] == best_name
    files = store.files("ckpt", logger.version)
    assert list(files) == [best_name]
    with open(checkpoint.best_model_path, "rb") as handle:
        assert files[best_name] == handle.read()


@pytest.mark.parametrize("order", ["best-first", "periodic-first"])
def test_two_checkpoint_callbacks_the_summary_follows_the_monitored_one(
    lightning: Framework, store: StoreCase, order: str
) -> None:
    """With a monitored and a periodic ModelCheckpoint, summary and log_model=True follow the monitored one, in either order."""
    best = lightning.callbacks.ModelCheckpoint(monitor="val_loss", save_top_k=2, mode="min", filename="best-{epoch}")
    periodic = lightning.callbacks.ModelCheckpoint(save_top_k=-1, every_n_epochs=1, filename="every-{epoch}")
    logger = lightning.TrackLogger(project="two-ckpt", log_model=True, **store.kwargs)
    _fit(lightning, logger, callbacks=[best, periodic] if order == "best-first" else [periodic, best], max_epochs=3)

    summary = read_run(logger, store).summary
    assert summary["checkpoint/best_path"] == best.best_model_path
    assert summary["checkpoint/monitor"] == "val_loss"
    assert summary["checkpoint/best_score"] == pytest.approx(float(best.best_model_score))
    assert list(store.files("two-ckpt", logger.version)) == ["checkpoints/" + os.path.basename(best.best_model_path)]


@pytest.mark.parametrize("top_k", [-1, 2])
def test_log_model_all_puts_every_file_lightning_saves(lightning: Framework, store: StoreCase, top_k: int) -> None:
    """log_model="all" puts each checkpoint file into the run as it is saved, best or not."""
    saved: list[str] = []

    class Recorder(lightning.callbacks.ModelCheckpoint):  # type: ignore[misc, name-defined]
        def _save_checkpoint(self, trainer, filepath):  # the files Lightning writes, for the assertion only
            saved.append(os.path.basename(filepath))
            super()._save_checkpoint(trainer, filepath)

    torch.manual_seed(0)
    checkpoint = Recorder(monitor="val_loss", mode="min", save_top_k=top_k, filename="{epoch}")
    logger = lightning.TrackLogger(project="all-ckpt", log_model="all", **store.kwargs)
    _fit(lightning, logger, callbacks=[checkpoint], max_epochs=5)

    assert len(saved) == 5 if top_k == -1 else len(saved) >= 2
    assert sorted(store.files("all-ckpt", logger.version)) == sorted(f"checkpoints/{name}" for name in saved)


def test_autolog_disabled_captures_trainer_arguments_through_the_logger_callback(
    framework: Framework, store: StoreCase
) -> None:
    """With enable_autolog_hparams=False, logger.callback() records trainer.* and the optimizer; without it fit still works."""
    logger = framework.TrackLogger(project="no-autolog", **store.kwargs)
    _fit(framework, logger, enable_autolog_hparams=False, max_epochs=1, callbacks=[logger.callback()])

    config = read_run(logger, store).config
    assert "lr" not in config  # hyperparameters are logged only when the user asks for them then
    assert config["trainer"]["max_epochs"] == 1
    assert config["trainer"]["enable_autolog_hparams"] is False
    assert config["trainer"]["optimizer"]["lr"] == 0.05
    assert config["trainer"]["model"]["params"] == 4 * 16 + 16 + 16 + 1

    plain = framework.TrackLogger(project="no-autolog", **store.kwargs)
    _fit(framework, plain, enable_autolog_hparams=False, max_epochs=1)
    run = read_run(plain, store)
    assert run.state == "finished" and "trainer" not in run.config and len(rows(run)) == BATCHES_PER_EPOCH


def test_logger_attaches_to_the_active_run_and_leaves_finishing_to_its_owner(lightning: Framework, store: StoreCase) -> None:
    """Made while a run is active, the logger writes into that run and does not finish it."""
    with trackkit.init(project="mine", config={"seed": 7}, **store.kwargs) as run:
        logger = lightning.TrackLogger()
        assert (logger.name, logger.version) == ("mine", run.id)
        _fit(lightning, logger, max_epochs=1)
        assert run.state == "running"
        run.log({"after_fit": 1.0})

    api_run = read_run(logger, store)
    assert api_run.state == "finished"
    assert api_run.config["seed"] == 7 and api_run.config["lr"] == 0.05
    assert api_run.summary["after_fit"] == 1.0


def test_logger_takes_an_existing_run(lightning: Framework, store: StoreCase) -> None:
    """run= logs into the given run, which stays the caller's to finish."""
    other = trackkit.init(project="other", reinit="create_new", **store.kwargs)
    run = trackkit.init(project="given", reinit="create_new", **store.kwargs)  # not the current run: `other` is
    logger = lightning.TrackLogger(run=run)
    _fit(lightning, logger, max_epochs=1)
    assert run.state == "running"
    run.finish()
    other.finish()
    assert read_run(logger, store).config["trainer"]["max_epochs"] == 1
    assert rows(store.api().run(f"other/{other.id}")) == []


def test_logger_creates_its_run_from_keyword_arguments_lazily(lightning: Framework, store: StoreCase) -> None:
    """Making the logger writes nothing; the run appears on first use with the given name, tags and config."""
    logger = lightning.TrackLogger(project="kwargs", name="baseline", id="run0001", tags=["tiny"], config={"seed": 3},
                                   **store.kwargs)
    assert (logger.name, logger.version) == ("kwargs", "run0001")
    assert not os.path.exists(os.environ["TRACKKIT_DIR"])
    assert len(store.api().runs("kwargs")) == 0
    _fit(lightning, logger, max_epochs=1)

    run = read_run(logger, store)
    assert (run.name, list(run.tags)) == ("baseline", ["tiny"])
    assert run.config["seed"] == 3 and run.provenance["seed"] == "init"


def test_a_non_zero_rank_never_creates_a_run(lightning: Framework, monkeypatch: pytest.MonkeyPatch) -> None:
    """On global rank 1 experiment is Lightning's DummyExperiment, every logger call is a no-op and nothing is written."""
    from lightning.pytorch.loggers.logger import DummyExperiment
    from lightning_utilities.core.rank_zero import rank_zero_only

    monkeypatch.setattr(rank_zero_only, "rank", 1)
    logger = lightning.TrackLogger(project="ranks", id="shared01")
    assert isinstance(logger.experiment, DummyExperiment)
    assert logger.experiment.log({"x": 1}) is None
    logger.experiment["x"] = 1
    logger.log_hyperparams({"lr": 0.1})
    logger.log_metrics({"loss": 1.0}, step=0)
    logger.after_save_checkpoint(object())
    logger.finalize("success")

    assert (logger.name, logger.version) == ("ranks", "shared01")
    assert trackkit.run is None
    assert not os.path.exists(os.environ["TRACKKIT_DIR"])


def test_logger_pickles_without_its_run_and_reopens_the_same_run(lightning: Framework, store: StoreCase) -> None:
    """A pickled logger (as ddp_spawn sends it) keeps name and version and logs into the same run."""
    logger = lightning.TrackLogger(project="pickled", **store.kwargs)
    _fit(lightning, logger, max_epochs=1)

    clone = pickle.loads(pickle.dumps(logger))
    assert type(clone) is type(logger)
    assert (clone.name, clone.version) == (logger.name, logger.version)
    clone.log_metrics({"late": 2.0}, step=100)
    clone.finalize("success")

    run = read_run(logger, store)
    assert run.state == "finished"
    assert rows(run)[-1] == {"late": 2.0, "_step": 100}
    assert len(store.api().runs("pickled")) == 1


def test_finalize_is_idempotent(lightning: Framework, store: StoreCase) -> None:
    """Calling finalize again, with any status, after a successful fit changes nothing."""
    logger = lightning.TrackLogger(project="twice", **store.kwargs)
    _fit(lightning, logger, max_epochs=1)
    logger.finalize("success")
    logger.finalize("failed")
    assert read_run(logger, store).state == "finished"


def test_arguments_for_a_new_run_are_refused_loudly_when_a_run_is_active(lightning: Framework) -> None:
    """With a run active, project=/name= cannot apply; the logger says so and uses the active run."""
    with trackkit.init(project="active") as run, pytest.warns(UserWarning, match="project=, name= are ignored"):
        logger = lightning.TrackLogger(project="elsewhere", name="new")
    assert (logger.name, logger.version) == ("active", run.id)


@pytest.mark.skipif(not REWIND, reason="this trackkit has no init(resume_from_step=)")
def test_fit_from_a_checkpoint_supersedes_the_rows_logged_after_it(lightning: Framework, store: StoreCase) -> None:
    """fit(ckpt_path=epoch 0) into the same run: the steps the first attempt logged after it show once, from the resumed fit."""
    checkpoint = lightning.callbacks.ModelCheckpoint(save_top_k=-1, every_n_epochs=1, filename="{epoch}")
    first = lightning.TrackLogger(project="rewind", id="job", **store.kwargs)
    _fit(lightning, first, callbacks=[checkpoint], max_epochs=3)  # as if killed after epoch 2, with epoch 0 saved
    epoch0 = os.path.join(checkpoint.dirpath, "epoch=0.ckpt")

    again = lightning.TrackLogger(project="rewind", id="job", **store.kwargs)
    model, data = lightning.Module(), lightning.DataModule(batch_size=8, noise=0.1)
    lightning.trainer(again, max_epochs=3).fit(model, datamodule=data, ckpt_path=epoch0, weights_only=False)

    run = read_run(again, store)
    assert run.state == "finished"
    assert [row["_step"] for row in rows(run)] == list(range(3 * BATCHES_PER_EPOCH))
    every = [row["_step"] for row in run.scan_history(include_superseded=True)]
    assert every == list(range(3 * BATCHES_PER_EPOCH)) + list(range(BATCHES_PER_EPOCH, 3 * BATCHES_PER_EPOCH))
