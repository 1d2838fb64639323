"""TrackLogger with a real Trainer: what a user finds in the run after fit, validate and test."""

from __future__ import annotations

import os
import pickle
from argparse import Namespace

import pytest
import torch
from lightning_tiny import BATCHES_PER_EPOCH, CALLED, Framework, Schedule, read_run, rows

import trackkit


def _fit(framework: Framework, logger: object, module_kwargs: dict | None = None, **trainer_kwargs: object):
    model = framework.Module(**(module_kwargs or {}))
    data = framework.DataModule(batch_size=8, noise=0.1)
    trainer = framework.trainer(logger, **trainer_kwargs)
    trainer.fit(model, datamodule=data)
    return trainer, model, data


def test_hyperparameters_of_module_and_datamodule_keep_their_structure(framework: Framework) -> None:
    """save_hyperparameters() values land in the config: nesting kept, classes and callables by name, never called."""
    logger = framework.TrackLogger(project="hparams")
    _fit(framework, logger, {
        "lr": 0.05,
        "optim": {"betas": [0.9, 0.99], "inner": {"eps": 1e-8}},
        "args": Namespace(depth=3, tag="ns"),
        "schedule": Schedule(warmup=5),
    })

    config = read_run(logger).config
    assert config["lr"] == 0.05
    assert config["hidden"] == 16
    assert config["activation"] == "torch.nn.modules.activation.Tanh"
    assert config["init_fn"] == "lightning_tiny.must_not_be_called"
    assert CALLED == []
    assert config["optim"] == {"betas": [0.9, 0.99], "inner": {"eps": 1e-8}}
    assert config["args"] == {"depth": 3, "tag": "ns"}
    assert config["schedule"] == {"warmup": 5, "decay": 0.5}
    assert config["batch_size"] == 8 and config["noise"] == 0.1  # from the datamodule
    assert read_run(logger).provenance["lr"] == "lightning"


def test_trainer_arguments_optimizer_and_model_are_captured(framework: Framework) -> None:
    """Trainer args, the optimizer's class and defaults, and the model's class and size land under trainer.*."""
    logger = framework.TrackLogger(project="trainer-args")
    _, model, _ = _fit(
        framework, logger, max_epochs=2, accumulate_grad_batches=2, gradient_clip_val=0.5,
        gradient_clip_algorithm="value", limit_val_batches=2, check_val_every_n_epoch=1, precision="32-true",
    )

    trainer = read_run(logger).config["trainer"]
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


def test_history_has_one_row_per_lightning_step_with_epoch_metrics(framework: Framework) -> None:
    """Each step is one row at Lightning's own step; epoch-end train and val metrics merge into the last step of the epoch."""
    logger = framework.TrackLogger(project="history")
    _fit(framework, logger)

    history = rows(read_run(logger))
    assert [row["_step"] for row in history] == list(range(2 * BATCHES_PER_EPOCH))
    assert all("train_loss_step" in row for row in history)
    epoch_rows = [row for row in history if "val_loss" in row]
    assert [row["_step"] for row in epoch_rows] == [BATCHES_PER_EPOCH - 1, 2 * BATCHES_PER_EPOCH - 1]
    assert [row["epoch"] for row in epoch_rows] == [0, 1]
    assert all(isinstance(row["train_loss_epoch"], float) for row in epoch_rows)


def test_validate_and_test_after_fit_log_into_the_same_finished_run(framework: Framework) -> None:
    """A later validate() and test() add rows to the run of fit(), which is finished after each call."""
    logger = framework.TrackLogger(project="after-fit")
    trainer, model, data = _fit(framework, logger)
    assert read_run(logger).state == "finished"

    trainer.validate(model, datamodule=data)
    assert read_run(logger).state == "finished"
    trainer.test(model, datamodule=data)

    run = read_run(logger)
    assert run.state == "finished"
    assert len(trackkit.Api().runs("after-fit")) == 1
    history = rows(run)
    test_rows = [row for row in history if "test_loss" in row]
    assert len(test_rows) == 1 and test_rows[0]["epoch"] == 2
    assert len([row for row in history if "val_loss" in row]) == 3  # two epochs, then validate()
    assert run.summary["test_loss"] == test_rows[0]["test_loss"]


def test_training_that_raises_leaves_a_failed_run(lightning: Framework) -> None:
    """An exception during fit() marks the run failed, with the rows logged before it kept."""
    logger = lightning.TrackLogger(project="failing")
    with pytest.raises(RuntimeError, match="training exploded"):
        _fit(lightning, logger, {"fail_at_step": 3})

    run = read_run(logger)
    assert run.state == "failed"
    assert [row["_step"] for row in rows(run)] == [0, 1, 2]


def test_checkpoints_are_recorded_in_the_summary_and_copied_with_log_model(framework: Framework) -> None:
    """Best and last checkpoint paths, the monitor and its best score go to the summary; log_model copies the best."""
    logger = framework.TrackLogger(project="ckpt", log_model=True)
    checkpoint = framework.callbacks.ModelCheckpoint(monitor="val_loss", mode="min", save_last=True)
    _fit(framework, logger, callbacks=[checkpoint])

    run = read_run(logger)
    summary = run.summary
    expected_dir = os.path.join(os.getcwd(), "ckpt", logger.version, "checkpoints")
    assert summary["checkpoint/best_path"] == checkpoint.best_model_path
    assert os.path.dirname(summary["checkpoint/best_path"]) == expected_dir
    assert summary["checkpoint/last_path"] == os.path.join(expected_dir, "last.ckpt")
    assert summary["checkpoint/monitor"] == "val_loss"
    assert summary["checkpoint/best_score"] == pytest.approx(min(r["val_loss"] for r in rows(run) if "val_loss" in r))
    copied = summary["checkpoint/logged_path"]
    assert os.path.basename(copied) == os.path.basename(checkpoint.best_model_path)
    assert os.path.dirname(os.path.dirname(copied)) == os.path.join(os.environ["TRACKKIT_DIR"], "ckpt", logger.version)
    assert torch.load(copied, weights_only=False)["state_dict"].keys() == torch.load(
        checkpoint.best_model_path, weights_only=False)["state_dict"].keys()


