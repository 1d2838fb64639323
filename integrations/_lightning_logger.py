"""The behaviour of ``TrackLogger``, written once for ``lightning.pytorch`` and ``pytorch_lightning``.

``TrackLoggerMixin`` holds everything; ``build_logger_class`` combines it with either package's
``Logger`` base class, so ``isinstance`` checks and LightningCLI class paths work for both.

Run lifecycle (see ``_run_handle``): the run is opened lazily, on global rank zero only, the first time Lightning (or
the user) needs it. ``finalize("success")`` finishes a run the logger opened, so its state is
right as soon as ``fit`` returns; a later ``validate`` or ``test`` resumes the same run id and
finishes it again. A run the user passed in (``run=``) or that was active when the logger was
made is theirs to finish; the logger only reopens it if it has been finished in the meantime.
"""

from __future__ import annotations

import importlib
import os
import string
import sys
import warnings
import weakref
from typing import TYPE_CHECKING, Any

from lightning_utilities.core.rank_zero import rank_zero_only

from trackkit import Run, RunInUseError, UsageError
from trackkit.integrations.flags import capture_flags as _capture_flags

from ._compat import override
from ._files import put_run_file
from ._lightning_capture import (
    checkpoint_summary,
    cli_config,
    hparams_dict,
    model_config,
    optimizer_configs,
    resumed_step,
    saved_checkpoints,
    summary_callback,
    trainer_config,
)
from ._run_handle import RunHandle

if TYPE_CHECKING:
    from lightning.pytorch.loggers import Logger as _LoggerBase
else:
    _LoggerBase = object

__all__ = ["TrackLoggerMixin", "build_logger_class"]

_SOURCE = "lightning"
_ID_ALPHABET = string.ascii_lowercase + string.digits
_ids_made = 0  # how many loggers of this process generated a run id (see ``_shared_run_id``)


def _rank() -> int:
    """Lightning's global rank of this process (``rank_zero_only.rank``, shared by both packages)."""
    return int(getattr(rank_zero_only, "rank", 0) or 0)


def _shared_run_id() -> str:
    """A new run id that is the same on every rank of a ``strategy="ddp"`` job.

    Lightning's ``ddp`` launcher starts ranks 1..n-1 as children of rank 0 after the script has
    built its logger, so rank 0 leaves the id in its environment and each child, constructing
    its n-th logger, reads it from there. (``ddp_spawn`` pickles the logger, id included; under
    torchrun or SLURM pass ``id=`` or set ``TRACKKIT_RUN_ID`` to get the same version everywhere.)
    """
    global _ids_made
    number, _ids_made = _ids_made, _ids_made + 1
    if _rank() > 0:
        inherited = os.environ.get(f"TRACKKIT_LIGHTNING_RUN_ID_{os.getppid()}_{number}")
        if inherited:
            return inherited
    new_id = "".join(_ID_ALPHABET[byte % 36] for byte in os.urandom(8))
    os.environ[f"TRACKKIT_LIGHTNING_RUN_ID_{os.getpid()}_{number}"] = new_id
    return new_id


