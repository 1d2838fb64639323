"""Hugging Face ``Trainer`` callback: ``TrainingArguments(report_to="trackkit")``, or explicitly::

    from trackkit.integrations.transformers import TrackCallback

    trainer = Trainer(model=model, args=args, train_dataset=train, eval_dataset=val,
                      callbacks=[TrackCallback(project="glue", tags=["bert"])])
    trainer.train()
    trainer.evaluate()          # lands in the same run

``import trackkit`` registers ``"trackkit"`` in transformers' ``INTEGRATION_TO_CALLBACK`` when
transformers' ``integration_utils`` module is imported (see ``trackkit.integrations``); that is the
only change made to transformers. ``report_to="all"`` means "every tracker transformers knows", so
it does not include trackkit: name it. Passing both ``report_to="trackkit"`` and a ``TrackCallback``
logs once (the explicitly constructed callback wins).
"""

from __future__ import annotations

import atexit
import os
import sys
import warnings
import weakref
from collections.abc import Mapping
from types import ModuleType
from typing import Any

try:
    from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments
except ModuleNotFoundError as error:
    if error.name is not None and error.name.split(".")[0] == "transformers":
        raise ImportError(
            "trackkit.integrations.transformers needs transformers: pip install 'trackkit[transformers]'."
        ) from None
    raise

import trackkit

from ._capture import qualified_name, torch_parameter_counts
from ._compat import override
from ._run_handle import RunHandle, check_init_kwargs
from .flags import capture_flags

__all__ = ["TrackCallback", "register"]


DEFAULT_PROJECT = "huggingface"
# Values the Trainer logs once, at the end of training: summary, not history (as wandb and trackio do).
SINGLE_VALUE_KEYS = frozenset(
    {"train_runtime", "train_samples_per_second", "train_steps_per_second", "train_loss", "total_flos"}
)


def register(integration_utils: ModuleType | None = None) -> None:
    """Make ``report_to="trackkit"`` known to transformers (idempotent; imports transformers' integrations).

    ``import trackkit`` does this by itself, lazily; call it only with ``TRACKKIT_NO_IMPORT_HOOKS=1``.
    """
    if integration_utils is None:
        from transformers.integrations import integration_utils
    integration_utils.INTEGRATION_TO_CALLBACK.setdefault("trackkit", TrackCallback)


class _Reporters:
    """The TrackCallbacks of one Trainer, so that only one of them logs.

    The Trainer gives every callback the same ``TrainerControl`` object for its whole life; it is
    the key. The leader is chosen at the first event after construction: an explicitly configured
    ``TrackCallback(...)`` beats the argument-less one that ``report_to="trackkit"`` creates.
    """

    _by_control: dict[int, _Reporters] = {}

    def __init__(self) -> None:
        self.members: list[TrackCallback] = []
        self.leader: TrackCallback | None = None

    @classmethod
    def of(cls, control: TrainerControl) -> _Reporters:
        key = id(control)
        group = cls._by_control.get(key)
        if group is None:
            group = cls._by_control[key] = cls()
            weakref.finalize(control, cls._by_control.pop, key, None)
        return group

    def join(self, callback: TrackCallback) -> None:
        if callback not in self.members:
            self.members.append(callback)

    def elect(self, callback: TrackCallback) -> bool:
        self.join(callback)
        if self.leader is None:
            explicit = [member for member in self.members if member._explicit]
            self.leader = (explicit or self.members)[0]
            if len(explicit) > 1:
                warnings.warn(
                    "trackkit: this Trainer has several TrackCallback(...) instances; only the first logs.",
                    RuntimeWarning,
                    stacklevel=4,
                )
        return self.leader is callback


_owners: weakref.WeakSet[TrackCallback] = weakref.WeakSet()  # callbacks that created their run


