"""The run context a W&B user finds on every run page: system metrics, environment, code (git),
console and exit codes, each captured at init and each switchable off."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import types
from pathlib import Path
from typing import Any

import pytest

import trackkit
from trackkit._context import resolve_context_settings
from trackkit._environment import distributed_facts, strip_credentials

FAST = {"system_interval": 0.05}


def _wait_for(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.02)


# -- settings ------------------------------------------------------------------------------------
def test_settings_come_from_the_argument_then_the_environment_then_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """An explicit setting wins over its TRACKKIT_* variable, which wins over the default."""
    monkeypatch.setenv("TRACKKIT_CONSOLE", "off")
    monkeypatch.setenv("TRACKKIT_SYSTEM_INTERVAL", "2.5")
    monkeypatch.setenv("TRACKKIT_DISABLE_GIT", "1")
    resolved = resolve_context_settings({"system_interval": 30})
    assert (resolved.console, resolved.system_interval, resolved.disable_git) == ("off", 30.0, True)
    assert resolve_context_settings(trackkit.Settings(console="wrap")).console == "wrap"
    monkeypatch.delenv("TRACKKIT_CONSOLE")
    assert resolve_context_settings(None).console == "auto"


@pytest.mark.parametrize(
    ("settings", "message"),
    [({"consol": "off"}, "does not know 'consol'"), ({"console": "redirect"}, "use 'auto'"),
     ({"system_interval": 0}, "positive"), ({"disable_git": "maybe"}, "true or false"), ("off", "takes a trackkit.Settings")],
)
def test_bad_settings_are_refused_before_a_run_is_created(settings: Any, message: str) -> None:
    """A misspelt or invalid setting raises UsageError naming it, and no run is written."""
    with pytest.raises(trackkit.UsageError, match=message):
        trackkit.init(project="p", settings=settings)
    assert trackkit.Api().projects() == []


# -- system metrics ------------------------------------------------------------------------------
def test_system_metrics_with_real_psutil_form_their_own_stream() -> None:
    """CPU, memory, disk and network are sampled into the system stream, never into the history."""
    with trackkit.init(project="p", settings=FAST) as run:
        run.log({"loss": 1.0})
        _wait_for(lambda: run._context._monitor.samples >= 3)
    stored = trackkit.Api().run(f"p/{run.id}")
    rows = stored.system_metrics(pandas=False)
    assert len(rows) >= 3
    for key in ("cpu", "proc.cpu.percent", "proc.memory.rssMB", "cpu_percent", "memory_percent", "network.sent.MBps"):
        assert key in rows[-1], key
    assert rows[-1]["proc.memory.rssMB"] > 1
    stamps = [row["_timestamp"] for row in rows]
    assert stamps == sorted(stamps) and all(row["_runtime"] >= 0 for row in rows)
    assert [sorted(k for k in row if not k.startswith("_")) for row in stored.scan_history()] == [["loss"]]
    frame = stored.system_metrics(keys=["cpu"])
    assert list(frame.columns) == ["_timestamp", "_runtime", "cpu"] and len(frame) == len(rows)
    bucketed = stored.system_metrics(keys=["proc.memory.rssMB"], samples=2, pandas=False)
    assert 1 <= len(bucketed) <= 2
    assert all(b["proc.memory.rssMB/min"] <= b["proc.memory.rssMB"] <= b["proc.memory.rssMB/max"] for b in bucketed)


def test_a_run_shorter_than_the_interval_still_gets_one_sample() -> None:
    """finish() takes a last sample, so a short run has system metrics too."""
    with trackkit.init(project="p") as run:
        pass
    assert len(trackkit.Api().run(f"p/{run.id}").system_metrics(pandas=False)) == 1


class FakeNVML(types.ModuleType):
    """Two GPUs; the second cannot report power (as on many consumer cards)."""

    NVML_TEMPERATURE_GPU = 0

    class NVMLError(Exception):
        pass

    def __init__(self) -> None:
        super().__init__("pynvml")
        self.initialised = 0

    def nvmlInit(self) -> None:
        self.initialised += 1

    def nvmlShutdown(self) -> None:
        self.initialised -= 1

    def nvmlDeviceGetCount(self) -> int:
        return 2

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        return index

    def nvmlDeviceGetName(self, handle: int) -> Any:
        return b"NVIDIA A100-SXM4-40GB" if handle == 0 else "NVIDIA GeForce RTX 4090"

    def nvmlDeviceGetUtilizationRates(self, handle: int) -> Any:
        return types.SimpleNamespace(gpu=42 + handle, memory=7)

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> Any:
        return types.SimpleNamespace(total=40 * 2**30, used=10 * 2**30, free=30 * 2**30)

    def nvmlDeviceGetTemperature(self, handle: int, sensor: int) -> int:
        return 61

    def nvmlDeviceGetPowerUsage(self, handle: int) -> int:
        if handle == 1:
            raise self.NVMLError("Not Supported")
        return 250_000  # milliwatts

    def nvmlDeviceGetEnforcedPowerLimit(self, handle: int) -> int:
        return 400_000


def test_gpu_metrics_and_names_come_from_nvml(monkeypatch: pytest.MonkeyPatch) -> None:
    """Per-GPU utilisation, memory, temperature and power from NVML; a metric a GPU cannot report is left out."""
    nvml = FakeNVML()
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    with trackkit.init(project="p", settings=FAST) as run:
        _wait_for(lambda: run._context._monitor.samples >= 2)
    stored = trackkit.Api().run(f"p/{run.id}")
    row = stored.system_metrics(pandas=False)[-1]
    assert row["gpu.0.gpu"] == 42 and row["gpu.1.gpu"] == 43 and row["gpu.0.memory"] == 7
    assert row["gpu.0.memoryAllocated"] == 25.0 and row["gpu.0.memoryAllocatedBytes"] == 10 * 2**30
    assert row["gpu.0.temp"] == 61 and row["gpu.0.powerWatts"] == 250.0 and row["gpu.0.powerPercent"] == 62.5
    assert "gpu.1.powerWatts" not in row and "gpu.1.temp" in row
    meta = stored.metadata
    assert meta["gpu"] == "NVIDIA A100-SXM4-40GB" and meta["gpu_count"] == 2
    assert [g["name"] for g in meta["gpu_nvidia"]] == ["NVIDIA A100-SXM4-40GB", "NVIDIA GeForce RTX 4090"]
    assert nvml.initialised == 0  # every nvmlInit was matched by an nvmlShutdown


def test_system_metrics_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """TRACKKIT_DISABLE_SYSTEM_METRICS=1 starts no sampler and stores no system rows."""
    monkeypatch.setenv("TRACKKIT_DISABLE_SYSTEM_METRICS", "1")
    with trackkit.init(project="p") as run:
        assert run._context._monitor is None
    assert trackkit.Api().run(f"p/{run.id}").system_metrics(pandas=False) == []


# -- environment ---------------------------------------------------------------------------------
def test_environment_is_in_the_metadata_without_importing_frameworks(run_python: Any) -> None:
    """Host, OS, Python, command line, CPUs and framework versions (read without importing them), W&B-named."""
    result = run_python(
        """
        import sys, trackkit
        with trackkit.init(project="p", id="env") as run:
            pass
        print([m for m in ("numpy",) if m in sys.modules])
        """,
        "--lr", "0.1",
    )
    assert result.stdout.strip() == "[]"  # numpy's version was read from its metadata, not by importing it
    meta = trackkit.Api().run("p/env").metadata
    assert meta["executable"] == sys.executable and meta["python_version"].count(".") == 2
    assert meta["os"] and meta["cpu_count_logical"] == os.cpu_count() and meta["memory"]["total"] > 0
    assert meta["args"] == ["--lr", "0.1"] and meta["program"].endswith("script.py")
    from importlib.metadata import version

    assert meta["frameworks"]["numpy"] == version("numpy")


def test_slurm_job_facts_are_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under SLURM the job id, rank and world size are in the metadata."""
    for name, value in {"SLURM_JOB_ID": "4242", "SLURM_PROCID": "3", "SLURM_LOCALID": "1", "SLURM_NTASKS": "8",
                        "SLURM_JOB_NAME": "train"}.items():
        monkeypatch.setenv(name, value)
    with trackkit.init(project="p") as run:
        pass
    meta = trackkit.Api().run(f"p/{run.id}").metadata
    assert meta["slurm"] == {"job_id": "4242", "procid": "3", "localid": "1", "ntasks": "8", "job_name": "train"}
    assert meta["distributed"] == {"launcher": "slurm", "rank": 3, "local_rank": 1, "world_size": 8}