def test_autolog_disabled_still_captures_trainer_arguments(framework: Framework) -> None:
    """With enable_autolog_hparams=False (no log_hyperparams/log_graph), trainer.* and the optimizer are still recorded."""
    logger = framework.TrackLogger(project="no-autolog")
    _fit(framework, logger, enable_autolog_hparams=False, max_epochs=1)

    config = read_run(logger).config
    assert "lr" not in config  # hyperparameters are logged only when the user asks for them then
    assert config["trainer"]["max_epochs"] == 1
    assert config["trainer"]["enable_autolog_hparams"] is False
    assert config["trainer"]["optimizer"]["lr"] == 0.05
    assert config["trainer"]["model"]["params"] == 4 * 16 + 16 + 16 + 1


def test_logger_attaches_to_the_active_run_and_leaves_finishing_to_its_owner(lightning: Framework) -> None:
    """Made while a run is active, the logger writes into that run and does not finish it."""
    with trackkit.init(project="mine", config={"seed": 7}) as run:
        logger = lightning.TrackLogger()
        assert (logger.name, logger.version) == ("mine", run.id)
        _fit(lightning, logger, max_epochs=1)
        assert run.state == "running"
        run.log({"after_fit": 1.0})

    api_run = read_run(logger)
    assert api_run.state == "finished"
    assert api_run.config["seed"] == 7 and api_run.config["lr"] == 0.05
    assert api_run.summary["after_fit"] == 1.0


def test_logger_takes_an_existing_run(lightning: Framework) -> None:
    """run= logs into the given run, which stays the caller's to finish."""
    other = trackkit.init(project="other", reinit="create_new")
    run = trackkit.init(project="given", reinit="create_new")  # not the current run: `other` is
    logger = lightning.TrackLogger(run=run)
    _fit(lightning, logger, max_epochs=1)
    assert run.state == "running"
    run.finish()
    other.finish()
    assert read_run(logger).config["trainer"]["max_epochs"] == 1
    assert rows(trackkit.Api().run(f"other/{other.id}")) == []


def test_logger_creates_its_run_from_keyword_arguments_lazily(lightning: Framework) -> None:
    """Making the logger writes nothing; the run appears on first use with the given name, tags and config."""
    logger = lightning.TrackLogger(project="kwargs", name="baseline", id="run0001", tags=["tiny"], config={"seed": 3})
    assert (logger.name, logger.version) == ("kwargs", "run0001")
    assert not os.path.exists(os.environ["TRACKKIT_DIR"])
    _fit(lightning, logger, max_epochs=1)

    run = read_run(logger)
    assert (run.name, list(run.tags)) == ("baseline", ["tiny"])
    assert run.config["seed"] == 3 and run.provenance["seed"] == "init"


def test_a_non_zero_rank_never_creates_a_run(lightning: Framework, monkeypatch: pytest.MonkeyPatch) -> None:
    """On global rank 1 every logger call is a no-op and nothing is written."""
    from lightning_utilities.core.rank_zero import rank_zero_only

    monkeypatch.setattr(rank_zero_only, "rank", 1)
    logger = lightning.TrackLogger(project="ranks", id="shared01")
    logger.experiment.log({"x": 1})
    logger.experiment.summary["x"] = 1
    logger.log_hyperparams({"lr": 0.1})
    logger.log_metrics({"loss": 1.0}, step=0)
    logger.after_save_checkpoint(object())
    logger.finalize("success")

    assert (logger.name, logger.version) == ("ranks", "shared01")
    assert trackkit.run is None
    assert not os.path.exists(os.environ["TRACKKIT_DIR"])


def test_logger_pickles_without_its_run_and_reopens_the_same_run(lightning: Framework) -> None:
    """A pickled logger (as ddp_spawn sends it) keeps name and version and logs into the same run."""
    logger = lightning.TrackLogger(project="pickled")
    _fit(lightning, logger, max_epochs=1)

    clone = pickle.loads(pickle.dumps(logger))
    assert type(clone) is type(logger)
    assert (clone.name, clone.version) == (logger.name, logger.version)
    clone.log_metrics({"late": 2.0}, step=100)
    clone.finalize("success")

    run = read_run(logger)
    assert run.state == "finished"
    assert rows(run)[-1] == {"late": 2.0, "_step": 100}
    assert len(trackkit.Api().runs("pickled")) == 1


def test_finalize_is_idempotent(lightning: Framework) -> None:
    """Calling finalize again, with any status, after a successful fit changes nothing."""
    logger = lightning.TrackLogger(project="twice")
    _fit(lightning, logger, max_epochs=1)
    logger.finalize("success")
    logger.finalize("failed")
    assert read_run(logger).state == "finished"


def test_arguments_for_a_new_run_are_refused_loudly_when_a_run_is_active(lightning: Framework) -> None:
    """With a run active, project=/name= cannot apply; the logger says so and uses the active run."""
    with trackkit.init(project="active") as run, pytest.warns(UserWarning, match="project=, name= are ignored"):
        logger = lightning.TrackLogger(project="elsewhere", name="new")
    assert (logger.name, logger.version) == ("active", run.id)
