"""Callback for legacy ``tf_keras`` (Keras 2 on TensorFlow, ``TF_USE_LEGACY_KERAS=1``)::

    from trackkit.integrations.tf_keras import TrackCallback

    model.fit(x, y, epochs=3, callbacks=[TrackCallback(project="mnist")])

A Keras 3 callback crashes inside ``tf_keras`` fit, so this one subclasses
``tf_keras.callbacks.Callback``; it logs exactly what ``trackkit.integrations.keras`` logs.
"""

from __future__ import annotations

from typing import Any

try:
    import tf_keras
except ModuleNotFoundError as error:
    if error.name in ("tf_keras", "tensorflow"):
        raise ImportError(
            "trackkit.integrations.tf_keras needs tf_keras and TensorFlow: pip install tf-keras "
            "(for Keras 3 use trackkit.integrations.keras)."
        ) from None
    raise

from ._keras_common import KerasTracking, override

__all__ = ["TrackCallback"]


class TrackCallback(KerasTracking, tf_keras.callbacks.Callback):
    """Log a ``tf_keras`` fit into a trackkit run; see ``trackkit.integrations.keras.TrackCallback``."""

    @override
    def _to_float(self, value: Any) -> float:
        return float(tf_keras.backend.get_value(value))

    @override
    def _framework(self) -> dict[str, Any]:
        return {"backend": "tf_keras", "version": tf_keras.__version__}
