"""Tiny Keras models built in code, and a fit on random data in seconds."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

SAMPLES, BATCH, FEATURES = 64, 16, 4
TRAIN_STEPS = 3  # 48 training samples after validation_split=0.25, in batches of 16


def sequential(name: str = "tiny_mlp") -> keras.Model:
    """A 4-8-1 MLP with 49 parameters."""
    return keras.Sequential(
        [keras.Input((FEATURES,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1, activation="sigmoid")],
        name=name,
    )


class Subclassed(keras.Model):
    """A subclassed model with no Input: it is built by its first batch."""

    def __init__(self) -> None:
        super().__init__(name="subclassed_net")
        self.hidden = keras.layers.Dense(6, activation="relu")
        self.out = keras.layers.Dense(1, activation="sigmoid")

    def call(self, inputs):  # type: ignore[no-untyped-def]
        return self.out(self.hidden(inputs))


def compiled(model: keras.Model, learning_rate: object = 0.01) -> keras.Model:
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="binary_crossentropy", metrics=["accuracy"])
    return model


def fit(model: keras.Model, data: tuple[np.ndarray, np.ndarray], callback: object, epochs: int = 3) -> None:
    x, y = data
    model.fit(x, y, epochs=epochs, batch_size=BATCH, validation_split=0.25, verbose=0, callbacks=[callback])


class StoreCase:
    """The store a single-process test writes to: the local store (``TRACKKIT_DIR``) or a ``MemoryStore``."""

    def __init__(self, kind: str) -> None:
        import trackkit.testing

        self.kind = kind
        self.store = trackkit.testing.MemoryStore() if kind == "memory" else None

    @property
    def kwargs(self) -> dict:
        """What a callback or ``trackkit.init`` needs to write to this store."""
        return {"store": self.store} if self.store is not None else {}

    def api(self):  # type: ignore[no-untyped-def]
        import trackkit

        return trackkit.Api(store=self.store) if self.store is not None else trackkit.Api()

    def __repr__(self) -> str:
        return self.kind