class TrackLoggerMixin(_LoggerBase):
    """Log a Lightning run to trackkit: hyperparameters, trainer arguments, metrics, checkpoints.

    Args:
        run: An existing run to log into. Without it, the run that is active when the logger is
            made (``trackkit.run``) is used, else one is created lazily from the arguments below.
        project: Project name (``TRACKKIT_PROJECT``, else ``"uncategorized"``); also the
            logger's ``name``.
        name: The run's display name.
        config: Extra config for the new run (any object ``trackkit.init(config=)`` takes).
        id: Run id; the logger's ``version``. Generated when not given.
        tags, notes, group, job_type, mode, dir, store: As in ``trackkit.init``.
        resume: As in ``trackkit.init``; default ``"allow"`` (an existing ``id`` is continued).
        save_dir: Where Lightning puts checkpoints: ``<save_dir>/<project>/<id>/checkpoints``, and
            ``trainer.log_dir``. Default: the working directory when the logger is made (as
            WandbLogger's ``"."``: Lightning's ``default_root_dir`` applies to loggers without one).
        prefix: Put ``<prefix>-`` in front of every metric key (Lightning's ``LOGGER_JOIN_CHAR``).
        log_model: ``True`` puts the best checkpoint into the run (a run file
            ``checkpoints/<name>``) when ``fit`` ends successfully; ``"all"`` puts every
            checkpoint Lightning saves, as it is written.
        capture_flags: Add the script's absl / TF v1 flags to the config (explicit config wins).

    Example:
        >>> trainer = Trainer(logger=TrackLogger(project="mnist"), max_epochs=3)
    """

    LOGGER_JOIN_CHAR = "-"
    _dummy_experiment: type = object  # the package's DummyExperiment, set by ``build_logger_class``
    _callback_base: Any = None  # the package's ``Callback``, set by ``build_logger_class``

    def __init__(
        self,
        run: Run | None = None,
        *,
        project: str | None = None,
        name: str | None = None,
        config: Any = None,
        id: str | None = None,
        tags: list[str] | None = None,
        notes: str | None = None,
        group: str | None = None,
        job_type: str | None = None,
        dir: str | None = None,
        mode: str | None = None,
        resume: str | None = None,
        store: Any = None,
        save_dir: str | None = None,
        prefix: str = "",
        log_model: bool | str = False,
        capture_flags: bool = True,
    ) -> None:
        super().__init__()
        if log_model not in (True, False, "all"):
            raise UsageError(f"TrackLogger(log_model=...) must be True, False or 'all'; got {log_model!r}.")
        handle = RunHandle(run)
        run = handle.attach_now()
        if run is not None:
            ignored = {key: value for key, value in (("project", project), ("name", name), ("config", config),
                       ("id", id), ("tags", tags), ("dir", dir), ("store", store)) if value is not None}
            if ignored:
                warnings.warn(
                    f"TrackLogger logs into run {run.project}/{run.id}, so {'=, '.join(ignored)}= "
                    f"{'is' if len(ignored) == 1 else 'are'} ignored; finish that run first to start a new one.",
                    UserWarning,
                    stacklevel=2,
                )
            self._project, self._id = run.project, run.id
        else:
            self._project = project or os.environ.get("TRACKKIT_PROJECT") or "uncategorized"
            self._id = id or os.environ.get("TRACKKIT_RUN_ID") or _shared_run_id()
            handle.init_kwargs = {
                key: value for key, value in {
                    "project": self._project, "id": self._id, "name": name, "config": config, "tags": tags,
                    "notes": notes, "group": group, "job_type": job_type, "mode": mode,
                    "dir": os.path.abspath(dir) if dir is not None else None, "store": store,
                    "resume": resume or "allow",
                }.items() if value is not None
            }
        handle.attach_active = False  # decided now: the active run, or a run of our own
        self._handle = handle
        self._save_dir = os.path.abspath(save_dir if save_dir is not None else os.getcwd())
        self._prefix = prefix
        self._log_model = log_model
        self._capture_flags = capture_flags
        self._flags_captured = False
        self._trainer: weakref.ReferenceType[Any] | None = None
        self._last_step: int | None = None
        self._checkpoint: dict[str, Any] | None = None
        self._put_checkpoints: dict[str, float] = {}
        self._resumed_from: Any = None  # the ckpt_path already rewound to

    # -- identity: cheap, no side effects, the same on every rank --------------------------------
    @property
    @override
    def name(self) -> str:
        """The project: checkpoints go to ``<save_dir>/<project>/<run id>/checkpoints``."""
        return self._project

    @property
    @override
    def version(self) -> str:
        """The run id, decided when the logger is made."""
        return self._id

    @property
    @override
    def save_dir(self) -> str:
        """``save_dir=``, else the working directory when the logger was made."""
        return self._save_dir

    @property
    @override
    def root_dir(self) -> str:
        return self._save_dir

    @property
    @override
    def log_dir(self) -> str:
        """``<save_dir>/<project>/<run id>``, the parent of the checkpoint directory.

        Derived from Lightning's layout, never from the store's: a run may live in a store without files.
        """
        return os.path.join(self._save_dir, self._project, self._id)

    @property
    def experiment(self) -> Run:
        """The ``trackkit.Run`` (opened on first use); Lightning's ``DummyExperiment`` on ranks other than zero."""
        if _rank() > 0:
            return self._dummy_experiment()  # type: ignore[no-any-return]
        return self._live_run()

    def callback(self) -> Any:
        """A Lightning ``Callback`` that hands the trainer to this logger at ``setup``.

        Needed only with ``Trainer(enable_autolog_hparams=False)``, where Lightning never calls
        ``log_graph``: add it to ``callbacks=`` to record ``trainer.*`` and the optimizers anyway.
        """
        logger = self

        class TrackLoggerCallback(self._callback_base):  # type: ignore[misc, name-defined]
            def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
                if trainer.logger is logger or logger in list(getattr(trainer, "loggers", [])):
                    logger._meet(trainer, capture=_rank() == 0)

            def on_train_start(self, trainer: Any, pl_module: Any) -> None:
                if _rank() == 0 and logger in list(getattr(trainer, "loggers", [])):
                    logger._capture(trainer, trainer_model=False)

        return TrackLoggerCallback()

    # -- the Logger contract -----------------------------------------------------------------------
    @override
    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        """Hyperparameters into the config, nesting kept, classes and callables by qualified name."""
        if _rank() > 0:
            return
        self._live_run().config.update(hparams_dict(params), allow_val_change=True, source=_SOURCE)

    @override
    def log_graph(self, model: Any, input_array: Any = None) -> None:
        """Called by Lightning with the LightningModule: record the trainer's arguments and the model."""
        if _rank() > 0:
            return
        try:
            trainer = model.trainer  # public; raises when the module is not attached to a trainer
        except Exception:
            trainer = None
        if trainer is not None:
            self._meet(trainer, capture=True)

    @override
    def log_metrics(self, metrics: Any, step: int | None = None) -> None:
        """Metrics at Lightning's own step; partial calls for one step merge into one row."""
        if _rank() > 0:
            return
        run = self._live_run()
        if step is None:  # a user's own call: the step Lightning logged last
            step = self._last_step if self._last_step is not None else run.step
        else:
            step = int(step)
            self._last_step = step
        values = dict(metrics)
        if self._prefix:
            values = {f"{self._prefix}{self.LOGGER_JOIN_CHAR}{key}": value for key, value in values.items()}
        run.log(values, step=step)

    @override
    def save(self) -> None:
        """Nothing to do: the run writes in the background (Lightning calls this after every log)."""

    @override
    def finalize(self, status: str) -> None:
        """After every fit/validate/test: finish a run the logger opened (``failed`` with the exception)."""
        if _rank() > 0:
            return
        run = self._handle.run
        if run is None or run.state != "running":
            return
        succeeded = status in ("success", "finished")
        if succeeded and self._log_model is True:
            self._put_best_checkpoint(run)
        if self._handle.owns:
            run.finish(exit_code=0 if succeeded else 1, reason=None if succeeded else _failure_reason(status))
        else:
            run.flush()

    @override
    def after_save_checkpoint(self, checkpoint_callback: Any) -> None:
        """Best and last checkpoint paths, the monitored metric and its best score into the summary.

        With several ModelCheckpoint callbacks the summary follows the monitored one; with
        ``log_model="all"`` every file any of them writes is put into the run.
        """
        if _rank() > 0:
            return
        run = self._live_run()
        if self._follows(checkpoint_callback):
            self._checkpoint = checkpoint_summary(checkpoint_callback)
            run.summary.update(self._checkpoint)
        if self._log_model == "all":
            for path in saved_checkpoints(checkpoint_callback):
                self._put_checkpoint(run, path)

    # -- pickling (ddp_spawn, trainer copies) --------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_trainer"] = None  # the handle drops the live run itself (see RunHandle)
        return state

    # -- helpers -----------------------------------------------------------------------------------
    def _live_run(self) -> Run:
        """The run, opened (or reopened after a finish, same id, same store) when needed. Rank zero only."""
        try:
            run = self._handle.get(finished="reopen")
        except RunInUseError as error:
            raise UsageError(
                f"TrackLogger cannot write run {self._project}/{self._id}: another process holds it open ({error}). "
                f"With strategy='ddp_spawn', let TrackLogger create the run: don't pass run= or call "
                f"trackkit.init() in the main process before trainer.fit()."
            ) from None
        if self._capture_flags and not self._flags_captured:
            self._flags_captured = True
            _capture_flags(run)
        return run

    def _meet(self, trainer: Any, *, capture: bool) -> None:
        """The trainer is known (``log_graph`` or the callback): remember it, rewind a resume, capture."""
        self._trainer = weakref.ref(trainer)
        if not capture:
            return
        ckpt_path = getattr(trainer, "ckpt_path", None)
        if ckpt_path and ckpt_path != self._resumed_from and _fitting(trainer):
            self._resumed_from = ckpt_path
            step = resumed_step(ckpt_path)
            if step is not None:
                self._handle.rewind(step)  # rows logged after the checkpoint by the crashed attempt
        self._capture(trainer, trainer_model=True)
        cli = cli_config(trainer)
        if cli is not None:
            run = self._live_run()
            run.config.update({"cli": cli["config"]}, allow_val_change=True, source=_SOURCE)
            if cli["yaml"]:
                put_run_file(run, "cli/config.yaml", cli["yaml"].encode())

    def _capture(self, trainer: Any, *, trainer_model: bool) -> None:
        """Trainer arguments, model and optimizers into ``trainer.*`` (updates only what changed)."""
        run = self._live_run()
        config: dict[str, Any] = {}
        if trainer_model:
            config.update(trainer_config(trainer))
            model = getattr(trainer, "lightning_module", None)
            if model is not None:
                config["model"] = model_config(model)
        config.update(optimizer_configs(trainer))
        if config:
            run.config.update({"trainer": config}, allow_val_change=True, source=_SOURCE)

    def _follows(self, checkpoint_callback: Any) -> bool:
        """Whether the checkpoint summary follows this ModelCheckpoint (see ``summary_callback``)."""
        trainer = self._trainer() if self._trainer is not None else None
        followed = summary_callback(trainer) if trainer is not None else None
        if followed is None:  # no trainer known: a monitored callback beats an unmonitored one
            return bool(getattr(checkpoint_callback, "monitor", None)) or not (self._checkpoint or {}).get(
                "checkpoint/monitor")
        return bool(checkpoint_callback == followed)  # a weakref.proxy compares as its referent

    def _put_best_checkpoint(self, run: Run) -> None:
        info = self._checkpoint or {}
        source = info.get("checkpoint/best_path") or info.get("checkpoint/last_path")
        if source and os.path.isfile(source):
            self._put_checkpoint(run, source)

    def _put_checkpoint(self, run: Run, source: str) -> None:
        """Put one checkpoint file into the run as ``checkpoints/<name>`` (once per version of the file)."""
        modified = os.path.getmtime(source)
        if self._put_checkpoints.get(source) == modified:
            return
        name = f"checkpoints/{os.path.basename(source)}"
        if put_run_file(run, name, source):
            self._put_checkpoints[source] = modified
            run.summary["checkpoint/logged_file"] = name


