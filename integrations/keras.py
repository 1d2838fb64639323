"""Keras 3 callback, on every backend (TensorFlow, torch, JAX)::

    from trackkit.integrations.keras import TrackCallback

    model.fit(x, y, epochs=3, validation_split=0.2, callbacks=[TrackCallback(project="mnist")])
    model.evaluate(x_test, y_test, callbacks=[...the same callback...])

Imports Keras only (never TensorFlow on the torch or JAX backend). For ``tf_keras`` (Keras 2,
``TF_USE_LEGACY_KERAS=1``) use ``trackkit.integrations.tf_keras.TrackCallback``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

try:
    import keras
except ModuleNotFoundError as error:
    if error.name == "keras":
        raise ImportError(
            "trackkit.integrations.keras needs Keras 3: pip install 'trackkit[keras]' (plus a backend: "
            "tensorflow-cpu, torch or jax)."
        ) from None
    raise ImportError(
        f"Keras could not load its backend ({error}); install it, or pick another one with "
        f"KERAS_BACKEND=torch|jax|tensorflow before importing Keras."
    ) from None

from ._keras_common import KerasTracking, override

__all__ = ["TrackCallback"]


class TrackCallback(KerasTracking, keras.callbacks.Callback):
    """Log a Keras fit into a trackkit run.

    Args:
        run: The run to log to. Without it, the current run (``trackkit.run``) is used, else one is
            created from ``project=``, ``name=``, ``config=`` and the other ``trackkit.init()``
            arguments when training begins.
        log_every_n_batches: Also log the running batch metrics (``batch/<name>``) every n training
            batches. Off by default: a callback with a batch hook turns off Keras's async dispatch
            on torch and JAX.
        capture_flags: Add the script's own absl / TF v1 flags to the config (explicit config wins).

    Captured: at ``on_train_begin`` the config ``keras.*`` (epochs, steps_per_epoch, backend,
    optimizer ``get_config()`` with the learning-rate schedule, loss, metrics and the other compile
    arguments, model name, class and parameter counts); at each epoch end one history row at
    ``step=epoch`` with every value of Keras's logs (``loss``, metrics, ``val_*``), ``learning_rate``
    (the schedule's current value) and ``epoch``; a standalone ``evaluate()`` logs ``eval/<name>``.

    A run the callback created stays open after ``fit()`` so that ``evaluate()`` logs into it; it
    is finished by ``callback.finish()``, by ``with TrackCallback(...) as callback:``, by the next
    ``trackkit.init()``, or when the process exits. A run passed in or attached to is never finished.

    Example:
        >>> with TrackCallback(project="demo", config={"units": 16}) as callback:
        ...     model.fit(x, y, epochs=3, validation_split=0.25, callbacks=[callback])
        ...     model.evaluate(x, y, callbacks=[callback])
    """

    @override
    def _to_float(self, value: Any) -> float:
        if isinstance(value, keras.Variable):
            value = value.value  # the backend tensor
        try:
            return float(value)  # torch, TF and JAX scalars; convert_to_numpy warns under NumPy 2 on torch
        except TypeError:
            return float(keras.ops.convert_to_numpy(value))

    @override
    def _framework(self) -> dict[str, Any]:
        return {"backend": keras.backend.backend(), "version": keras.__version__}

    @override
    @contextmanager
    def _serializing(self) -> Iterator[None]:
        """Keep Keras's serializer from importing TensorFlow on the torch and JAX backends.

        ``serialize_keras_object`` asks ``tensorflow.available`` (a lazy import) before it checks
        for ``tf.TensorShape``/``tf.DType``; when TensorFlow is installed but not imported, that
        imports it (seconds, hundreds of MB) only to find that nothing is a TF object, which cannot
        be: TF was never imported. So, for our own ``get_config()`` calls only, the lazy module
        answers "not available"; its cached answer is restored afterwards.
        """
        lazy = None
        if keras.backend.backend() != "tensorflow" and "tensorflow" not in sys.modules:
            lazy = lazy_tensorflow_module()
        if lazy is None or lazy._available is not None:
            yield
            return
        lazy._available = False
        try:
            yield
        finally:
            lazy._available = None


def lazy_tensorflow_module() -> Any:
    """Keras's lazy ``tensorflow`` module (``keras.src.utils.module_utils.tensorflow``): the one
    private Keras object this plugin touches, and only its ``_available`` cache.

    No public API tells Keras's serializer that TensorFlow is irrelevant; ``tests/keras`` checks
    that this object still exists with that attribute, so a Keras release that moves it fails
    the tests loudly instead of silently importing TensorFlow. None if it is gone.
    """
    utils = sys.modules.get("keras.src.utils.module_utils")
    candidate = getattr(utils, "tensorflow", None)
    return candidate if candidate is not None and hasattr(candidate, "_available") else None
