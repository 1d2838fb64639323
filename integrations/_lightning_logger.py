"""The behaviour of ``TrackLogger``, written once for ``lightning.pytorch`` and ``pytorch_lightning``.

``TrackLoggerMixin`` holds everything; ``build_logger_class`` combines it with either package's
``Logger`` base class, so ``isinstance`` checks and LightningCLI class paths work for both.

Run lifecycle: the run is opened lazily, on global rank zero only, the first time Lightning (or
the user) needs it. ``finalize("success")`` finishes a run the logger opened, so its state is
right as soon as ``fit`` returns; a later ``validate`` or ``test`` resumes the same run id and
finishes it again. A run the user passed in (``run=``) or that was active when the logger was
made is theirs to finish; the logger only reopens it if it has been finished in the meantime.
"""

from __future__ import annotations

import os
import shutil
import string
import sys
import warnings
import weakref
from typing import TYPE_CHECKING, Any

from lightning_utilities.core.rank_zero import rank_zero_only

import trackkit
from trackkit import Run, RunInUseError, UsageError
from trackkit.integrations.flags import capture_flags as _capture_flags

from ._compat import override
from ._lightning_capture import checkpoint_summary, hparams_dict, model_config, optimizer_configs, trainer_config

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


def _store_of(run: Run) -> str:
    """The store directory of a local run (``<store>/<project>/<run_id>``)."""
    return os.path.dirname(os.path.dirname(os.path.abspath(run.dir)))


