"""Smaller bugs of issue 8, each as a user meets it: a payload stored exactly or refused, the message
after the run finished at exit, and the writer's "buffered rows" message only after buffered rows."""

from __future__ import annotations

import errno

import pytest

import trackkit
from trackkit._local_store import LocalRunSink


@pytest.mark.parametrize(
    "payload",
    [
        {"train/loss": 0.9, "train": {"loss": 0.1}},
        {"train": {"loss": 0.1}, "train/loss": 0.9},
        {"a": {"b/c": 1}, "a/b": {"c": 2}},
    ],
)
def test_two_values_for_one_metric_name_are_refused(payload) -> None:
    """A key with '/' and a nested dict that name the same metric: log() raises, naming it, and logs nothing."""
    with trackkit.init(project="p", id="r") as run:
        with pytest.raises(trackkit.InvalidLogDataError, match="two values for"):
            run.log(payload)
        run.log({"train": {"loss": 0.1, "acc": 0.5}, "lr": 0.1})
    rows = list(trackkit.Api().run("p/r").scan_history())
    assert [{k: v for k, v in row.items() if not k.startswith("_")} for row in rows] == [
        {"train/loss": 0.1, "train/acc": 0.5, "lr": 0.1}
    ]


def test_logging_from_an_atexit_handler_after_the_run_finished_says_so(run_python) -> None:
    """An atexit handler registered before init runs after trackkit finished the run at exit: the error
    says the run has finished, not that init() was never called."""
    result = run_python(
        """
        import atexit, trackkit

        def late():
            try:
                trackkit.log({"late": 1})
            except trackkit.NoActiveRunError as error:
                print("ERROR", error)

        atexit.register(late)
        run = trackkit.init(project="p", id="r")
        run.log({"x": 1})
        """
    )
    assert "ERROR the run p/r (at interpreter exit) has finished" in result.stdout


def test_buffered_rows_message_only_after_rows_were_buffered(monkeypatch, capsys) -> None:
    """A failed summary write, then a good history write: the store is writable again, but no
    "buffered rows were written" when no row ever waited."""
    failing = {"on": False}
    original = LocalRunSink.write_summary

    def write_summary(self, document):
        if failing["on"]:
            raise OSError(errno.EIO, "Input/output error")
        return original(self, document)

    monkeypatch.setattr(LocalRunSink, "write_summary", write_summary)
    run = trackkit.init(project="p", id="r")
    with pytest.warns(trackkit.StorageWarning, match="summary"):
        failing["on"] = True
        run.log({"x": 1})
        run.flush()
        failing["on"] = False
        run.log({"x": 2})
        run.flush()
    run.finish()
    err = capsys.readouterr().err
    assert "the store is writable again" in err
    assert "buffered rows" not in err
