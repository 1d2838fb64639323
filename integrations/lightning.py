"""PyTorch Lightning logger: ``Trainer(logger=TrackLogger())``.

Two names, one behaviour (see ``TrackLoggerMixin`` for the arguments):

- ``TrackLogger`` subclasses ``lightning.pytorch.loggers.Logger`` (``import lightning``); when only
  the standalone ``pytorch_lightning`` package is installed, it is ``PLTrackLogger``.
- ``PLTrackLogger`` subclasses ``pytorch_lightning.loggers.Logger`` (``import pytorch_lightning``).

Any Trainer accepts either; pick the one of your package where a subclass check matters
(LightningCLI's ``--trainer.logger``, ``isinstance(trainer.logger, Logger)``). Each class is
built on first access, so importing this module imports neither package.

    from lightning.pytorch import Trainer
    from trackkit.integrations.lightning import TrackLogger

    trainer = Trainer(logger=TrackLogger(project="mnist"), max_epochs=3)
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

__all__ = ["PLTrackLogger", "TrackLogger"]

_INSTALL_HINT = "pip install 'trackkit[lightning]'"

if TYPE_CHECKING:
    from ._lightning_logger import TrackLoggerMixin

    TrackLogger = TrackLoggerMixin
    PLTrackLogger = TrackLoggerMixin


def _installed(package: str) -> bool:
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):
        return False


def _build(package: str, public_name: str) -> type:
    try:
        loggers = importlib.import_module(f"{package}.loggers")
    except ImportError:
        raise ImportError(
            f"trackkit.integrations.lightning.{public_name} needs the {package.split('.')[0]} package; "
            f"install it with: {_INSTALL_HINT}"
        ) from None
    from ._lightning_logger import build_logger_class

    return build_logger_class(loggers.Logger, public_name)


def __getattr__(name: str) -> Any:
    """Build ``TrackLogger`` / ``PLTrackLogger`` on first access, importing only the package needed."""
    if name == "PLTrackLogger":
        cls = _build("pytorch_lightning", "PLTrackLogger")
    elif name == "TrackLogger":
        if _installed("lightning") or not _installed("pytorch_lightning"):
            cls = _build("lightning.pytorch", "TrackLogger")
        else:
            cls = __getattr__("PLTrackLogger")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = cls
    return cls


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