class _NoRun:
    """What ``experiment`` returns on ranks other than zero: accepts every call, does nothing."""

    def __call__(self, *args: Any, **kwargs: Any) -> _NoRun:
        return self

    def __getattr__(self, name: str) -> Any:
        return self

    def __getitem__(self, key: Any) -> _NoRun:
        return self

    def __setitem__(self, key: Any, value: Any) -> None:
        pass


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
        tags, notes, group, job_type, mode: As in ``trackkit.init``.
        dir: The trackkit store directory (``TRACKKIT_DIR``, else ``./trackkit``).
        resume: As in ``trackkit.init``; default ``"allow"`` (an existing ``id`` is continued).
        save_dir: Where Lightning puts checkpoints: ``<save_dir or default_root_dir>/<project>/<id>/checkpoints``.
        log_model: ``True`` copies the best checkpoint into the run directory when ``fit`` ends
            successfully; ``"all"`` copies every saved checkpoint as it is written.
        capture_flags: Add the script's absl / TF v1 flags to the config (explicit config wins).

    Example:
        >>> trainer = Trainer(logger=TrackLogger(project="mnist"), max_epochs=3)
    """

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
        save_dir: str | None = None,
        log_model: bool | str = False,
        capture_flags: bool = True,
    ) -> None:
        super().__init__()
        if log_model not in (True, False, "all"):
            raise UsageError(f"TrackLogger(log_model=...) must be True, False or 'all'; got {log_model!r}.")
        if run is None and trackkit.run is not None:
            run = trackkit.run
        if run is not None:
            ignored = {key: value for key, value in (("project", project), ("name", name), ("config", config),
                       ("id", id), ("tags", tags), ("dir", dir)) if value is not None}
            if ignored:
                warnings.warn(
                    f"TrackLogger logs into run {run.project}/{run.id}, so {'=, '.join(ignored)}= "
                    f"{'is' if len(ignored) == 1 else 'are'} ignored; finish that run first to start a new one.",
                    UserWarning,
                    stacklevel=2,
                )
        self._run: Run | None = run
        self._owns_run = False
        self._init_kwargs: dict[str, Any] = {
            "name": name, "config": config, "tags": tags, "notes": notes, "group": group,
            "job_type": job_type, "mode": mode,
        }
        if run is not None:
            self._project = run.project
            self._id = run.id
            self._dir: str | None = _store_of(run)
            self._mode: str | None = run.mode
        else:
            self._project = project or os.environ.get("TRACKKIT_PROJECT") or "uncategorized"
            self._id = id or os.environ.get("TRACKKIT_RUN_ID") or _shared_run_id()
            self._dir = os.path.abspath(dir) if dir is not None else None
            self._mode = mode
        self._resume = resume or "allow"
        self._save_dir = save_dir
        self._log_model = log_model
        self._capture_flags = capture_flags
        self._flags_captured = False
        self._trainer: weakref.ReferenceType[Any] | None = None
        self._capture_pending = False  # a trainer was seen at setup; optimizers not read yet
        self._last_step: int | None = None
        self._checkpoint: dict[str, Any] | None = None
        self._copied_checkpoints: dict[str, float] = {}

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
    def save_dir(self) -> str | None:
        """``save_dir=``, else the trainer's ``default_root_dir`` (so ``trainer.log_dir`` is a directory)."""
        if self._save_dir is None and self._trainer is not None:
            trainer = self._trainer()
            return getattr(trainer, "default_root_dir", None) if trainer is not None else None
        return self._save_dir

    @property
    @override
    def root_dir(self) -> str | None:
        return self._save_dir

    @property
    @override
    def log_dir(self) -> str:
        """The run's directory in the trackkit store (known before the run is opened)."""
        store = self._dir or os.environ.get("TRACKKIT_DIR") or os.path.join(os.getcwd(), "trackkit")
        return os.path.join(os.path.abspath(store), self._project, self._id)

    @property
    def experiment(self) -> Run:
        """The ``trackkit.Run`` (opened on first use); a do-nothing stand-in on ranks other than zero."""
        caller = sys._getframe(1)
        trainer = caller.f_locals.get("trainer") if caller.f_code.co_name == "_call_setup_hook" else None
        if trainer is not None:  # Lightning's setup hook: the one place a logger meets its trainer
            self._trainer = weakref.ref(trainer)
        if _rank() > 0:
            return _NoRun()  # type: ignore[return-value]
        if trainer is not None:
            self._capture_pending = True
            run = self._live_run()
            self._capture(trainer, trainer_model=True)
            return run
        return self._live_run()

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
        trainer = getattr(model, "_trainer", None)
        if trainer is not None:
            self._trainer = weakref.ref(trainer)
            self._capture_pending = False
            self._capture(trainer, trainer_model=True)

    @override
    def log_metrics(self, metrics: Any, step: int | None = None) -> None:
        """Metrics at Lightning's own step; partial calls for one step merge into one row."""
        if _rank() > 0:
            return
        run = self._live_run()
        if self._capture_pending:  # with enable_autolog_hparams=False, log_graph never comes
            self._capture_late()
        if step is None:  # a user's own call: the step Lightning logged last
            step = self._last_step if self._last_step is not None else run.step
        else:
            step = int(step)
            self._last_step = step
        run.log(dict(metrics), step=step)

    @override
    def save(self) -> None:
        """Nothing to do: the run writes in the background (Lightning calls this after every log)."""

    @override
    def finalize(self, status: str) -> None:
        """After every fit/validate/test: finish a run the logger opened (``failed`` unless success)."""
        if _rank() > 0:
            return
        run = self._run
        if run is None or run.state != "running":
            return
        if self._capture_pending:
            self._capture_late()
        succeeded = status in ("success", "finished")
        if succeeded and self._log_model is True:
            self._copy_checkpoint(run)
        if self._owns_run:
            run.finish(exit_code=0 if succeeded else 1, reason=None if succeeded else f"Lightning finalize({status!r})")
        else:
            run.flush()

    @override
    def after_save_checkpoint(self, checkpoint_callback: Any) -> None:
        """Best and last checkpoint paths, the monitored metric and its best score into the summary."""
        if _rank() > 0:
            return
        run = self._live_run()
        self._checkpoint = checkpoint_summary(checkpoint_callback)
        run.summary.update(self._checkpoint)
        if self._log_model == "all":
            self._copy_checkpoint(run)

    # -- pickling (ddp_spawn) ----------------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_run"] = None  # the run is reopened (same id) where it is next needed
        state["_trainer"] = None
        return state

    # -- helpers -----------------------------------------------------------------------------------
    def _live_run(self) -> Run:
        """The run, opened (or reopened after a finish, same id) when needed. Rank zero only."""
        run = self._run
        if run is not None and run.state == "running":
            return run
        first = run is None and not self._owns_run
        try:
            run = trackkit.init(
                **(self._init_kwargs if first else {"mode": self._mode}),
                project=self._project,
                id=self._id,
                dir=self._dir,
                resume=self._resume if first else "must",
                reinit="create_new",
                silent=None if first else True,
            )
        except RunInUseError as error:
            raise UsageError(
                f"TrackLogger cannot write run {self._project}/{self._id}: another process holds it open ({error}). "
                f"With strategy='ddp_spawn', let TrackLogger create the run: don't pass run= or call "
                f"trackkit.init() in the main process before trainer.fit()."
            ) from None
        self._run, self._owns_run = run, True
        self._dir = self._dir or _store_of(run)
        if self._capture_flags and not self._flags_captured:
            self._flags_captured = True
            _capture_flags(run)
        return run

    def _capture_late(self) -> None:
        """The optimizers, once they exist (after the setup hook, by the first metrics or the end)."""
        self._capture_pending = False
        trainer = self._trainer() if self._trainer is not None else None
        if trainer is not None:
            self._capture(trainer, trainer_model=False)

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

    def _copy_checkpoint(self, run: Run) -> None:
        """Copy the best (else last) checkpoint into ``<run.dir>/checkpoints``; note where in the summary."""
        info = self._checkpoint or {}
        source = info.get("checkpoint/best_path") or info.get("checkpoint/last_path")
        if not source or not os.path.isfile(source):
            return
        modified = os.path.getmtime(source)
        if self._copied_checkpoints.get(source) == modified:
            return
        target_dir = os.path.join(run.dir, "checkpoints")
        os.makedirs(target_dir, exist_ok=True)
        target = os.path.join(target_dir, os.path.basename(source))
        try:
            shutil.copy2(source, target)
        except OSError as error:
            warnings.warn(f"trackkit: could not copy checkpoint {source} into the run: {error}", stacklevel=2)
            return
        self._copied_checkpoints[source] = modified
        run.summary["checkpoint/logged_path"] = target


def build_logger_class(base: type, public_name: str) -> type:
    """``TrackLoggerMixin`` as a subclass of one package's ``Logger``, importable by ``public_name``."""
    return type(
        public_name,
        (TrackLoggerMixin, base),
        {
            "__module__": "trackkit.integrations.lightning",
            "__qualname__": public_name,
            "__doc__": TrackLoggerMixin.__doc__,
        },
    )
