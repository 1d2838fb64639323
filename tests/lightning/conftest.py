"""Fixtures for the Lightning logger tests: ``framework`` runs a test with ``lightning.pytorch`` and
with ``pytorch_lightning``, ``store`` with the local store and with ``MemoryStore``; each test trains
two epochs of four batches on random tensors."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest
from lightning_tiny import CALLED, PACKAGES, Framework, StoreCase

_FRAMEWORKS: dict[str, Framework] = {}


@pytest.fixture(params=PACKAGES)
def framework(request: pytest.FixtureRequest) -> Framework:
    """``lightning.pytorch`` and ``pytorch_lightning`` in turn."""
    if request.param not in _FRAMEWORKS:
        _FRAMEWORKS[request.param] = Framework(request.param)
    return _FRAMEWORKS[request.param]


@pytest.fixture
def lightning() -> Framework:
    """``lightning.pytorch`` only, for behaviour that does not depend on the package."""
    if PACKAGES[0] not in _FRAMEWORKS:
        _FRAMEWORKS[PACKAGES[0]] = Framework(PACKAGES[0])
    return _FRAMEWORKS[PACKAGES[0]]


@pytest.fixture(params=["local", "memory"])
def store(request: pytest.FixtureRequest) -> StoreCase:
    """The local store and ``trackkit.testing.MemoryStore`` in turn (single-process tests only)."""
    return StoreCase(request.param)


@pytest.fixture(autouse=True)
def quiet_lightning() -> Iterator[None]:
    """Lightning's tips and dataloader-worker warnings are noise in these tests."""
    CALLED.clear()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"(lightning|pytorch_lightning|lightning_fabric|torch)(\.|$)")
        warnings.filterwarnings("ignore", message=".*(num_workers|LeafSpec|litlogger|litmodels).*")
        yield