def test_torchrun_rank_and_world_size() -> None:
    """torchrun's variables name the launcher, rank, local rank and world size."""
    env = {"TORCHELASTIC_RUN_ID": "abc", "RANK": "1", "LOCAL_RANK": "1", "WORLD_SIZE": "2"}
    assert distributed_facts(env) == {"launcher": "torchrun", "rank": 1, "local_rank": 1, "world_size": 2, "run_id": "abc"}
    assert distributed_facts({}) == {}


def test_environment_facts_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """disable_meta and disable_requirements leave the machine facts and requirements.txt out."""
    with trackkit.init(project="p", settings={"disable_meta": True, "disable_requirements": True, "console": "off"}) as run:
        pass
    stored = trackkit.Api().run(f"p/{run.id}")
    assert "os" not in stored.metadata and "frameworks" not in stored.metadata
    assert [f.name for f in stored.files()] == []


def test_requirements_txt_lists_the_installed_packages() -> None:
    """requirements.txt holds name==version lines, as pip freeze does."""
    with trackkit.init(project="p") as run:
        pass
    text = trackkit.Api().run(f"p/{run.id}").file("requirements.txt").read_text()
    assert any(line.lower().startswith("pyyaml==") for line in text.splitlines())


# -- code ----------------------------------------------------------------------------------------
def _git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t", "GIT_CONFIG_GLOBAL": os.devnull}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git checkout with one commit on branch main and a remote URL holding a token."""
    root = tmp_path / "repo"
    root.mkdir()
    _git(root, "init", "-q", "-b", "main")
    (root / "train.py").write_text("lr = 0.1\n")
    _git(root, "add", "train.py")
    _git(root, "commit", "-q", "-m", "first")
    _git(root, "remote", "add", "origin", "https://alice:ghp_SECRET@github.com/acme/model.git")
    monkeypatch.chdir(root)
    return root


