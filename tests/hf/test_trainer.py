"""The Trainer callback in-process: config, history, summary and run ownership, read back through ``trackkit.Api()``."""

from __future__ import annotations

from pathlib import Path

import pytest
from hf_tiny import RandomTokens, StoreCase, tiny_model, tiny_trainer
from transformers import TrainerControl, TrainerState

import trackkit
from trackkit.integrations._run_handle import REWIND
from trackkit.integrations.transformers import TrackCallback


def only_run(project: str = "huggingface", store: StoreCase | None = None) -> trackkit.ApiRun:
    runs = list((store.api() if store is not None else trackkit.Api()).runs(project))
    assert len(runs) == 1, runs
    return runs[0]


def rows_with(run: trackkit.ApiRun, key: str) -> list[dict]:
    return [row for row in run.scan_history() if key in row]


def test_report_to_records_training_args_and_model(tmp_path: Path) -> None:
    """report_to="trackkit" puts TrainingArguments at the top of the config and the model under model.*."""
    model = tiny_model()
    tiny_trainer(str(tmp_path / "out"), model=model, run_name="tiny-bert", hub_token="hf_secret").train()
    trackkit.finish()

    run = only_run()
    assert run.name == "tiny-bert"
    config = run.config
    assert config["learning_rate"] == 3e-4
    assert config["max_steps"] == 10
    assert config["per_device_train_batch_size"] == 4
    assert config["report_to"] == ["trackkit"]
    assert config["hub_token"] == "<HUB_TOKEN>"  # masked as TrainingArguments.to_dict() does
    assert config["model"]["hidden_size"] == 32
    assert config["model"]["num_hidden_layers"] == 1
    assert config["model"]["num_parameters"] == model.num_parameters() > 0
    assert config["model"]["class"] == "transformers.models.bert.modeling_bert.BertForSequenceClassification"
    assert run.provenance["learning_rate"] == "transformers"
    assert run.provenance["model.hidden_size"] == "transformers"


def test_history_has_train_and_eval_rows_at_global_steps(tmp_path: Path) -> None:
    """Train logs land at their global step as train/*, evaluations as eval/*, one row per step."""
    tiny_trainer(str(tmp_path / "out")).train()
    trackkit.finish()

    run = only_run()
    rows = list(run.scan_history())
    assert [row["_step"] for row in rows] == [2, 4, 5, 6, 8, 10]
    assert [row["_step"] for row in rows if "train/loss" in row] == [2, 4, 6, 8, 10]
    assert [row["_step"] for row in rows if "eval/loss" in row] == [5, 10]
    assert all("train/learning_rate" in row and "train/grad_norm" in row for row in rows_with(run, "train/loss"))
    assert rows[-1]["train/epoch"] == 1.0
    assert run.state == "finished"


def test_one_off_values_go_to_the_summary(tmp_path: Path) -> None:
    """train_runtime, train_loss, total_flos ... are summary values, not history columns."""
    tiny_trainer(str(tmp_path / "out")).train()
    trackkit.finish()

    run = only_run()
    for key in ("train_runtime", "train_samples_per_second", "train_steps_per_second", "train_loss", "total_flos"):
        assert key in run.summary, key
        assert not rows_with(run, key) and not rows_with(run, f"train/{key}")
    assert run.summary["train/loss"] == rows_with(run, "train/loss")[-1]["train/loss"]


def test_evaluate_and_predict_after_training_land_in_the_same_run(tmp_path: Path) -> None:
    """A later trainer.evaluate() and predict() log into the run of the training, in rows of their own."""
    trainer = tiny_trainer(str(tmp_path / "out"))
    trainer.train()
    in_training = trackkit.run.summary["eval/loss"]
    metrics = trainer.evaluate(RandomTokens(8, seed=5))
    trainer.predict(RandomTokens(8, seed=6))
    trackkit.finish()

    run = only_run()
    eval_rows = rows_with(run, "eval/loss")
    assert [row["_step"] for row in eval_rows] == [5, 10, 10]
    assert eval_rows[1]["eval/loss"] == in_training
    assert eval_rows[2]["eval/loss"] == pytest.approx(metrics["eval_loss"])
    assert [row["_step"] for row in rows_with(run, "test/loss")] == [10]
    assert run.state == "finished"


