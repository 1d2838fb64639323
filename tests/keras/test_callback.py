"""The Keras 3 callback on the backend of this process (``KERAS_BACKEND``), read back through ``store.api()``."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras_models import TRAIN_STEPS, StoreCase, Subclassed, compiled, fit, sequential

import trackkit
from trackkit.integrations.keras import TrackCallback

BACKEND = keras.backend.backend()


def stored(run: trackkit.Run, store: StoreCase) -> trackkit.ApiRun:
    run.flush()
    return store.api().run(f"{run.project}/{run.id}")


def epoch_rows(api_run: trackkit.ApiRun) -> list[dict]:
    return [row for row in api_run.scan_history() if "epoch" in row]


def test_config_has_fit_optimizer_compile_and_model_facts(data, store):
    """on_train_begin records epochs, steps, the optimizer config, loss, metrics, model name and size."""
    with TrackCallback(project="keras", **store.kwargs, config={"units": 8}) as callback:
        fit(compiled(sequential()), data, callback)
    config = stored(callback.run, store).config
    facts = config["keras"]
    assert config["units"] == 8
    assert facts["epochs"] == 3 and facts["steps_per_epoch"] == TRAIN_STEPS
    assert facts["backend"] == BACKEND and facts["version"] == keras.__version__
    assert facts["optimizer"]["name"].startswith("adam")  # Keras numbers the names of later optimizers
    assert facts["optimizer"]["learning_rate"] == pytest.approx(0.01)
    assert facts["optimizer"]["beta_1"] == pytest.approx(0.9)
    assert facts["optimizer"]["class"].endswith("Adam")
    assert facts["loss"] == "binary_crossentropy"
    assert facts["metrics"] == ["accuracy"]
    assert facts["model"] == {
        "name": "tiny_mlp", "class": "keras.src.models.sequential.Sequential", "params": 49, "trainable_params": 49,
    }
    assert stored(callback.run, store).provenance["keras.optimizer.learning_rate"] == "keras"


def test_one_history_row_per_epoch_with_logs_lr_and_epoch(data, store):
    """Each epoch is one row at step=epoch with loss, metrics, val_* values, learning_rate and epoch."""
    with TrackCallback(project="keras", **store.kwargs) as callback:
        fit(compiled(sequential()), data, callback)
    api_run = stored(callback.run, store)
    rows = list(api_run.scan_history())
    assert [row["epoch"] for row in rows] == [0, 1, 2]
    assert [row["_step"] for row in rows] == [0, 1, 2]
    for row in rows:
        assert {"loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"} <= set(row)
        assert row["learning_rate"] == pytest.approx(0.01)
    assert api_run.summary["loss"] == rows[-1]["loss"]
    assert api_run.summary["val_loss"] == rows[-1]["val_loss"]
    assert api_run.state == "finished"


def test_learning_rate_schedule_config_and_current_value(data, store):
    """A schedule is recorded as its config, and each epoch logs the rate it trained with (not the next epoch's)."""
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=2, decay_rate=0.5)
    with TrackCallback(project="keras", **store.kwargs) as callback:
        fit(compiled(sequential(), learning_rate=schedule), data, callback)
    api_run = stored(callback.run, store)
    learning_rate = api_run.config["keras"]["optimizer"]["learning_rate"]
    assert learning_rate["class_name"] == "ExponentialDecay"
    assert learning_rate["config"]["initial_learning_rate"] == pytest.approx(0.1)
    assert learning_rate["config"]["decay_steps"] == 2
    logged = [row["learning_rate"] for row in epoch_rows(api_run)]
    expected = [float(schedule(TRAIN_STEPS * epoch)) for epoch in range(3)]
    assert logged == pytest.approx(expected)
    assert logged[0] == 0.1
    assert logged[0] > logged[1] > logged[2]