def test_git_commit_branch_remote_and_dirty_diff(repo: Path) -> None:
    """Commit, branch and remote (credentials stripped) go to metadata; the uncommitted diff is diff.patch."""
    (repo / "train.py").write_text("lr = 0.2\n")
    with trackkit.init(project="p") as run:
        pass
    stored = trackkit.Api().run(f"p/{run.id}")
    git = stored.metadata["git"]
    assert git["commit"] == _git(repo, "rev-parse", "HEAD") and git["branch"] == "main"
    assert git["remote"] == "https://github.com/acme/model.git" and git["dirty"] is True
    assert "SECRET" not in json.dumps(stored.metadata)
    patch = stored.file("diff.patch").read_text()
    assert "-lr = 0.1" in patch and "+lr = 0.2" in patch


def test_a_clean_checkout_has_no_diff_and_a_large_diff_is_capped(repo: Path) -> None:
    """A clean tree stores no diff.patch; a diff beyond git_diff_max_bytes is cut and marked."""
    with trackkit.init(project="p") as clean:
        pass
    stored = trackkit.Api().run(f"p/{clean.id}")
    assert stored.metadata["git"]["dirty"] is False and "diff.patch" not in [f.name for f in stored.files()]
    (repo / "train.py").write_text("x = 1\n" * 1000)
    with trackkit.init(project="p", settings={"git_diff_max_bytes": 200}) as big:
        pass
    stored = trackkit.Api().run(f"p/{big.id}")
    assert stored.file("diff.patch").size == 200
    assert stored.metadata["git"]["diff_truncated"] is True and stored.metadata["git"]["diff_bytes"] > 200


