"""A script's own ``--configs`` (an absl flag or an argparse option) stays the script's: trackkit does
not read it as its config files, and says how to name those instead (``TRACKKIT_CONFIG_PATHS``)."""

from __future__ import annotations

import pytest

import trackkit


def test_an_absl_flag_named_configs_is_left_to_the_script(run_python) -> None:
    """--configs=small,fast with DEFINE_list("configs") starts the run and records the flag; no ConfigFileError."""
    pytest.importorskip("absl.flags")
    result = run_python("""
        import sys
        from absl import app, flags
        import trackkit

        flags.DEFINE_list("configs", [], "presets of this script")
        FLAGS = flags.FLAGS

        def main(argv):
            with trackkit.init(project="own-flag", name="absl", config=FLAGS) as run:
                run.log({"loss": 1.0})

        app.run(main)
    """, "--configs=small,fast", check=False)
    assert result.returncode == 0, result.stderr
    assert "TRACKKIT_CONFIG_PATHS" in result.stderr
    (run,) = trackkit.Api().runs("own-flag")
    assert run.config["configs"] == ["small", "fast"] and run.state == "finished"


def test_an_argparse_option_named_configs_is_left_to_the_script(run_python) -> None:
    """An argparse --configs inside main(): the run starts with the parsed value; trackkit's files come from the variable."""
    result = run_python("""
        import argparse
        import trackkit

        def main():
            parser = argparse.ArgumentParser()
            parser.add_argument("--configs", default="base")
            args = parser.parse_args()
            with trackkit.init(project="own-flag", name="argparse", config=args) as run:
                run.log({"loss": 1.0})

        main()
    """, "--configs", "small", env={"TRACKKIT_CONFIG_PATHS": "extra.yaml"}, check=False)
    assert result.returncode != 0 and "extra.yaml" in result.stderr and "small" not in result.stderr  # the variable is read

    ok = run_python("""
        import argparse
        import trackkit

        def main():
            parser = argparse.ArgumentParser()
            parser.add_argument("--configs", default="base")
            args = parser.parse_args()
            with trackkit.init(project="own-flag", name="argparse", config=args) as run:
                run.log({"loss": 1.0})

        main()
    """, "--configs", "small", check=False)
    assert ok.returncode == 0, ok.stderr
    (run,) = [r for r in trackkit.Api().runs("own-flag") if r.name == "argparse" and r.state == "finished"]
    assert run.config["configs"] == "small"


def test_without_an_own_option_configs_still_names_trackkit_files(run_python) -> None:
    """A script with no configs option of its own: --configs=missing.yaml is trackkit's and fails as documented."""
    result = run_python("""
        import trackkit
        trackkit.init(project="own-flag", name="plain")
    """, "--configs=missing.yaml", check=False)
    assert result.returncode != 0 and "missing.yaml" in result.stderr
