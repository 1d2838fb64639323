"""The logic shared by the Keras 3 and the legacy ``tf_keras`` callbacks.

It imports neither Keras: each variant subclasses its own ``Callback`` together with
``KerasTracking`` and supplies ``_to_float`` (a backend tensor or variable to a float) and
``_framework`` (``{"backend": ..., "version": ...}``). Keys, steps and run ownership live here.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any, TypeVar

import trackkit

from ._capture import float32_value, named, qualified_name, shortest_floats
from ._compat import override
from ._run_handle import RunHandle, check_init_kwargs
from .flags import capture_flags as _capture_flags

__all__ = ["KerasTracking", "override"]

_T = TypeVar("_T", bound="KerasTracking")

_COMPILE_KEYS = ("loss", "loss_weights", "metrics", "weighted_metrics", "run_eagerly", "steps_per_execution",
                 "jit_compile")


class KerasTracking:
    """Mixin: run ownership, the config captured at ``on_train_begin`` and the rows logged per epoch."""

    _namespace = "keras"

    def __init__(
        self,
        run: trackkit.Run | None = None,
        *,
        project: str | None = None,
        name: str | None = None,
        config: Any = None,
        log_every_n_batches: int | None = None,
        capture_flags: bool = True,
        **init_kwargs: Any,
    ) -> None:
        super().__init__()
        init_kwargs.update({k: v for k, v in (("project", project), ("name", name), ("config", config)) if v is not None})
        check_init_kwargs("TrackCallback", init_kwargs, ("run", "log_every_n_batches", "capture_flags"))
        if run is not None and init_kwargs:
            raise TypeError(
                "TrackCallback(run=...) uses that run as it is; pass either run= or trackkit.init() arguments "
                f"({', '.join(sorted(init_kwargs))}), not both."
            )
        if log_every_n_batches is not None and (type(log_every_n_batches) is not int or log_every_n_batches < 1):
            raise ValueError(f"log_every_n_batches must be a positive int or None; got {log_every_n_batches!r}.")
        self._handle = RunHandle(run, init_kwargs=init_kwargs)
        self._explicit_run = run is not None
        self._init_kwargs = init_kwargs
        self._with_flags = capture_flags
        self._every = log_every_n_batches
        self._training = False
        self._last_step: int | None = None
        self._batches_done = 0  # training batches across every fit, for batch-level steps
        self._batches_at_epoch_start = 0
        self._params_missing = False
        self._epoch_learning_rate: float | None = None
        self._fit_started = False  # the first epoch of this fit has not begun yet
        if log_every_n_batches is not None:
            # Defined only when asked: Keras turns off async dispatch (torch, JAX) for a callback
            # that overrides a batch hook, so the plain callback must inherit the default one.
            self.on_train_batch_end = self._log_batch

    # -- the run -------------------------------------------------------------------------------
    @property
    def run(self) -> trackkit.Run:
        """The run this callback logs to: ``run=``, else the current run, else a new one (created here)."""
        return self._resolve_run(reopen=False)

    def _resolve_run(self, reopen: bool) -> trackkit.Run:
        """With ``reopen``, a finished run that was not passed as ``run=`` is replaced by the current or a new one."""
        handle = self._handle
        held = handle.run
        if held is not None and held.state != "running":
            if not reopen:
                return held
            if not self._explicit_run:
                handle.forget()
                self._last_step = None
        run = handle.get(finished="reopen")
        config = self._init_kwargs.get("config")
        if run is not held and config is not None and not handle.owns and not self._explicit_run:
            run.config.update(config)  # attached to the user's active run: add our config to it
        return run

    @property
    def _run(self) -> trackkit.Run | None:
        return self._handle.run

    @property
    def _owns_run(self) -> bool:
        return self._handle.owns

    def finish(self, exit_code: int | None = None) -> None:
        """Finish the run if this callback created it (a run passed in or attached to is left open)."""
        self._handle.finish(exit_code=exit_code)

    def __deepcopy__(self: _T, memo: dict[int, Any]) -> _T:
        """A copy that logs to the same run (KerasTuner deep-copies callbacks; a run cannot be copied)."""
        clone = copy.copy(self)
        memo[id(self)] = clone
        store = self._init_kwargs.get("store")
        if store is not None:
            memo.setdefault(id(store), store)  # a store is shared, never copied
        clone._init_kwargs = copy.deepcopy(self._init_kwargs, memo)
        if self._every is not None:
            clone.on_train_batch_end = clone._log_batch  # rebind to the copy
        return clone

    def __enter__(self: _T) -> _T:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.finish(exit_code=None if exc_type is None else 1)

    # -- Keras hooks (the mixin comes first in the MRO, so these override the framework's) ------
    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        """Record the fit parameters, optimizer, compile settings, model facts and the user's flags."""
        run = self._resolve_run(reopen=True)
        self._training = True
        self._fit_started = False
        model = self.model  # type: ignore[attr-defined]
        params = dict(getattr(self, "params", None) or {})
        facts: dict[str, Any] = {"epochs": params.get("epochs"), "steps_per_epoch": params.get("steps")}
        facts.update(self._framework())
        with self._serializing(), warnings.catch_warnings():
            # Keras's own get_config() calls np.array(Variable), a DeprecationWarning under NumPy 2.
            warnings.simplefilter("ignore", DeprecationWarning)
            facts.update(_compile_facts(model))
            optimizer = _optimizer_config(getattr(model, "optimizer", None))
        if optimizer is not None:
            facts["optimizer"] = optimizer
        facts["model"] = _model_facts(model)
        self._params_missing = "params" not in facts["model"]
        facts = {key: value for key, value in facts.items() if value is not None}
        run.config.update({self._namespace: facts}, allow_val_change=True, source="keras")
        if self._with_flags:
            _capture_flags(run)

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        """Remember where the epoch starts (for batch-level steps) and the learning rate it trains with.

        A fit that starts at ``initial_epoch=k`` continues the steps where epoch k starts, even in a
        new process; if the run already has rows after that point (a resumed, preempted job), they
        are rewound: marked superseded, not shown twice.
        """
        steps = (getattr(self, "params", None) or {}).get("steps")
        if self._every is not None and steps and epoch * steps > self._batches_done:
            self._batches_done = epoch * steps
        self._batches_at_epoch_start = self._batches_done
        if not self._fit_started:
            self._fit_started = True
            if epoch > 0:
                self._rewind_to(self._batches_done if self._every is not None else epoch - 1)
        optimizer = getattr(self.model, "optimizer", None)  # type: ignore[attr-defined]
        self._epoch_learning_rate = self._current_learning_rate(optimizer)

    def _rewind_to(self, step: int) -> None:
        """Supersede the rows after ``step`` of a run this callback owns, if it has any."""
        run = self._handle.run
        if run is not None and self._handle.owns and run.state == "running" and run.step > step + 1:
            self._handle.rewind(step)

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        """Log every value Keras reports for the epoch, the current learning rate and ``epoch``."""
        run = self.run
        model = self.model  # type: ignore[attr-defined]
        row: dict[str, Any] = {}
        learning_rate = self._epoch_learning_rate  # the rate this epoch trained with, not the next one's
        if learning_rate is None:
            learning_rate = self._current_learning_rate(getattr(model, "optimizer", None))
        if learning_rate is not None:
            row["learning_rate"] = float32_value(learning_rate)
        row.update(_loggable(logs))
        row["epoch"] = epoch
        self._epoch_learning_rate = None
        if self._every is None:
            step = epoch
        else:
            steps = (getattr(self, "params", None) or {}).get("steps")
            if steps and self._batches_done < self._batches_at_epoch_start + steps:
                self._batches_done = self._batches_at_epoch_start + steps
            step = self._batches_done
        if self._params_missing:
            count = _param_count(model)
            if count is not None:
                run.config.update({self._namespace: {"model": count}}, allow_val_change=True, source="keras")
                self._params_missing = False
        run.log(row, step=step, commit=True)
        self._last_step = step

    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        """Training is over; the run stays open so that a later ``evaluate()`` logs into it too."""
        self._training = False
        if self._run is not None and self._run.state == "running":
            self._run.flush(timeout=5.0)  # readable through trackkit.Api() right after fit()

    def on_test_end(self, logs: Mapping[str, Any] | None = None) -> None:
        """A standalone ``evaluate()``: log its results as ``eval/<name>`` (validation inside fit is ``val_*``)."""
        if self._training:
            return
        values = _loggable(logs)
        if not values:
            return
        run = self._resolve_run(reopen=True)
        run.log({f"eval/{key}": value for key, value in values.items()}, step=self._last_step, commit=True)

    def _log_batch(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        """Installed as ``on_train_batch_end`` only with ``log_every_n_batches``."""
        done = self._batches_at_epoch_start + int(batch) + 1
        previous, self._batches_done = self._batches_done, done
        assert self._every is not None
        if done // self._every == previous // self._every:
            return  # no multiple of log_every_n_batches passed since the last call
        row = {f"batch/{key}": value for key, value in _loggable(logs).items()}
        row["batch/step"] = done
        self.run.log(row, step=done)
        self._last_step = done

    # -- supplied by each variant --------------------------------------------------------------
    def _to_float(self, value: Any) -> float:
        raise NotImplementedError

    def _framework(self) -> dict[str, Any]:
        raise NotImplementedError

    def _serializing(self) -> AbstractContextManager[None]:
        """A scope for calling the framework's ``get_config()`` / ``get_compile_config()``."""
        return nullcontext()

    def _current_learning_rate(self, optimizer: Any) -> float | None:
        """The learning rate in force now (a schedule evaluated at the optimizer's step)."""
        optimizer = getattr(optimizer, "inner_optimizer", optimizer)  # mixed precision
        if optimizer is None:
            return None
        try:
            value = optimizer.learning_rate
            if callable(value) and not hasattr(value, "numpy") and hasattr(value, "get_config"):
                value = value(optimizer.iterations)  # a bare schedule (tf_keras)
            number = self._to_float(value)
        except Exception:  # an optimizer without a learning rate
            return None
        return number if math.isfinite(number) else None


def _loggable(logs: Mapping[str, Any] | None) -> dict[str, Any]:
    """Keras's logs as loggable values: numbers and strings; anything else is skipped."""
    out: dict[str, Any] = {}
    for key, value in (logs or {}).items():
        if isinstance(value, (bool, int, float, str)):
            out[str(key)] = value
        else:
            item = getattr(value, "item", None)  # a numpy/tensor scalar (tf_keras may hand tensors)
            if callable(item):
                try:
                    out[str(key)] = item()
                except Exception:
                    continue
            elif hasattr(value, "numpy"):
                try:
                    out[str(key)] = value.numpy().item()
                except Exception:
                    continue
    return out


def _optimizer_config(optimizer: Any) -> dict[str, Any] | None:
    """``optimizer.get_config()`` (learning-rate schedule included, as Keras serialises it) and its class.

    Keras keeps hyperparameters in float32: ``SGD(0.1)`` says ``0.10000000149011612``. Such values
    are stored by their shortest float32 repr (0.1), so a filter on the value the user wrote matches.
    """
    if optimizer is None:
        return None
    outer = optimizer
    optimizer = getattr(optimizer, "inner_optimizer", optimizer)
    try:
        config = dict(optimizer.get_config())
    except Exception as error:  # a custom optimizer with a broken get_config(): say so, keep the rest
        config = {"get_config_error": f"{type(error).__name__}: {error}"}
    config = shortest_floats(config)
    config["class"] = qualified_name(optimizer)
    if outer is not optimizer:
        config["loss_scale_optimizer"] = qualified_name(outer)
    return config


def _compile_facts(model: Any) -> dict[str, Any]:
    """Loss, metrics and the other ``compile()`` arguments (the optimizer is recorded on its own)."""
    get = getattr(model, "get_compile_config", None)
    compile_config: Any = None
    if callable(get):
        try:
            compile_config = get()
        except Exception:
            compile_config = None
    if isinstance(compile_config, Mapping):
        return shortest_floats({key: compile_config[key] for key in _COMPILE_KEYS if key in compile_config})
    loss = getattr(model, "loss", None)  # public: what was passed to compile(), on Keras 3 and tf_keras
    facts: dict[str, Any] = {}
    if loss is not None:
        facts["loss"] = loss if isinstance(loss, (str, dict, list)) else named(loss)
    return facts


def _param_count(model: Any) -> dict[str, int] | None:
    """Total and trainable parameter counts, or None if the model is not built yet."""
    try:
        total = int(model.count_params())
    except Exception:  # ValueError: a subclassed model before its first batch
        return None
    trainable = sum(math.prod(int(d) for d in w.shape) for w in getattr(model, "trainable_weights", []))
    return {"params": total, "trainable_params": trainable}


def _model_facts(model: Any) -> dict[str, Any]:
    facts: dict[str, Any] = {"name": getattr(model, "name", None), "class": qualified_name(model)}
    count = _param_count(model)
    if count is not None:
        facts.update(count)
    return facts