def test_float32_hyperparameters_are_stored_as_written(data, store):
    """SGD(0.1) keeps 0.1 in float32; config and history say 0.1, so a filter on 0.1 finds the run."""
    model = sequential()
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), loss="binary_crossentropy")
    with TrackCallback(project="float32", **store.kwargs) as callback:
        fit(model, data, callback, epochs=1)
    api_run = stored(callback.run, store)
    optimizer = api_run.config["keras"]["optimizer"]
    assert (optimizer["learning_rate"], optimizer["momentum"]) == (0.1, 0.9)
    assert epoch_rows(api_run)[0]["learning_rate"] == 0.1
    found = store.api().runs("float32", filters={"config.keras.optimizer.learning_rate": 0.1})
    assert [run.id for run in found] == [callback.run.id]


def test_subclassed_model_records_its_parameter_count(data, store):
    """A subclassed model with no Input still gets its name, class and parameter count (4*6+6 + 6+1 = 37)."""
    model = compiled(Subclassed())
    with TrackCallback(project="keras", **store.kwargs) as callback:
        fit(model, data, callback, epochs=2)
    facts = stored(callback.run, store).config["keras"]["model"]
    assert facts["name"] == "subclassed_net"
    assert facts["class"].endswith("Subclassed")
    assert facts["params"] == model.count_params() == 37
    assert len(epoch_rows(stored(callback.run, store))) == 2


def test_unbuilt_model_gets_its_parameter_count_once_built(store):
    """In a hand-driven loop with a model not yet built, the parameter count is recorded at the first epoch end."""
    model = compiled(Subclassed())
    callback = TrackCallback(project="keras", **store.kwargs)
    callbacks = keras.callbacks.CallbackList([callback], model=model, epochs=1, steps=1)
    callbacks.on_train_begin()
    assert "params" not in callback.run.config["keras"]["model"]
    model(np.zeros((2, 4), dtype="float32"))  # builds the model
    callbacks.on_epoch_begin(0)
    callbacks.on_epoch_end(0, {"loss": 0.5})
    callbacks.on_train_end()
    callback.finish()
    api_run = stored(callback.run, store)
    assert api_run.config["keras"]["model"]["params"] == 37
    assert [(row["epoch"], row["loss"]) for row in api_run.scan_history()] == [(0, 0.5)]


def test_a_finished_run_is_replaced_at_the_next_fit(data, store):
    """After callback.finish(), fitting again with the same callback starts a new run."""
    callback = TrackCallback(project="keras", **store.kwargs)
    model = compiled(sequential())
    fit(model, data, callback, epochs=1)
    first = callback.run
    callback.finish()
    fit(model, data, callback, epochs=2)
    callback.finish()
    assert callback.run is not first
    assert [len(epoch_rows(stored(run, store))) for run in (first, callback.run)] == [1, 2]
    assert {run.state for run in store.api().runs("keras")} == {"finished"}


def test_evaluate_after_fit_logs_into_the_same_run(data, store):
    """evaluate() after fit() logs eval/<metric> once, into the same run, and it reaches the summary."""
    x, y = data
    model = compiled(sequential())
    with TrackCallback(project="keras", **store.kwargs) as callback:
        fit(model, data, callback)
        assert stored(callback.run, store).state == "running"
        results = model.evaluate(x, y, verbose=0, callbacks=[callback], return_dict=True)
    api_run = stored(callback.run, store)
    eval_rows = [row for row in api_run.scan_history() if "eval/loss" in row]
    assert len(eval_rows) == 1
    assert eval_rows[0]["eval/loss"] == pytest.approx(results["loss"])
    assert eval_rows[0]["eval/accuracy"] == pytest.approx(results["accuracy"])
    assert eval_rows[0]["_step"] == 2  # the last epoch's step
    assert api_run.summary["eval/loss"] == pytest.approx(results["loss"])
    assert len(epoch_rows(api_run)) == 3 and not any("eval/loss" in row for row in epoch_rows(api_run))
    assert len(store.api().runs("keras")) == 1
    assert api_run.state == "finished"


