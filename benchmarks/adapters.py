"""One small adapter per tracker: import, init with a 20-key config, log, finish, read back.

Each adapter runs inside a fresh worker process (``worker.py``), in its own working
directory, so that nothing one tracker leaves behind (caches, services, stores) touches the
next measurement. Adapters import their tracker lazily: a tracker that is not installed is
reported as such and skipped.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

__all__ = ["ADAPTERS", "CONFIG", "METRIC_KEYS", "PROJECT", "Adapter"]

PROJECT = "bench"
METRIC_KEYS = tuple(f"metric_{j}" for j in range(10))

# A 20-key config, shaped like a real training config (numbers, strings, a bool, a None).
CONFIG: dict[str, Any] = {
    "lr": 3e-4, "batch_size": 64, "epochs": 10, "optimizer": "adamw", "weight_decay": 0.01,
    "momentum": 0.9, "warmup_steps": 500, "scheduler": "cosine", "dropout": 0.1, "hidden_size": 256,
    "num_layers": 4, "num_heads": 8, "seed": 1234, "dataset": "synthetic", "augment": True,
    "grad_clip": 1.0, "precision": "fp32", "label_smoothing": 0.0, "eval_every": 1000, "notes": None,
}

LogFn = Callable[[dict[str, float], int], None]


class Adapter:
    """The contract: ``import_`` / ``init`` / ``logger`` (the hot-path callable) / ``finish`` /
    ``read`` (in a later, fresh process; returns the number of points read, or None when the
    tracker has no local reader)."""

    name = ""
    module = ""  # what ``import_`` imports, checked for availability
    distributions: tuple[str, ...] = ()  # whose versions go into the report
    has_reader = True

    def env(self, workdir: str) -> dict[str, str]:
        """Environment variables for the worker process (store locations, offline switches)."""
        return {}

    def import_(self) -> None:
        raise NotImplementedError

    def init(self, workdir: str, config: dict[str, Any]) -> None:
        raise NotImplementedError

    def logger(self) -> LogFn:
        raise NotImplementedError

    def finish(self) -> None:
        raise NotImplementedError

    def info(self) -> dict[str, Any]:
        """What ``read`` needs to find the run again (ids, paths)."""
        return {}

    def extra(self) -> dict[str, Any]:
        """Tracker-specific figures of the write run, read after ``finish``."""
        return {}

    def read(self, workdir: str, info: dict[str, Any]) -> int | None:
        raise NotImplementedError


class Floor(Adapter):
    """The floor: a plain loop that appends one JSON line per step to a buffered file."""

    name = "floor (JSON lines)"
    module = "json"

    def import_(self) -> None:
        import json  # noqa: F401  (already imported: the floor's import cost is nil)

    def init(self, workdir: str, config: dict[str, Any]) -> None:
        self.path = os.path.join(workdir, "floor.jsonl")
        with open(os.path.join(workdir, "floor-config.json"), "w") as handle:
            json.dump(config, handle)
        self.handle = open(self.path, "a", buffering=1 << 16)  # noqa: SIM115 (closed in finish)

    def logger(self) -> LogFn:
        write = self.handle.write
        dumps = json.dumps

        def log(data: dict[str, float], step: int) -> None:
            data["_step"] = step
            write(dumps(data) + "\n")

        return log

    def finish(self) -> None:
        self.handle.close()

    def info(self) -> dict[str, Any]:
        return {"path": self.path}

    def read(self, workdir: str, info: dict[str, Any]) -> int | None:
        loads = json.loads
        points = 0
        with open(info["path"], "rb") as handle:
            for line in handle:
                row = loads(line)
                points += sum(1 for key in row if not key.startswith("_"))
        return points


class Trackkit(Adapter):
    name = "trackkit"
    module = "trackkit"
    distributions = ("trackkit",)

    def env(self, workdir: str) -> dict[str, str]:
        return {"TRACKKIT_DIR": os.path.join(workdir, "trackkit"), "TRACKKIT_SILENT": "1"}

    def import_(self) -> None:
        import trackkit

        self.trackkit = trackkit

    def init(self, workdir: str, config: dict[str, Any]) -> None:
        self.run = self.trackkit.init(project=PROJECT, config=config, dir=os.path.join(workdir, "trackkit"))

    def logger(self) -> LogFn:
        log = self.run.log
        return lambda data, step: log(data)

    def finish(self) -> None:
        self.run.finish()

    def info(self) -> dict[str, Any]:
        return {"id": self.run.id}

    def extra(self) -> dict[str, Any]:
        writer = self.run._writer  # how often log() waited for the writer (the bounded queue of issue 9)
        return {"backpressure_waits": writer.backpressure_waits, "backpressure_wait_ms": writer.backpressure_wait_s * 1e3}

    def read(self, workdir: str, info: dict[str, Any]) -> int | None:
        import trackkit

        api = trackkit.Api(os.path.join(workdir, "trackkit"))
        points = 0
        for row in api.run(f"{PROJECT}/{info['id']}").scan_history():
            points += sum(1 for key in row if not key.startswith("_"))
        return points


class Wandb(Adapter):
    """wandb in offline mode: no network, no system-metrics sampling, no console capture."""

    name = "wandb (offline)"
    module = "wandb"
    distributions = ("wandb",)
    has_reader = False  # offline runs have no local reader: the public API needs the server

    def env(self, workdir: str) -> dict[str, str]:
        return {
            "WANDB_MODE": "offline", "WANDB_SILENT": "true", "WANDB_DIR": workdir,
            "WANDB_CACHE_DIR": os.path.join(workdir, "cache"), "WANDB_CONFIG_DIR": os.path.join(workdir, "config"),
            "WANDB_DATA_DIR": os.path.join(workdir, "data"), "WANDB_ERROR_REPORTING": "false",
            "WANDB_DISABLE_GIT": "true", "WANDB_DISABLE_CODE": "true", "WANDB_CONSOLE": "off",
            "WANDB__DISABLE_STATS": "true", "WANDB__DISABLE_META": "true",
        }

    def import_(self) -> None:
        import wandb

        self.wandb = wandb

    def init(self, workdir: str, config: dict[str, Any]) -> None:
        settings = self.wandb.Settings(x_disable_stats=True, x_disable_meta=True, console="off", silent=True)
        self.run = self.wandb.init(project=PROJECT, config=config, mode="offline", dir=workdir, settings=settings)

    def logger(self) -> LogFn:
        log = self.run.log
        return lambda data, step: log(data)

    def finish(self) -> None:
        self.run.finish()

    def read(self, workdir: str, info: dict[str, Any]) -> int | None:
        return None


class Mlflow(Adapter):
    """MLflow with its default local store (whatever ``mlflow`` picks when no tracking URI is set)."""

    name = "mlflow"
    module = "mlflow"
    distributions = ("mlflow", "mlflow-skinny")

    def env(self, workdir: str) -> dict[str, str]:
        return {"MLFLOW_ENABLE_ASYNC_LOGGING": "false", "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true",
                "GIT_PYTHON_REFRESH": "quiet"}

    def import_(self) -> None:
        import mlflow

        self.mlflow = mlflow

    def init(self, workdir: str, config: dict[str, Any]) -> None:
        self.mlflow.set_experiment(PROJECT)
        self.run = self.mlflow.start_run()
        self.mlflow.log_params(config)

    def logger(self) -> LogFn:
        log_metrics = self.mlflow.log_metrics
        return lambda data, step: log_metrics(data, step=step)

    def finish(self) -> None:
        self.mlflow.end_run()

    def info(self) -> dict[str, Any]:
        return {"id": self.run.info.run_id, "uri": self.mlflow.get_tracking_uri()}

    def read(self, workdir: str, info: dict[str, Any]) -> int | None:
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=info["uri"])
        return sum(len(client.get_metric_history(info["id"], key)) for key in METRIC_KEYS)


class Trackio(Adapter):
    """trackio, local (SQLite under TRACKIO_DIR), no Space, no dashboard."""

    name = "trackio"
    module = "trackio"
    distributions = ("trackio",)

    def env(self, workdir: str) -> dict[str, str]:
        return {"TRACKIO_DIR": os.path.join(workdir, "trackio"), "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False",
                "HF_HUB_DISABLE_TELEMETRY": "1", "DO_NOT_TRACK": "1"}

    def import_(self) -> None:
        import trackio

        self.trackio = trackio

    def init(self, workdir: str, config: dict[str, Any]) -> None:
        self.run = self.trackio.init(project=PROJECT, name="bench-run", config=config)

    def logger(self) -> LogFn:
        log = self.trackio.log
        return lambda data, step: log(data)

    def finish(self) -> None:
        self.trackio.finish()

    def info(self) -> dict[str, Any]:
        return {"name": "bench-run"}

    def read(self, workdir: str, info: dict[str, Any]) -> int | None:
        from trackio.sqlite_storage import SQLiteStorage

        logs = SQLiteStorage.get_logs(PROJECT, info["name"])
        return sum(1 for row in logs for key in row if key in METRIC_KEYS)


class TensorBoardX(Adapter):
    """tensorboardX's SummaryWriter; read back with TensorBoard's EventAccumulator when installed."""

    name = "tensorboardX"
    module = "tensorboardX"
    distributions = ("tensorboardX", "tensorboard")

    def import_(self) -> None:
        import tensorboardX

        self.tbx = tensorboardX

    def init(self, workdir: str, config: dict[str, Any]) -> None:
        self.logdir = os.path.join(workdir, "tb")
        self.writer = self.tbx.SummaryWriter(self.logdir)
        self.writer.add_text("config", json.dumps(config), 0)

    def logger(self) -> LogFn:
        add_scalar = self.writer.add_scalar

        def log(data: dict[str, float], step: int) -> None:
            for key, value in data.items():
                add_scalar(key, value, step)

        return log

    def finish(self) -> None:
        self.writer.close()

    def info(self) -> dict[str, Any]:
        return {"logdir": self.logdir}

    def read(self, workdir: str, info: dict[str, Any]) -> int | None:
        try:
            from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
        except ImportError:
            return None
        accumulator = EventAccumulator(info["logdir"], size_guidance={"scalars": 0})
        accumulator.Reload()
        return sum(len(accumulator.Scalars(tag)) for tag in accumulator.Tags()["scalars"])


ADAPTERS: dict[str, type[Adapter]] = {
    "trackkit": Trackkit,
    "floor": Floor,
    "wandb": Wandb,
    "mlflow": Mlflow,
    "trackio": Trackio,
    "tensorboardX": TensorBoardX,
}
