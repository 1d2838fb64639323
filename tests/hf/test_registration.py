"""``report_to="trackkit"`` in fresh interpreters: registration in every import order, no eager import, final states."""

from __future__ import annotations

import pytest

import trackkit

TRAIN = """
from hf_tiny import tiny_trainer
tiny_trainer("out", run_name="fresh").train()
"""


def only_run(project: str = "huggingface") -> trackkit.ApiRun:
    runs = list(trackkit.Api().runs(project))
    assert len(runs) == 1, runs
    return runs[0]


def test_import_trackkit_does_not_import_transformers(run_python) -> None:
    """``import trackkit`` leaves transformers, torch and the integration module unimported."""
    result = run_python("""
        import sys, trackkit
        heavy = ("transformers", "torch", "trackkit.integrations.transformers")
        print([name for name in heavy if name in sys.modules])
    """)
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "imports",
    [
        "import trackkit\nimport transformers",  # the hook fires later
        "from transformers import Trainer, TrainingArguments\nimport trackkit",  # registered at once
        "import transformers\nimport trackkit",  # transformers loaded, its integrations not yet
    ],
    ids=["trackkit-first", "trainer-first", "transformers-package-first"],
)
def test_report_to_works_in_any_import_order(hf_python, imports: str) -> None:
    """TrainingArguments(report_to="trackkit") reaches a run whichever of trackkit and transformers comes first."""
    hf_python(imports + "\n" + TRAIN + """
from transformers.integrations import INTEGRATION_TO_CALLBACK
from trackkit.integrations.transformers import TrackCallback
assert INTEGRATION_TO_CALLBACK["trackkit"] is TrackCallback
""")
    run = only_run()
    assert run.name == "fresh"
    assert run.state == "finished"
    assert [row["_step"] for row in run.scan_history() if "train/loss" in row] == [2, 4, 6, 8, 10]


def test_list_report_to(hf_python) -> None:
    """report_to given as a list that contains "trackkit" works too."""
    hf_python("""
        import trackkit
        from hf_tiny import tiny_trainer
        tiny_trainer("out", report_to=["trackkit"]).train()
    """)
    assert only_run().state == "finished"


def test_training_that_raises_ends_failed(hf_python) -> None:
    """An exception escaping trainer.train() leaves the run failed, with history up to the failure."""
    result = hf_python("""
        import trackkit
        from transformers import TrainerCallback
        from hf_tiny import tiny_trainer

        class Boom(TrainerCallback):
            def on_step_end(self, args, state, control, **kwargs):
                if state.global_step == 5:
                    raise RuntimeError("boom at step 5")

        tiny_trainer("out", callbacks=[Boom()]).train()
    """, check=False)
    assert result.returncode != 0
    run = only_run()
    assert run.state == "failed"
    assert "boom at step 5" in run.metadata.get("exit_reason", "")
    assert [row["_step"] for row in run.scan_history() if "train/loss" in row] == [2, 4]


def test_training_that_raises_and_is_caught_ends_failed(hf_python) -> None:
    """A caught exception from trainer.train() still marks the run failed when the script ends."""
    hf_python("""
        import trackkit
        from transformers import TrainerCallback
        from hf_tiny import tiny_trainer

        class Boom(TrainerCallback):
            def on_step_end(self, args, state, control, **kwargs):
                if state.global_step == 5:
                    raise RuntimeError("boom")

        try:
            tiny_trainer("out", callbacks=[Boom()]).train()
        except RuntimeError:
            print("recovered")
    """)
    run = only_run()
    assert run.state == "failed"
    assert "did not complete" in run.metadata.get("exit_reason", "")


def test_absl_flags_are_captured(hf_python) -> None:
    """The script's own absl flags land in the config with provenance "flags"; TrainingArguments win on a clash."""
    hf_python("""
        from absl import flags
        flags.DEFINE_string("dataset", "random-tokens", "the data")
        flags.DEFINE_float("learning_rate", 9.0, "clashes with TrainingArguments")
        flags.FLAGS(["script"])
        import trackkit
        from hf_tiny import tiny_trainer
        tiny_trainer("out").train()
    """)
    run = only_run()
    assert run.config["dataset"] == "random-tokens"
    assert run.provenance["dataset"] == "flags"
    assert run.config["learning_rate"] == 3e-4
    assert run.provenance["learning_rate"] == "transformers"


def test_hooks_can_be_turned_off(hf_python) -> None:
    """TRACKKIT_NO_IMPORT_HOOKS=1 leaves transformers alone until register() is called."""
    result = hf_python("""
        import trackkit
        from transformers.integrations import INTEGRATION_TO_CALLBACK
        print("before", "trackkit" in INTEGRATION_TO_CALLBACK)
        from trackkit.integrations.transformers import register
        register()
        print("after", "trackkit" in INTEGRATION_TO_CALLBACK)
    """, env={"TRACKKIT_NO_IMPORT_HOOKS": "1"})
    assert result.stdout.split() == ["before", "False", "after", "True"]