def _fitting(trainer: Any) -> bool:
    """Whether the trainer is in ``fit`` (a ``validate(ckpt_path=)`` resumes nothing)."""
    state = getattr(trainer, "state", None)
    fn = getattr(state, "fn", None)
    return str(getattr(fn, "value", fn)) == "fit"


def _failure_reason(status: str) -> str:
    """The exception Lightning is handling while it calls ``finalize("failed")``, as HF and Keras record it."""
    error = sys.exc_info()[1]
    if error is None:
        return f"Lightning finalize({status!r})"
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def build_logger_class(base: type, public_name: str) -> type:
    """``TrackLoggerMixin`` as a subclass of one package's ``Logger``, importable by ``public_name``."""
    module = sys.modules[base.__module__]
    package = base.__module__.rsplit(".loggers", 1)[0]  # lightning.pytorch or pytorch_lightning
    return type(
        public_name,
        (TrackLoggerMixin, base),
        {
            "__module__": "trackkit.integrations.lightning",
            "__qualname__": public_name,
            "__doc__": TrackLoggerMixin.__doc__,
            "_dummy_experiment": getattr(module, "DummyExperiment", _NoRun),
            "_callback_base": importlib.import_module(package).Callback,
        },
    )


class _NoRun:
    """A stand-in for ``DummyExperiment`` if a Lightning release stops exporting it: accepts every call."""

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        return None

    def __getattr__(self, name: str) -> Any:
        return self

    def __getitem__(self, key: Any) -> _NoRun:
        return self

    def __setitem__(self, key: Any, value: Any) -> None:
        pass
