"""Random data for the Keras tests; the backend is the process's ``KERAS_BACKEND``."""

from __future__ import annotations

import numpy as np
import pytest
from keras_models import FEATURES, SAMPLES, StoreCase


@pytest.fixture
def data() -> tuple[np.ndarray, np.ndarray]:
    """64 samples of 4 features and a binary label."""
    rng = np.random.default_rng(0)
    x = rng.random((SAMPLES, FEATURES), dtype=np.float32)
    y = (x.sum(axis=1) > FEATURES / 2).astype("float32")
    return x, y


@pytest.fixture(params=["local", "memory"])
def store(request: pytest.FixtureRequest) -> StoreCase:
    """The local store and ``trackkit.testing.MemoryStore`` in turn (single-process tests only)."""
    return StoreCase(request.param)
