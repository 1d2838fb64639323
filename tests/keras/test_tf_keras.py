"""The legacy ``tf_keras`` (Keras 2) callback: the same config, rows and run handling as the Keras 3 one."""

from __future__ import annotations

import numpy as np
import pytest

tf_keras = pytest.importorskip("tf_keras", reason="tf_keras is installed in the keras-tensorflow environment only")

import trackkit  # noqa: E402
from trackkit.integrations.tf_keras import TrackCallback  # noqa: E402


def tiny_model() -> tf_keras.Model:
    model = tf_keras.Sequential(
        [tf_keras.Input((4,)), tf_keras.layers.Dense(8, activation="relu"), tf_keras.layers.Dense(1, activation="sigmoid")],
        name="legacy_mlp",
    )
    schedule = tf_keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=2, decay_rate=0.5)
    model.compile(optimizer=tf_keras.optimizers.Adam(schedule), loss="binary_crossentropy", metrics=["accuracy"])
    return model


def test_tf_keras_fit_and_evaluate_are_tracked():
    """A tf_keras fit records config and one row per epoch; evaluate() adds eval/*; batch logging works."""
    rng = np.random.default_rng(0)
    x = rng.random((64, 4), dtype=np.float32)
    y = (x.sum(axis=1) > 2).astype("float32")
    model = tiny_model()
    with TrackCallback(project="legacy", config={"note": "tf_keras"}, log_every_n_batches=3) as callback:
        assert isinstance(callback, tf_keras.callbacks.Callback)
        model.fit(x, y, epochs=2, batch_size=16, validation_split=0.25, verbose=0, callbacks=[callback])
        model.evaluate(x, y, verbose=0, callbacks=[callback])
    api_run = trackkit.Api().run(f"legacy/{callback.run.id}")
    facts = api_run.config["keras"]
    assert api_run.config["note"] == "tf_keras"
    assert (facts["backend"], facts["epochs"], facts["steps_per_epoch"]) == ("tf_keras", 2, 3)
    assert facts["optimizer"]["learning_rate"]["class_name"] == "ExponentialDecay"
    assert facts["loss"] == "binary_crossentropy" and facts["metrics"] == ["accuracy"]
    assert facts["model"]["name"] == "legacy_mlp" and facts["model"]["params"] == 49
    rows = list(api_run.scan_history())
    epochs = [row for row in rows if "epoch" in row]
    assert [(row["epoch"], row["_step"]) for row in epochs] == [(0, 3), (1, 6)]
    assert all({"loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"} <= set(row) for row in epochs)
    assert epochs[0]["learning_rate"] > epochs[1]["learning_rate"]
    assert [row["batch/step"] for row in rows if "batch/loss" in row] == [3, 6]
    assert [row["_step"] for row in rows if "eval/loss" in row] == [6]
    assert api_run.state == "finished"
