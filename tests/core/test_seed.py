"""Every snippet of the seed page (W&B's guide to experiment config), with `wandb` read as
`trackkit`, run in a fresh process and read back through trackkit.Api()."""

from __future__ import annotations

from pathlib import Path

import trackkit

SEED_CONFIG = {
    "hidden_layer_sizes": [32, 64],
    "kernel_sizes": [3],
    "activation": "ReLU",
    "pool_sizes": [2],
    "dropout": 0.5,
    "num_classes": 10,
}


def only_run(project: str) -> trackkit.ApiRun:
    (run,) = trackkit.Api().runs(project)
    return run


def test_config_passed_at_init_and_read_back_like_a_dict(run_python) -> None:
    """init(config=dict) in a with block; values read by key and with get()."""
    result = run_python(
        f"""
        import trackkit
        config = {SEED_CONFIG!r}
        with trackkit.init(project="config_example", config=config) as run:
            hidden_layer_sizes = run.config["hidden_layer_sizes"]
            kernel_sizes = run.config["kernel_sizes"]
            activation = run.config["activation"]
            hidden_layer_sizes = run.config.get("hidden_layer_sizes")
            kernel_sizes = run.config.get("kernel_sizes")
            activation = run.config.get("activation")
            print(hidden_layer_sizes, kernel_sizes, activation)
        """
    )
    assert result.stdout.strip() == "[32, 64] [3] ReLU"
    run = only_run("config_example")
    assert run.config == SEED_CONFIG and run.state == "finished"


def test_argparse_script_logs_every_epoch(run_python) -> None:
    """The seed's config_experiment.py: argparse args as config, one row per epoch."""
    run_python(
        """
        import argparse
        import random

        import numpy as np
        import trackkit


        def train_one_epoch(epoch, lr, bs):
            acc = 0.25 + ((epoch / 30) + (random.random() / 10))
            loss = 0.2 + (1 - ((epoch - 1) / 10 + random.random() / 5))
            return acc, loss


        def evaluate_one_epoch(epoch):
            acc = 0.1 + ((epoch / 20) + (random.random() / 10))
            loss = 0.25 + (1 - ((epoch - 1) / 10 + random.random() / 6))
            return acc, loss


        def main(args):
            with trackkit.init(project="config_example", config=args) as run:
                lr = run.config["learning_rate"]
                bs = run.config["batch_size"]
                epochs = run.config["epochs"]
                for epoch in np.arange(1, epochs):
                    train_acc, train_loss = train_one_epoch(epoch, lr, bs)
                    val_acc, val_loss = evaluate_one_epoch(epoch)
                    run.log({"epoch": epoch, "train_acc": train_acc, "train_loss": train_loss,
                             "val_acc": val_acc, "val_loss": val_loss})


        if __name__ == "__main__":
            parser = argparse.ArgumentParser(formatter_class=argparse.ArgumentDefaultsHelpFormatter)
            parser.add_argument("-b", "--batch_size", type=int, default=32, help="Batch size")
            parser.add_argument("-e", "--epochs", type=int, default=50, help="Number of training epochs")
            parser.add_argument("-lr", "--learning_rate", type=int, default=0.001, help="Learning rate")
            args = parser.parse_args()
            main(args)
        """,
        "-e", "6", "-b", "16",
    )
    run = only_run("config_example")
    assert run.config == {"batch_size": 16, "epochs": 6, "learning_rate": 0.001}
    rows = list(run.scan_history())
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4, 5]  # numpy ints, stored as plain ints
    assert set(run.summary) == {"epoch", "train_acc", "train_loss", "val_acc", "val_loss"}