def test_created_run_is_finished_by_finish_and_failed_by_an_error(data, store):
    """A run the callback created stays open after fit; finish() closes it, an error in `with` marks it failed."""
    callback = TrackCallback(project="keras", **store.kwargs, name="first")
    fit(compiled(sequential()), data, callback, epochs=1)
    assert trackkit.run is callback.run
    assert stored(callback.run, store).state == "running"
    callback.finish()
    assert store.api().run(f"keras/{callback.run.id}").state == "finished"
    assert trackkit.run is None

    with pytest.raises(RuntimeError), TrackCallback(project="keras", **store.kwargs, name="second") as failing:
        fit(compiled(sequential()), data, failing, epochs=1)
        raise RuntimeError("boom")
    assert store.api().run(f"keras/{failing.run.id}").state == "failed"


def test_attaches_to_the_current_run_and_leaves_it_open(data, store):
    """With a run active, the callback logs into it and never finishes it."""
    run = trackkit.init(project="keras", **store.kwargs, config={"lr_note": "set by user"})
    callback = TrackCallback()
    fit(compiled(sequential()), data, callback, epochs=2)
    callback.finish()
    assert callback.run is run and run.state == "running"
    run.log({"after": 1.0})
    run.finish()
    api_run = stored(run, store)
    assert api_run.config["lr_note"] == "set by user" and api_run.config["keras"]["epochs"] == 2
    assert len(epoch_rows(api_run)) == 2
    assert api_run.state == "finished"


def test_explicit_run_argument_is_used(data, store):
    """run= is used even when another run is current; run= together with init arguments is refused."""
    other = trackkit.init(project="keras", **store.kwargs, name="other")
    mine = trackkit.init(project="keras", **store.kwargs, name="mine", reinit="create_new")
    assert trackkit.run is other
    callback = TrackCallback(run=mine)
    fit(compiled(sequential()), data, callback, epochs=1)
    assert len(epoch_rows(stored(mine, store))) == 1
    with pytest.raises(TypeError, match="either run= or"):
        TrackCallback(run=mine, project="keras")
    with pytest.raises(TypeError, match="unexpected keyword"):
        TrackCallback(projet="keras")


def test_batch_logging_only_when_asked(data, store):
    """log_every_n_batches=2 adds batch/* rows every 2 global batches; without it no batch hook is defined."""
    plain = TrackCallback(project="keras", **store.kwargs)
    batched = TrackCallback(project="keras", **store.kwargs, log_every_n_batches=2)
    model = compiled(sequential())
    baseline = keras.callbacks.CallbackList([keras.callbacks.Callback()], model=model)._async_train
    assert keras.callbacks.CallbackList([plain], model=model)._async_train == baseline
    assert keras.callbacks.CallbackList([batched], model=model)._async_train is False
    assert "on_train_batch_end" not in vars(type(plain)) and "on_train_batch_end" not in vars(plain)

    fit(model, data, batched, epochs=2)
    batched.finish()
    rows = list(stored(batched.run, store).scan_history())
    batch_rows = [row for row in rows if "batch/loss" in row]
    assert [row["batch/step"] for row in batch_rows] == [2, 4, 6]
    assert [row["_step"] for row in batch_rows] == [2, 4, 6]
    assert [(row["epoch"], row["_step"]) for row in rows if "epoch" in row] == [(0, 3), (1, 6)]
    assert all("batch/accuracy" in row for row in batch_rows)