def test_report_to_and_an_explicit_callback_log_once(tmp_path: Path, store: StoreCase) -> None:
    """report_to="trackkit" plus callbacks=[TrackCallback(...)]: one run, each row once, the explicit one's options."""
    trainer = tiny_trainer(str(tmp_path / "out"), callbacks=[TrackCallback(project="explicit", tags=["tiny"], **store.kwargs)])
    assert sum(isinstance(cb, TrackCallback) for cb in trainer.callback_handler.callbacks) == 2
    trainer.train()
    trackkit.finish()

    assert list(trackkit.Api().runs("huggingface")) == [] and list(store.api().runs("huggingface")) == []
    run = only_run("explicit", store)
    assert run.tags == ["tiny"]
    assert [row["_step"] for row in rows_with(run, "train/loss")] == [2, 4, 6, 8, 10]
    assert [row["_step"] for row in run.scan_history()] == [2, 4, 5, 6, 8, 10]


def test_callbacks_argument_works_without_report_to(tmp_path: Path, store: StoreCase) -> None:
    """callbacks=[TrackCallback(project=..., config=...)] alone creates the run, with the extra config."""
    callback = TrackCallback(project="glue", name="explicit-name", config={"dataset": "random"}, **store.kwargs)
    tiny_trainer(str(tmp_path / "out"), report_to="none", run_name="ignored", callbacks=[callback]).train()
    callback.finish()

    run = only_run("glue", store)
    assert run.name == "explicit-name"
    assert run.config["dataset"] == "random"
    assert run.config["learning_rate"] == 3e-4
    assert run.state == "finished"


def test_attaches_to_the_active_run_and_leaves_it_open(tmp_path: Path, store: StoreCase) -> None:
    """With trackkit.init() first, the Trainer logs into that run and does not finish it."""
    with trackkit.init(project="mine", config={"dataset": "random", "learning_rate": 0.1}, **store.kwargs) as run:
        trainer = tiny_trainer(str(tmp_path / "out"))
        trainer.train()
        trainer.evaluate()
        assert run.state == "running"
        run.log({"after": 1.0}, step=11)

    stored = only_run("mine", store)
    assert stored.config["dataset"] == "random"
    assert stored.config["learning_rate"] == 3e-4  # what actually trained; the change is recorded
    assert any(c["key"] == "learning_rate" and c["old"] == 0.1 for c in stored.config_changes)
    assert [row["_step"] for row in rows_with(stored, "train/loss")] == [2, 4, 6, 8, 10]
    assert rows_with(stored, "after")
    assert list(trackkit.Api().runs("huggingface")) == []


def test_uses_the_run_passed_in(tmp_path: Path, store: StoreCase) -> None:
    """TrackCallback(run=run) logs into that run even when another run is current."""
    target = trackkit.init(project="target", reinit="create_new", **store.kwargs)
    trackkit.init(project="other", reinit="create_new", **store.kwargs)
    tiny_trainer(str(tmp_path / "out"), report_to="none", callbacks=[TrackCallback(run=target)]).train()
    target.finish()

    assert rows_with(only_run("target", store), "train/loss")
    assert list(only_run("other", store).scan_history()) == []


def test_project_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """TRACKKIT_PROJECT names the project of a run created by report_to."""
    monkeypatch.setenv("TRACKKIT_PROJECT", "from-env")
    tiny_trainer(str(tmp_path / "out")).train()
    trackkit.finish()
    assert only_run("from-env").config["max_steps"] == 10


def test_two_trainers_get_two_runs(tmp_path: Path) -> None:
    """Each Trainer in a script gets its own run; the first one's later evaluate() still reaches its run."""
    first = tiny_trainer(str(tmp_path / "a"), run_name="first")
    first.train()
    second = tiny_trainer(str(tmp_path / "b"), run_name="second", learning_rate=1e-4)
    second.train()
    first.evaluate()
    trackkit.finish()
    for run in list(trackkit.Api().runs("huggingface")):
        if run.state == "running":
            pytest.fail(f"{run.name} still running")

    runs = {run.name: run for run in trackkit.Api().runs("huggingface")}
    assert set(runs) == {"first", "second"}
    assert runs["second"].config["learning_rate"] == 1e-4
    assert [row["_step"] for row in rows_with(runs["first"], "eval/loss")] == [5, 10, 10]
    assert [row["_step"] for row in rows_with(runs["second"], "eval/loss")] == [5, 10]