class TrackCallback(TrainerCallback):
    """Log a Hugging Face ``Trainer`` into a trackkit run.

    Args:
        run: The run to log to. Without it, the current run (``trackkit.run``) is used, else one
            is created when training begins: project from ``project=``, ``args.project`` (when not
            the default), ``TRACKKIT_PROJECT``, else ``"huggingface"``; name from ``name=``, else
            ``args.run_name``.
        project, name, config, **init_kwargs: Passed to ``trackkit.init()`` (``tags=``, ``group=``,
            ``notes=``, ``job_type=``, ``id=``, ``resume=``, ``dir=``, ``mode=`` ...).
        capture_flags: Add the script's own absl / TF v1 flags to the config (explicit config wins).

    Captured into the config (provenance ``"transformers"``): ``TrainingArguments.to_dict()`` at
    the top level (tokens masked, as ``to_dict`` does; these values win over an older value of
    the same key, and the change is recorded), the model's config under ``model.*`` together with
    ``model.class``, ``model.num_parameters`` and ``model.num_trainable_parameters``, and a PEFT
    model's adapters under ``peft_config.<adapter>``.
    History: every ``on_log`` at ``step=state.global_step``, keys prefixed like the other trackers
    (``loss`` -> ``train/loss``, ``eval_loss`` -> ``eval/loss``, ``predict()`` -> ``test/*``); what
    arrives for one step merges into one row. Summary: ``train_runtime``, ``train_loss``,
    ``total_flos``, ``train_samples_per_second``, ``train_steps_per_second``, and the best
    metric/checkpoint when ``metric_for_best_model`` is set.

    Under ``trainer.hyperparameter_search()`` every trial gets its own run, named by ``hp_name``
    and grouped by ``args.run_name`` (else ``output_dir``), with the trial's ``trial_params``.

    Only the world process zero writes. A run the callback created stays open after ``train()``
    so that a later ``evaluate()`` or ``predict()`` logs into it; it is finished by
    ``callback.finish()``, the next ``trackkit.init()`` or at exit, and marked ``failed`` if
    ``train()`` raised (whether or not the exception was caught). A run passed in or attached to
    is never finished by the callback.

    Example:
        >>> args = TrainingArguments("out", report_to="trackkit", run_name="bert-tiny", logging_steps=10)
        >>> Trainer(model=model, args=args, train_dataset=train).train()
    """

    def __init__(
        self,
        run: trackkit.Run | None = None,
        *,
        project: str | None = None,
        name: str | None = None,
        config: Any = None,
        capture_flags: bool = True,
        **init_kwargs: Any,
    ) -> None:
        check_init_kwargs("TrackCallback", init_kwargs, ("run", "capture_flags"))
        init_kwargs.update({k: v for k, v in (("project", project), ("name", name), ("config", config)) if v is not None})
        self._given_run = run
        self._init_kwargs = init_kwargs
        self._capture_flags = capture_flags
        self._explicit = run is not None or bool(init_kwargs) or not capture_flags
        self._handle = RunHandle(attach_active=False)  # no run until the first event on world process zero
        self._training = False
        self._resume_checked = False
        self._exit_guard = False
        self._row_step: int | None = None
        self._row: dict[str, Any] = {}
        self._warned_values = False

    @property
    def run(self) -> trackkit.Run | None:
        """The run this callback logs to (None until the first event on world process zero)."""
        return self._handle.run

    @property
    def _run(self) -> trackkit.Run | None:
        return self._handle.run

    @property
    def _owns_run(self) -> bool:
        return self._handle.owns

    # -- Trainer events ------------------------------------------------------------------------
    @override
    def on_init_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None:
        _Reporters.of(control).join(self)

    @override
    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        if state.is_hyper_param_search and state.is_world_process_zero and self._given_run is None:
            self._new_trial()
        run = self._active_run(args, state, control, kwargs.get("model"))
        if run is None:
            return
        self._capture_config(run, args, kwargs.get("model"))  # again: the args may have changed since setup
        if state.is_hyper_param_search and state.trial_params:
            run.config.update({"trial_params": dict(state.trial_params)}, allow_val_change=True, source="transformers")
        self._training = True
        self._resume_checked = False
        if self._owns_run and not self._exit_guard:
            self._exit_guard = True
            atexit.register(self._finish_if_training_failed)

    @override
    def on_epoch_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        """First epoch of ``train(resume_from_checkpoint=...)``: rows logged after the checkpoint are superseded.

        The Trainer loads the checkpoint's state after ``on_train_begin``, so the first epoch is
        where its ``global_step`` shows; the rows a killed attempt logged after that step are
        rewound (``init(resume_from_step=)``) instead of shown twice.
        """
        if self._resume_checked or not self._training:
            return
        self._resume_checked = True
        run = self._run
        step = int(state.global_step or 0)
        if (step > 0 and run is not None and self._owns_run and run.state == "running" and run.step > step + 1
                and state.is_world_process_zero):
            self._commit(run)
            self._handle.rewind(step)

    @override
    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        run = self._active_run(args, state, control, kwargs.get("model"))
        if run is None or not logs:
            return
        series: dict[str, Any] = {}
        for key, value in logs.items():
            if key in SINGLE_VALUE_KEYS:
                run.summary[key] = value
            else:
                series[_prefixed(key)] = value
        self._log(run, series, state.global_step)

    @override
    def on_predict(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        metrics: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        run = self._active_run(args, state, control, kwargs.get("model"))
        if run is None or not metrics:
            return
        self._log(run, {_prefixed(key): value for key, value in metrics.items()}, state.global_step)

    @override
    def on_train_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None:
        run = self._active_run(args, state, control, kwargs.get("model"))
        if run is None:
            return
        self._training = False
        if state.best_metric is not None:
            run.summary["best_metric"] = state.best_metric
            run.summary["best_global_step"] = state.best_global_step
            run.summary["best_model_checkpoint"] = state.best_model_checkpoint
        self._commit(run)
        run.flush()

    # -- lifecycle -----------------------------------------------------------------------------
    def finish(self, exit_code: int | None = None) -> None:
        """Finish the run if this callback created it (a run passed in or attached to is left alone)."""
        if self._run is not None and self._owns_run:
            self._commit(self._run)
            self._handle.finish(exit_code=exit_code)

    def _new_trial(self) -> None:
        """A hyperparameter-search trial begins: it gets a run of its own (the previous trial's is finished)."""
        if self._run is not None and self._owns_run:
            self.finish()
        self._handle.forget()

    def _finish_if_training_failed(self) -> None:
        """At exit, before the core's own hook: ``train()`` began and never ended -> ``failed``.

        An uncaught exception is left to the core, which records it as the reason.
        """
        if self._training and getattr(sys, "last_value", None) is None:
            self._finish_failed()

    def _finish_failed(self) -> None:
        run, self._training = self._run, False
        if run is not None and self._owns_run and run.state == "running":
            self._commit(run)
            run.finish(exit_code=1, reason="Trainer.train() did not complete (it raised or was interrupted)")

    def _active_run(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, model: Any
    ) -> trackkit.Run | None:
        """The run to write to, set up on first use; None on other ranks and for duplicate callbacks."""
        if not state.is_world_process_zero or not _Reporters.of(control).elect(self):
            return None
        run = self._run
        if run is not None and run.state == "running":
            return run
        if run is not None and (self._owns_run or run is self._given_run):
            if self._owns_run:
                _retire_auto_runs()
            run = self._handle.get(finished="reopen")  # finished since (by the user, or for a later Trainer)
        else:
            run = self._open_run(args, state)
        self._row_step, self._row = None, {}
        self._capture_config(run, args, model)
        return run

    def _open_run(self, args: TrainingArguments, state: TrainerState) -> trackkit.Run:
        handle = self._handle
        if self._given_run is not None:
            handle.reset(self._given_run)
            return self._given_run
        current = trackkit.run
        searching = state.is_hyper_param_search
        if current is not None and not searching and not any(owner._run is current for owner in _owners):
            handle.reset(current)
            return current  # the user's own run: attach, never finish it
        _retire_auto_runs()
        kwargs = dict(self._init_kwargs)
        if searching:  # one run per trial, grouped by the search (as the wandb callback does)
            kwargs.setdefault("group", args.run_name or args.output_dir)
            if state.trial_name:
                kwargs.setdefault("name", state.trial_name)
        if "project" not in kwargs:
            hf_project = getattr(args, "project", None)
            kwargs["project"] = (
                hf_project if hf_project and hf_project != DEFAULT_PROJECT
                else os.environ.get("TRACKKIT_PROJECT") or DEFAULT_PROJECT
            )
        if "name" not in kwargs and args.run_name:
            kwargs["name"] = args.run_name
        handle.reset(init_kwargs=kwargs)
        run = handle.get()
        _owners.add(self)
        return run

    def _capture_config(self, run: trackkit.Run, args: TrainingArguments, model: Any) -> None:
        run.config.update(args.to_dict(), allow_val_change=True, source="transformers")
        if model is not None:
            run.config.update({"model": _model_config(model)}, allow_val_change=True, source="transformers")
            peft = _peft_config(model)
            if peft:
                run.config.update({"peft_config": peft}, allow_val_change=True, source="transformers")
        if self._capture_flags:
            capture_flags(run)

    # -- history rows --------------------------------------------------------------------------
    def _log(self, run: trackkit.Run, values: dict[str, Any], step: int) -> None:
        """Merge into the row of ``step``; a key that would change within the row starts a new one."""
        if not values:
            return
        if step != self._row_step:
            self._row_step, self._row = step, {}
        elif any(key in self._row and not _same(self._row[key], value) for key, value in values.items()):
            self._commit(run)  # e.g. trainer.evaluate() after training, at the last training step
            self._row_step = step
        try:
            run.log(values, step=step)
        except trackkit.InvalidLogDataError:  # run.log checks every value before it changes anything
            for key, value in values.items():
                try:
                    run.log({key: value}, step=step)
                except trackkit.InvalidLogDataError:
                    values[key] = repr(value)
                    run.log({key: values[key]}, step=step)
                    if not self._warned_values:
                        self._warned_values = True
                        warnings.warn(
                            f"trackkit: the Trainer logged {key}={value!r}, which is not a number; it is kept as "
                            f"text.",
                            RuntimeWarning,
                            stacklevel=4,
                        )
        self._row.update(values)

    def _commit(self, run: trackkit.Run) -> None:
        """Write the current row now (``run.step`` equals its step only while it is still pending)."""
        if self._row_step is not None and run.state == "running" and run.step == self._row_step:
            run.log({}, step=self._row_step, commit=True)
        self._row_step, self._row = None, {}


def _retire_auto_runs() -> None:
    """Before another run starts: end the runs that callbacks created, so that one run is current.

    One whose ``train()`` began and never ended is ``failed``; the others are ``finished`` (and
    reopened by their callback if their Trainer logs again, e.g. a later ``evaluate()``).
    """
    current = trackkit.run
    for owner in list(_owners):
        if owner._training:
            owner._finish_failed()
        elif owner._run is current:
            owner.finish()


def _prefixed(key: str) -> str:
    """transformers' ``rewrite_logs``: ``eval_x`` -> ``eval/x``, ``test_x`` -> ``test/x``, else ``train/x``."""
    for prefix in ("eval_", "test_"):
        if key.startswith(prefix):
            return f"{prefix[:-1]}/{key[len(prefix):]}"
    return f"train/{key}"


def _same(old: Any, new: Any) -> bool:
    try:
        return old is new or bool(type(old) is type(new) and old == new)
    except Exception:  # arrays and other values without a plain truth value
        return False


def _model_config(model: Any) -> dict[str, Any]:
    """The model's config, class and parameter counts (what goes under ``model.*``)."""
    info: dict[str, Any] = {}
    model_config = getattr(model, "config", None)
    if model_config is not None and callable(getattr(model_config, "to_dict", None)):
        info.update(model_config.to_dict())
    info["class"] = qualified_name(model)
    try:
        if callable(getattr(model, "num_parameters", None)):
            info["num_parameters"] = int(model.num_parameters())
            info["num_trainable_parameters"] = int(model.num_parameters(only_trainable=True))
            return info
    except Exception:  # an exotic model: the config matters more than the count
        pass
    counts = torch_parameter_counts(model)
    if counts is not None:
        info["num_parameters"], info["num_trainable_parameters"] = counts["params"], counts["trainable_params"]
    return info


def _peft_config(model: Any) -> dict[str, Any]:
    """``model.peft_config`` ({adapter name: PeftConfig}) as plain dicts; empty without PEFT."""
    adapters = getattr(model, "peft_config", None)
    if not isinstance(adapters, Mapping):
        return {}
    return {
        str(name): adapter.to_dict() if callable(getattr(adapter, "to_dict", None)) else adapter
        for name, adapter in adapters.items()
    }