def test_fit_on_torch_or_jax_does_not_import_tensorflow(run_python):
    """On the torch and JAX backends, a fit with the callback leaves TensorFlow unimported."""
    if BACKEND == "tensorflow":
        pytest.skip("the TensorFlow backend imports TensorFlow by design")
    script = """
        import json, sys
        import numpy as np
        import keras
        from trackkit.integrations.keras import TrackCallback

        def train(callbacks):
            model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)], name="probe")
            schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 2, 0.5)
            model.compile(optimizer=keras.optimizers.SGD(schedule), loss="mse", metrics=["mae"])
            model.fit(np.ones((8, 3)), np.ones((8,)), epochs=1, batch_size=4, verbose=0, callbacks=callbacks)
            model.evaluate(np.ones((8, 3)), np.ones((8,)), verbose=0, callbacks=callbacks)

        train([])  # whatever the backend itself imports (torch._dynamo imports TF when it is installed)
        before = "tensorflow" in sys.modules
        callback = TrackCallback(project="probe")
        train([callback])
        callback.finish()
        print(json.dumps({"before": before, "after": "tensorflow" in sys.modules,
                          "lr": callback.run.config["keras"]["optimizer"]["learning_rate"]["class_name"]}))
    """
    import json

    result = json.loads(run_python(script, timeout=300).stdout.strip().splitlines()[-1])
    if result["before"]:
        pytest.skip(f"the {BACKEND} backend imported TensorFlow by itself")
    assert result == {"before": False, "after": False, "lr": "ExponentialDecay"}


def test_deep_copy_logs_to_the_same_run(data, store):
    """A deep copy (as KerasTuner makes of callbacks) shares the run instead of failing to copy it."""
    import copy

    callback = TrackCallback(project="keras", **store.kwargs, log_every_n_batches=3)
    fit(compiled(sequential()), data, callback, epochs=1)
    clone = copy.deepcopy(callback)
    fit(compiled(sequential()), data, clone, epochs=1)
    callback.finish()
    assert clone.run is callback.run
    rows = list(stored(callback.run, store).scan_history())
    assert [row["_step"] for row in rows if "batch/loss" in row] == [3, 6]
    assert len([row for row in rows if "epoch" in row]) == 2


def test_missing_keras_names_the_extra(run_python):
    """Without Keras, importing the integration raises an ImportError naming trackkit[keras]."""
    script = """
        import sys
        sys.modules["keras"] = None  # as if Keras were not installed
        try:
            import trackkit.integrations.keras
        except ImportError as error:
            print(error, "| cause:", error.__cause__, "| suppressed:", error.__suppress_context__)
    """
    output = run_python(script).stdout
    assert "pip install 'trackkit[keras]'" in output
    assert "cause: None | suppressed: True" in output


def test_log_values_are_plain_numbers(data, store):
    """History values are JSON numbers on every backend (no tensors or numpy scalars leak into the store)."""
    with TrackCallback(project="keras", **store.kwargs) as callback:
        fit(compiled(sequential()), data, callback, epochs=1)
    (row,) = epoch_rows(stored(callback.run, store))
    assert all(type(value) in (int, float) for value in row.values()), row
    assert np.isfinite(row["loss"])


@pytest.mark.parametrize("example", ["keras_example.py"])
def test_example_runs(run_python, example):
    """The example script runs as written on this backend and finishes its run."""
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "examples" / example
    result = run_python(path.read_text(), env={"KERAS_BACKEND": BACKEND}, timeout=300)
    assert f"(finished) on {BACKEND}" in result.stdout
    (run,) = trackkit.Api().runs("keras-example")
    assert run.config["keras"]["epochs"] == 5 and "eval/accuracy" in run.summary


def test_the_one_private_keras_object_still_exists():
    """The plugin touches one private Keras object (the lazy tensorflow module's _available cache); fail loudly if it moves."""
    if BACKEND == "tensorflow":
        pytest.skip("only used on the torch and JAX backends")
    import keras.src.saving.serialization_lib  # noqa: F401  (imports module_utils as Keras's serializer does)

    from trackkit.integrations.keras import lazy_tensorflow_module

    lazy = lazy_tensorflow_module()
    assert lazy is not None, "keras.src.utils.module_utils.tensorflow moved: update lazy_tensorflow_module()"
    assert lazy.__class__.__name__ == "LazyModule" and lazy.name == "tensorflow"
    assert hasattr(lazy, "_available") and "available" in dir(type(lazy))