def test_only_world_process_zero_writes(tmp_path: Path) -> None:
    """On any other rank the callback creates no run and logs nothing."""
    trainer = tiny_trainer(str(tmp_path / "out"), report_to="none")
    callback, state, control = TrackCallback(), TrainerState(), TrainerControl()
    state.is_world_process_zero = False
    callback.on_init_end(trainer.args, state, control)
    callback.on_train_begin(trainer.args, state, control, model=trainer.model)
    callback.on_log(trainer.args, state, control, logs={"loss": 0.5, "epoch": 0.1})
    callback.on_train_end(trainer.args, state, control, model=trainer.model)

    assert callback.run is None and trackkit.run is None
    assert list(trackkit.Api().runs("huggingface")) == []


def test_text_metrics_are_kept(tmp_path: Path) -> None:
    """compute_metrics values that are not numbers are logged as they are, or as text."""
    trainer = tiny_trainer(str(tmp_path / "out"), report_to="none", max_steps=2, eval_steps=2,
                           callbacks=[TrackCallback()])
    trainer.compute_metrics = lambda prediction: {"note": "ok", "counts": [1, 2], "odd": {1, 2}}
    with pytest.warns(RuntimeWarning, match="eval/odd"):
        trainer.train()
    trackkit.finish()

    row = rows_with(only_run(), "eval/note")[0]
    assert row["eval/note"] == "ok"
    assert row["eval/counts"] == [1, 2]
    assert row["eval/odd"] == "{1, 2}"


def test_each_hyperparameter_search_trial_gets_its_own_run(tmp_path: Path) -> None:
    """trainer.hyperparameter_search() gives one run per trial, named by hp_name, grouped, with its parameters."""
    optuna = pytest.importorskip("optuna")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    trainer = tiny_trainer(str(tmp_path / "out"), run_name="search", model=None)
    trainer.model_init = lambda trial=None: tiny_model()
    trainer.hyperparameter_search(
        hp_space=lambda trial: {"learning_rate": trial.suggest_float("learning_rate", 1e-4, 1e-3, log=True)},
        hp_name=lambda trial: f"trial-{trial.number}",
        n_trials=2,
        backend="optuna",
        direction="minimize",
    )
    trackkit.finish()

    runs = {run.name: run for run in trackkit.Api().runs("huggingface")}
    assert set(runs) == {"trial-0", "trial-1"}
    for run in runs.values():
        assert run.state == "finished"
        assert run.group == "search"
        assert run.config["learning_rate"] == run.config["trial_params"]["learning_rate"]
        assert [row["_step"] for row in rows_with(run, "train/loss")] == [2, 4, 6, 8, 10]
    assert runs["trial-0"].config["learning_rate"] != runs["trial-1"].config["learning_rate"]


def test_a_finished_run_is_reopened_through_its_store_for_a_later_evaluate(tmp_path: Path, store: StoreCase) -> None:
    """callback.finish() after train(), then evaluate(): the run is reopened in the store it lives in, not a new one."""
    callback = TrackCallback(project="reopen", **store.kwargs)
    trainer = tiny_trainer(str(tmp_path / "out"), report_to="none", callbacks=[callback])
    trainer.train()
    callback.finish()
    trainer.evaluate(RandomTokens(8, seed=5))
    callback.finish()

    run = only_run("reopen", store)
    assert run.state == "finished"
    assert [row["_step"] for row in rows_with(run, "eval/loss")] == [5, 10, 10]


@pytest.mark.skipif(not REWIND, reason="this trackkit has no init(resume_from_step=)")
def test_resume_from_checkpoint_supersedes_the_rows_logged_after_it(tmp_path: Path, store: StoreCase) -> None:
    """train(resume_from_checkpoint=checkpoint-6) into the same run: steps 8 and 10 of the first attempt are superseded."""
    out = str(tmp_path / "out")
    first = TrackCallback(project="resume", id="job", **store.kwargs)
    tiny_trainer(out, report_to="none", save_strategy="steps", save_steps=6, callbacks=[first]).train()
    first.finish()  # as if the job was killed after step 10, with checkpoint-6 on disk

    second = TrackCallback(project="resume", id="job", resume="allow", **store.kwargs)
    trainer = tiny_trainer(out, report_to="none", save_strategy="no", callbacks=[second])
    trainer.train(resume_from_checkpoint=str(tmp_path / "out" / "checkpoint-6"))
    second.finish()

    run = only_run("resume", store)
    assert [row["_step"] for row in rows_with(run, "train/loss")] == [2, 4, 6, 8, 10]
    assert [row["_step"] for row in rows_with(run, "eval/loss")] == [5, 10]
    every = [row["_step"] for row in run.scan_history(include_superseded=True) if "train/loss" in row]
    assert every == [2, 4, 6, 8, 10, 8, 10]