def test_git_can_be_turned_off(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """TRACKKIT_DISABLE_GIT=1 records no git facts."""
    monkeypatch.setenv("TRACKKIT_DISABLE_GIT", "1")
    (repo / "train.py").write_text("lr = 0.3\n")
    with trackkit.init(project="p") as run:
        pass
    stored = trackkit.Api().run(f"p/{run.id}")
    assert "git" not in stored.metadata and "diff.patch" not in [f.name for f in stored.files()]


@pytest.mark.parametrize(
    ("url", "clean"),
    [("https://user:tok@github.com/a/b.git", "https://github.com/a/b.git"),
     ("https://oauth2:glpat-x@gitlab.com:8443/a/b?private_token=y", "https://gitlab.com:8443/a/b"),
     ("git@github.com:a/b.git", "git@github.com:a/b.git"), ("ssh://git@host/a/b", "ssh://host/a/b")],
)
def test_strip_credentials(url: str, clean: str) -> None:
    """User names, passwords and query tokens never reach the metadata."""
    assert strip_credentials(url) == clean


def test_outside_a_checkout_there_are_no_git_facts() -> None:
    """A run started outside git has no `git` metadata (and no error)."""
    with trackkit.init(project="p") as run:
        pass
    assert "git" not in trackkit.Api().run(f"p/{run.id}").metadata


# -- files ---------------------------------------------------------------------------------------
def test_run_save_puts_files_that_api_lists_and_downloads(tmp_path: Path) -> None:
    """run.save(path) and run.save(glob) store files; ApiRun.files() lists them and download() fetches one."""
    (tmp_path / "a.ckpt").write_bytes(b"A" * 10)
    (tmp_path / "b.ckpt").write_bytes(b"B")
    (tmp_path / "notes.txt").write_text("hello")
    with trackkit.init(project="p", settings={"console": "off", "disable_requirements": True}) as run:
        assert run.save(str(tmp_path / "*.ckpt")) == ["a.ckpt", "b.ckpt"]
        assert run.save(tmp_path / "notes.txt", name="docs/notes.txt") == ["docs/notes.txt"]
        with pytest.raises(trackkit.UsageError, match="no such file"):
            run.save(tmp_path / "missing.txt")
    run.save(tmp_path / "notes.txt", name="after.txt")  # after finish: straight into the store
    stored = trackkit.Api().run(f"p/{run.id}")
    assert [(f.name, f.size) for f in stored.files()] == [("a.ckpt", 10), ("after.txt", 5), ("b.ckpt", 1),
                                                          ("docs/notes.txt", 5)]
    target = stored.file("docs/notes.txt").download(tmp_path / "out")
    assert Path(target).read_text() == "hello" and target.endswith(os.path.join("out", "docs", "notes.txt"))
    with pytest.raises(trackkit.UsageError, match="already exists"):
        stored.file("docs/notes.txt").download(tmp_path / "out")
    with pytest.raises(trackkit.RunNotFoundError, match="no file 'nope'"):
        stored.file("nope")


# -- exit hooks (in process) ---------------------------------------------------------------------
def test_exit_hooks_are_installed_while_a_run_is_active_and_restored_after() -> None:
    """sys.exit and sys.excepthook are hooked only while a run is active."""
    exit_before, hook_before = sys.exit, sys.excepthook
    first = trackkit.init(project="p")
    second = trackkit.init(project="p", reinit="create_new")
    assert sys.exit is not exit_before
    first.finish()
    assert sys.exit is not exit_before  # one run is still active
    second.finish()
    assert sys.exit is exit_before and sys.excepthook is hook_before


def test_disabled_runs_capture_nothing() -> None:
    """mode="disabled" starts no thread, patches no stream and hooks nothing."""
    exit_before = sys.exit
    with trackkit.init(project="p", mode="disabled") as run:
        assert run._context is None and sys.exit is exit_before and "write" not in vars(sys.stdout)


def test_trackkit_show_prints_the_context(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`trackkit show` has a context block (host, git, exit code, files, system metrics); --json has files too."""
    from trackkit._cli import main

    (repo / "train.py").write_text("lr = 0.2\n")
    with trackkit.init(project="p", id="shown") as run:
        run.log({"loss": 1})
    capsys.readouterr()
    assert main(["show", "p/shown"]) == 0
    text = capsys.readouterr().out.split("\ncontext\n", 1)[1]
    assert "git        " + _git(repo, "rev-parse", "HEAD")[:12] + " on main (dirty, see diff.patch)" in text
    assert "exit code  0" in text and "diff.patch (" in text and "output.log" not in text  # nothing was printed
    assert "system     1 samples; last: cpu " in text
    assert main(["show", "p/shown", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [f["name"] for f in data["files"]] == ["diff.patch", "requirements.txt"]
    assert data["system_metrics"]["samples"] == 1 and data["metadata"]["git"]["branch"] == "main"


# -- console (in process; the fresh-process checks are in test_console_and_exit_codes.py) ------
def test_console_log_resolves_carriage_returns_and_stops_at_its_cap(tmp_path: Path) -> None:
    """A redrawn line keeps its last state, \\r\\n is a plain line end, and the cap is marked once."""
    from trackkit._console import ConsoleLog

    log = ConsoleLog(str(tmp_path / "out.log"), max_bytes=60)
    for text in ("\r 10%", "\r 50%", "\r100%\n", "dos line\r\n", "part", "ial\n", "x" * 80 + "\n", "more\n"):
        log.feed("stderr", text)
    log.close()
    assert (tmp_path / "out.log").read_text().splitlines() == [
        "100%", "dos line", "partial", "[trackkit: output.log stops here, at its limit of 60 bytes]"]


def test_console_capture_gives_back_a_write_another_tool_wrapped_first() -> None:
    """A write wrapped before init (another logger's tee) still works during the run and is restored after."""
    stream = sys.stdout
    seen: list[str] = []
    original = stream.write

    def other_tee(text: str) -> int:
        seen.append(text)
        return original(text)

    stream.write = other_tee  # type: ignore[method-assign]
    try:
        with trackkit.init(project="p") as run:
            print("during the run")
        assert vars(stream)["write"] is other_tee and "during the run" in "".join(seen)
    finally:
        del stream.write
    assert trackkit.Api().run(f"p/{run.id}").file("output.log").read_text() == "during the run\n"