def test_config_changed_throughout_the_script(run_python) -> None:
    """run.config["dropout"] = 0.2, run.config.epochs = 4, config.update({...}) after init."""
    run_python(
        f"""
        import trackkit
        config = {SEED_CONFIG!r}
        with trackkit.init(project="config_example", config=config) as run:
            run.config["dropout"] = 0.2
            run.config.epochs = 4
            run.config["batch_size"] = 32
            run.config.update({{"lr": 0.1, "channels": 16}})
        """
    )
    run = only_run("config_example")
    assert run.config == {**SEED_CONFIG, "dropout": 0.2, "epochs": 4, "batch_size": 32, "lr": 0.1, "channels": 16}
    assert [(c["key"], c["old"], c["new"]) for c in run.config_changes] == [("dropout", 0.5, 0.2)]


def test_config_updated_after_the_run_through_the_public_api(run_python) -> None:
    """After the run: api.run(f"{username}/{project}/{run_id}"); config["bar"] = 32; update()."""
    run_python(
        """
        import trackkit
        with trackkit.init() as run:
            pass
        username = run.entity
        project = run.project
        run_id = run.id
        api = trackkit.Api()
        api_run = api.run(f"{username}/{project}/{run_id}")
        api_run.config["bar"] = 32
        api_run.update()
        """
    )
    run = only_run("uncategorized")
    assert run.config == {"bar": 32} and run.provenance == {"bar": "api"}


def test_absl_flags_added_to_config(run_python) -> None:
    """flags.DEFINE_string("model", None, ...); run.config.update(flags.FLAGS) adds the user's flags only."""
    run_python(
        """
        from absl import app, flags
        import trackkit

        flags.DEFINE_string("model", None, "model to run")

        def main(argv):
            with trackkit.init(project="flags") as run:
                run.config.update(flags.FLAGS)

        app.run(main)
        """,
        "--model=resnet",
    )
    assert only_run("flags").config == {"model": "resnet"}


def test_config_defaults_yaml_beside_the_script_is_overridden_by_init(run_python, tmp_path: Path) -> None:
    """config-defaults.yaml next to the script is loaded; init(config=) overrides its values."""
    script_dir = tmp_path / "training"
    script_dir.mkdir()
    (script_dir / "config-defaults.yaml").write_text("batch_size:\n  desc: Size of each mini-batch\n  value: 32\n"
                                                     "epochs:\n  desc: Number of epochs\n  value: 10\n"
                                                     "dropout:\n  value: 0.1\n")
    run_python(
        """
        import trackkit
        with trackkit.init(config={"epochs": 200, "batch_size": 64}) as run:
            pass
        """,
        script_dir=script_dir,
    )
    run = only_run("uncategorized")
    assert run.config == {"batch_size": 64, "epochs": 200, "dropout": 0.1}
    assert run.provenance["dropout"].startswith("defaults:")


def test_other_config_file_from_the_command_line(run_python, tmp_path: Path) -> None:
    """python train.py --configs other-config.yaml loads that file."""
    (tmp_path / "work" / "other-config.yaml").write_text("batch_size:\n  desc: bs\n  value: 128\nlr: 0.3\n")
    run_python(
        """
        import trackkit
        with trackkit.init(project="files") as run:
            pass
        """,
        "--configs", "other-config.yaml",
    )
    assert only_run("files").config == {"batch_size": 128, "lr": 0.3}


def test_yaml_file_and_hyperparameters_nested_in_one_config(run_python) -> None:
    """config=dict(yaml=my_yaml_file, params=hyperparameter_defaults) is stored nested."""
    run_python(
        """
        import trackkit
        my_yaml_file = "metadata.yaml"
        hyperparameter_defaults = dict(dropout=0.5, batch_size=100, learning_rate=0.001)
        config_dictionary = dict(yaml=my_yaml_file, params=hyperparameter_defaults)
        with trackkit.init(project="nested", config=config_dictionary) as run:
            assert run.config.params.dropout == 0.5
        """
    )
    run = only_run("nested")
    assert run.config == {"yaml": "metadata.yaml", "params": {"dropout": 0.5, "batch_size": 100, "learning_rate": 0.001}}
    assert len(trackkit.Api().runs("nested", filters={"config.params.batch_size": 100})) == 1
