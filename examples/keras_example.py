"""Keras 3 + trackkit on any backend: a tiny classifier on synthetic data, tracked by one callback.

    KERAS_BACKEND=torch python examples/keras_example.py      # or jax, or tensorflow
    trackkit runs keras-example

The callback records epochs, steps, the optimizer (with its learning-rate schedule), loss, metrics
and model size into the config, logs one row per epoch (loss, accuracy, val_*, learning_rate,
epoch), and the evaluate() after training as eval/*.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import trackkit  # noqa: E402
from trackkit.integrations.keras import TrackCallback  # noqa: E402


def make_data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two Gaussian blobs in 8-D, labelled 0 and 1."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=n)
    x = rng.normal(loc=(y[:, None] * 2.0 - 1.0) * 0.8, scale=1.0, size=(n, 8)).astype("float32")
    return x, y.astype("float32")


def build_model(hidden: int, dropout: float) -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((8,)),
            keras.layers.Dense(hidden, activation="relu"),
            keras.layers.Dropout(dropout),
            keras.layers.Dense(1, activation="sigmoid"),
        ],
        name="blob_classifier",
    )


def main() -> None:
    hyper = {"hidden": 32, "dropout": 0.1, "batch_size": 32}
    x_train, y_train = make_data(512, seed=0)
    x_test, y_test = make_data(256, seed=1)

    model = build_model(hyper["hidden"], hyper["dropout"])
    schedule = keras.optimizers.schedules.ExponentialDecay(1e-2, decay_steps=50, decay_rate=0.5)
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss="binary_crossentropy", metrics=["accuracy"])

    # The callback creates the run when training starts and keeps it open for evaluate();
    # leaving the `with` block finishes it.
    with TrackCallback(project="keras-example", config=hyper) as callback:
        model.fit(x_train, y_train, epochs=5, batch_size=hyper["batch_size"], validation_split=0.2,
                  callbacks=[callback], verbose=0)
        model.evaluate(x_test, y_test, callbacks=[callback], verbose=0)

    run = trackkit.Api().run(f"keras-example/{callback.run.id}")
    print(f"run {run.name} ({run.state}) on {run.config['keras']['backend']}: "
          f"{run.config['keras']['model']['params']} parameters, "
          f"val_accuracy {run.summary['val_accuracy']:.3f}, eval/accuracy {run.summary['eval/accuracy']:.3f}")


if __name__ == "__main__":
    main()
