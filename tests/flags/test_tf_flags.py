"""absl and TensorFlow v1 flags into a run's config: the seed's calls, parsed or not, under app.run,
with unknown arguments in sys.argv, and captured by the Keras callback.

absl flags are process-global, so most scripts run in a fresh interpreter (``run_python``); the
in-process tests define flags with names used nowhere else.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import trackkit

pytest.importorskip("absl.flags")

BUILTINS = {"logtostderr", "alsologtostderr", "verbosity", "log_dir", "pdb", "only_check_args", "run_with_pdb",
            "stderrthreshold", "showprefixforinfo", "v", "use_cprofile_for_profiling", "profile_file", "helpfull"}


def config_of(project: str, name: str) -> trackkit.ApiRun:
    (run,) = [run for run in trackkit.Api().runs(project) if run.name == name]
    return run


def test_absl_flags_before_and_after_parsing(run_python):
    """run.config.update(flags.FLAGS) gives the defaults before parsing and the parsed values after; user flags only."""
    run_python(
        """
        import sys
        from absl import flags
        import trackkit

        flags.DEFINE_integer("batch_size", 32, "examples per batch")
        flags.DEFINE_float("learning_rate", 0.1, "step size")
        flags.DEFINE_list("layers", ["16", "8"], "hidden sizes")
        flags.DEFINE_enum("optimizer", "sgd", ["sgd", "adam"], "optimizer")
        flags.DEFINE_string("data_dir", None, "unset string")

        with trackkit.init(project="absl", name="before") as run:
            run.config.update(flags.FLAGS)
        flags.FLAGS(sys.argv)
        with trackkit.init(project="absl", name="after") as run:
            run.config.update(flags.FLAGS)
        """,
        "--batch_size=64", "--layers=32,16,8", "--optimizer=adam",
    )
    before = config_of("absl", "before").config
    after = config_of("absl", "after")
    assert before == {"batch_size": 32, "learning_rate": 0.1, "layers": ["16", "8"], "optimizer": "sgd",
                      "data_dir": None}
    assert after.config == {"batch_size": 64, "learning_rate": 0.1, "layers": ["32", "16", "8"],
                            "optimizer": "adam", "data_dir": None}
    assert after.provenance["batch_size"] == "update"


def test_absl_app_run(run_python):
    """Under absl.app.run, trackkit.init(config=flags.FLAGS) in main() records the parsed flags."""
    run_python(
        """
        from absl import app, flags
        import trackkit

        flags.DEFINE_integer("epochs", 3, "epochs")
        flags.DEFINE_boolean("augment", False, "augment data")

        def main(argv):
            with trackkit.init(project="absl", name="app", config=flags.FLAGS):
                pass

        app.run(main)
        """,
        "--epochs=7", "--augment",
    )
    assert config_of("absl", "app").config == {"epochs": 7, "augment": True}


TF_SCRIPT_HEAD = """
    import os, sys
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import tensorflow as tf
    import trackkit

    flags = tf.compat.v1.flags
    flags.DEFINE_string("model_dir", "/tmp/model", "where checkpoints go")
    flags.DEFINE_integer(flag_name="train_steps", default_value=100, docstring="legacy keyword names")
    flags.DEFINE_float("learning_rate", 0.01, "step size")
    flags.DEFINE_boolean("use_bn", True, "batch norm")
    flags.DEFINE_list("hidden", ["64", "32"], "hidden sizes")
    FLAGS = flags.FLAGS
"""
TF_DEFAULTS = {"model_dir": "/tmp/model", "train_steps": 100, "learning_rate": 0.01, "use_bn": True,
               "hidden": ["64", "32"]}


def test_tf_compat_v1_flags_module_and_wrapper_before_parsing_with_unknown_argv(run_python):
    """The module, its FLAGS and tf.compat.v1.app.flags all work unparsed, with arguments the flags don't know."""
    run_python(
        TF_SCRIPT_HEAD
        + """
    assert tf.compat.v1.app.flags is flags
    assert not FLAGS.is_parsed()
    for name, source in [("module", flags), ("wrapper", FLAGS), ("app_module", tf.compat.v1.app.flags),
                         ("app_wrapper", tf.compat.v1.app.flags.FLAGS)]:
        with trackkit.init(project="tf", name=name) as run:
            run.config.update(source)
    with trackkit.init(project="tf", name="init_config", config=FLAGS):
        pass
    assert not FLAGS.is_parsed()  # reading the flags did not make the wrapper parse sys.argv
    """,
        "--unknown_pytest_flag=1", "-q",
    )
    for name in ("module", "wrapper", "app_module", "app_wrapper", "init_config"):
        assert config_of("tf", name).config == TF_DEFAULTS, name


def test_tf_compat_v1_flags_after_parsing(run_python):
    """After FLAGS(argv, known_only=True) the parsed values are recorded, unknown arguments ignored."""
    run_python(
        TF_SCRIPT_HEAD
        + """
    rest = FLAGS(sys.argv, known_only=True)
    assert rest[1:] == ["--not_a_flag=3"], rest
    with trackkit.init(project="tf", name="parsed") as run:
        run.config.update(tf.compat.v1.flags.FLAGS)
    """,
        "--train_steps=5", "--nouse_bn", "--hidden=8", "--not_a_flag=3",
    )
    assert config_of("tf", "parsed").config == {**TF_DEFAULTS, "train_steps": 5, "use_bn": False, "hidden": ["8"]}


def test_tf_compat_v1_app_run(run_python):
    """Under tf.compat.v1.app.run, main() records the parsed flags; TF and absl built-ins stay out."""
    run_python(
        TF_SCRIPT_HEAD
        + """
    def main(argv):
        run = trackkit.init(project="tf", name="app_run")
        run.config.update(FLAGS)
        run.config.update({"argv_rest": argv[1:]})
        run.finish()

    tf.compat.v1.app.run(main)
    """,
        "--learning_rate=0.5", "--model_dir=/data/m", "--extra=1",
    )
    config = config_of("tf", "app_run").config
    assert config == {**TF_DEFAULTS, "learning_rate": 0.5, "model_dir": "/data/m", "argv_rest": ["--extra=1"]}
    assert not BUILTINS & set(config)


def test_tf_flags_in_process_under_pytest_argv():
    """In this pytest process (sys.argv full of pytest's own options), the TF wrapper is read without parsing."""
    tf = pytest.importorskip("tensorflow")
    flags = tf.compat.v1.flags
    assert len(sys.argv) >= 1
    flags.DEFINE_integer("tk_inproc_units", 12, "units")
    flags.DEFINE_string(flag_name="tk_inproc_name", default_value="mlp", docstring="legacy keywords")
    with trackkit.init(project="tf", name="inproc", config=flags.FLAGS) as run:
        run.config.update(tf.compat.v1.app.flags)
    config = config_of("tf", "inproc").config
    assert config["tk_inproc_units"] == 12 and config["tk_inproc_name"] == "mlp"
    assert not BUILTINS & set(config)
    assert not any(key.startswith(("tf_", "xla", "hbm", "op_conversion")) for key in config)


def test_user_flags_and_capture_flags_in_process():
    """user_flags() lists the user's flags; capture_flags() adds them as "flags" without overriding explicit keys."""
    from absl import flags

    from trackkit.integrations.flags import capture_flags, user_flags

    flags.DEFINE_float("tk_capture_dropout", 0.25, "dropout")
    flags.DEFINE_integer("tk_capture_width", 128, "width")
    assert {"tk_capture_dropout": 0.25, "tk_capture_width": 128}.items() <= user_flags().items()
    with trackkit.init(project="flags", name="capture", config={"tk_capture_width": 256}) as run:
        captured = capture_flags(run)
        assert captured["tk_capture_width"] == 128
    api_run = config_of("flags", "capture")
    assert api_run.config["tk_capture_width"] == 256 and api_run.provenance["tk_capture_width"] == "init"
    assert api_run.config["tk_capture_dropout"] == 0.25 and api_run.provenance["tk_capture_dropout"] == "flags"


def test_keras_callback_captures_the_scripts_flags(run_python):
    """TrackCallback adds the script's TF v1 flags to the config: explicit config wins, provenance says flags."""
    run_python(
        TF_SCRIPT_HEAD
        + """
    import numpy as np
    import keras
    from trackkit.integrations.keras import TrackCallback

    def main(argv):
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)], name="flagged")
        model.compile(optimizer=keras.optimizers.SGD(FLAGS.learning_rate), loss="mse")
        with TrackCallback(project="tf", name="keras_flags", config={"train_steps": 7}) as callback:
            model.fit(np.ones((8, 3)), np.ones((8,)), epochs=2, batch_size=4, verbose=0, callbacks=[callback])

    tf.compat.v1.app.run(main)
    """,
        "--learning_rate=0.2", "--train_steps=50",
        env={"KERAS_BACKEND": "tensorflow"},
        timeout=300,
    )
    api_run = config_of("tf", "keras_flags")
    config, provenance = api_run.config, api_run.provenance
    assert config["train_steps"] == 7 and provenance["train_steps"] == "init"  # explicit config wins
    assert config["learning_rate"] == 0.2 and provenance["learning_rate"] == "flags"
    assert config["model_dir"] == "/tmp/model" and provenance["model_dir"] == "flags"
    assert config["keras"]["optimizer"]["learning_rate"] == pytest.approx(0.2)
    assert config["keras"]["model"]["name"] == "flagged"
    assert not BUILTINS & set(config)
    assert len([row for row in api_run.scan_history() if "epoch" in row]) == 2


@pytest.mark.parametrize("script_name", ["keras_train.py", "torch_mnist.py", "absl_style.py"])
def test_flags_of_a_script_named_like_a_framework_are_the_users(tmp_path: Path, script_name: str):
    """Flags defined in a script called keras_train.py (listed under that file name) are still the user's own."""
    script = tmp_path / script_name
    script.write_text(textwrap.dedent(
        """
        import sys
        from absl import flags
        import trackkit

        flags.DEFINE_integer("units", 16, "units")
        flags.FLAGS(sys.argv)
        with trackkit.init(project="named", name=sys.argv[0].rsplit("/", 1)[-1], config=flags.FLAGS):
            pass
        """
    ))
    subprocess.run([sys.executable, script_name, "--units=32"], check=True, cwd=tmp_path, timeout=120)  # relative, as typed
    assert config_of("named", script_name).config == {"units": 32}


def test_tf_flags_example_runs(run_python):
    """examples/tf_flags_example.py runs as written and records its parsed flags as the config."""
    path = Path(__file__).resolve().parents[2] / "examples" / "tf_flags_example.py"
    run_python(path.read_text(), "--learning_rate=0.05", "--hidden=16,8", "--epochs=2", timeout=300)
    (run,) = trackkit.Api().runs("tf-flags-example")
    assert run.config == {"learning_rate": 0.05, "epochs": 2, "batch_size": 32, "hidden": ["16", "8"],
                          "run_name": None}
    assert [row["epoch"] for row in run.scan_history()] == [0, 1]
    assert run.state == "finished"
