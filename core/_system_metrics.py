"""System metrics: a daemon thread that samples the process, the machine and its NVIDIA GPUs every
``interval`` seconds into the run's system stream (never into the user's history).

``psutil`` and NVML (``pynvml``, from ``nvidia-ml-py``) are imported on the sampler thread, never by
``import trackkit`` and never on the training thread. Anything that fails is left out of the row; the
thread never raises into training. Keys, W&B-named where W&B has the same metric:

================================  ===========================================================
``cpu``                           process CPU %, normalised by the logical core count (W&B)
``proc.cpu.percent``              process CPU % of one core (``top``; above 100 with threads)
``proc.cpu.threads``              the process's thread count
``proc.memory.rssMB``             process resident memory, MB
``proc.memory.percent``           process resident memory, % of the machine's
``cpu_percent``                   the machine's CPU utilisation, %
``memory_percent``                the machine's memory in use, %
``proc.memory.availableMB``       the machine's available memory, MB
``disk.read.MBps``, ``disk.write.MBps``         disk I/O rates since the previous sample
``disk.in``, ``disk.out``                       MB read / written since the run started (W&B)
``network.recv.MBps``, ``network.sent.MBps``    network rates since the previous sample
``network.recv``, ``network.sent``              bytes since the run started (W&B)
``gpu.<i>.gpu``                   GPU utilisation, %
``gpu.<i>.memory``                memory controller utilisation, %
``gpu.<i>.memoryAllocated``       memory in use, % of total
``gpu.<i>.memoryAllocatedBytes``  memory in use, bytes
``gpu.<i>.temp``                  temperature, °C
``gpu.<i>.powerWatts``            power draw, W
``gpu.<i>.powerPercent``          power draw, % of the enforced limit
================================  ===========================================================
Every row also has ``_timestamp`` (epoch seconds) and ``_runtime`` (seconds since the run started).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["SystemMonitor", "gpu_facts", "no_fork"]

_MB = 1024 * 1024
#: The sampler imports psutil and starts NVML this long after it is started (init returns first).
START_DELAY = 0.05

# A thread that imports while another thread forks leaves the child a half-imported module (seen: the
# child's `import orjson` segfaulting on a half-imported `platform`). The context's threads import and
# start NVML only while holding this lock, and os.fork() waits for it (a few tens of milliseconds, once
# per run, at most).
_fork_guard = threading.Lock()
_fork_hooked = False


def no_fork() -> threading.Lock:
    """The lock that ``os.fork()`` waits for: hold it while importing on a helper thread."""
    global _fork_hooked
    if not _fork_hooked and hasattr(os, "register_at_fork"):
        _fork_hooked = True
        os.register_at_fork(before=_fork_guard.acquire, after_in_parent=_fork_guard.release,
                            after_in_child=_fork_guard.release)
    return _fork_guard


def _nvml() -> Any:
    """The NVML module with the driver initialised, or None (no package, no driver, no GPU)."""
    try:
        import pynvml  # type: ignore[import-untyped,import-not-found,unused-ignore]  # from nvidia-ml-py
    except Exception:
        return None
    try:
        pynvml.nvmlInit()
    except Exception:
        return None
    return pynvml


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def gpu_facts() -> dict[str, Any]:
    """``gpu`` (name of the first), ``gpu_count`` and ``gpu_nvidia`` (name and memory of each), W&B-named;
    empty without NVML."""
    nvml = _nvml()
    if nvml is None:
        return {}
    try:
        devices = []
        for index in range(int(nvml.nvmlDeviceGetCount())):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            device: dict[str, Any] = {"name": _text(nvml.nvmlDeviceGetName(handle))}
            try:
                device["memory_total"] = int(nvml.nvmlDeviceGetMemoryInfo(handle).total)
            except Exception:
                pass
            devices.append(device)
    except Exception:
        return {}
    finally:
        try:
            nvml.nvmlShutdown()
        except Exception:
            pass
    if not devices:
        return {}
    return {"gpu": devices[0]["name"], "gpu_count": len(devices), "gpu_nvidia": devices}


class SystemMonitor:
    """Samples every ``interval`` seconds on a daemon thread and hands each row to ``emit``.

    ``stop()`` takes one last sample (so a run shorter than the interval still has one row), stops the
    thread and releases NVML. ``cpu_seconds`` is the thread's own CPU time, for the overhead benchmark.
    """

    def __init__(
        self,
        emit: Callable[[list[dict[str, Any]]], None],
        *,
        interval: float = 10.0,
        start_time: float | None = None,
        quiet: bool = False,
    ) -> None:
        self._emit = emit
        self._quiet = quiet
        self._stopped = False
        self.interval = interval
        self._start_time = time.time() if start_time is None else start_time
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._ready = False
        self._psutil: Any = None
        self._process: Any = None
        self._nvml: Any = None
        self._gpus: list[Any] = []
        self._last: dict[str, Any] = {}
        self._base: dict[str, float] = {}
        self._said: set[str] = set()
        self.samples = 0
        self.cpu_seconds = 0.0
        self._thread = threading.Thread(target=self._loop, name="trackkit-system-metrics", daemon=True)

    def start(self) -> SystemMonitor:
        self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        """Take a last sample, stop the thread and release NVML. Never raises; a second call does nothing."""
        if self._stopped:
            return
        self._stopped = True
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        if not self._thread.is_alive():
            self._sample_and_emit()
        with self._lock:
            if self._nvml is not None:
                try:
                    self._nvml.nvmlShutdown()
                except Exception:
                    pass
                self._nvml = None
                self._gpus = []

    # -- the thread ----------------------------------------------------------------------------
    def _loop(self) -> None:
        self._stop.wait(START_DELAY)  # let init return first
        with no_fork():
            self._prepare()
        while not self._stop.wait(self.interval):
            self._sample_and_emit()

    def _sample_and_emit(self) -> None:
        try:
            row = self.sample()
            if row:
                self._emit([row])
        except Exception as error:  # never into training; say it once
            self._say_once("emit", f"trackkit: system metrics stopped working ({type(error).__name__}: {error}).")

    def _prepare(self) -> None:
        with self._lock:
            if self._ready:
                return
            self._ready = True
            try:
                import psutil  # type: ignore[import-untyped,unused-ignore]

                self._psutil = psutil
                self._process = psutil.Process()
                self._process.cpu_percent(None)  # the first call primes the counters
                psutil.cpu_percent(None)
                self._base = self._counters()
                self._last = dict(self._base, time=time.monotonic())
            except ImportError:
                self._say_once("psutil", "trackkit: psutil is not installed, so CPU, memory, disk and network metrics "
                                         "are not recorded; pip install psutil.")
            except Exception:
                self._psutil = None
            self._nvml = _nvml()
            if self._nvml is not None:
                try:
                    count = int(self._nvml.nvmlDeviceGetCount())
                    self._gpus = [self._nvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
                except Exception:
                    self._gpus = []

    def sample(self) -> dict[str, Any]:
        """One row of system metrics (empty when nothing could be read)."""
        self._prepare()
        started = time.thread_time()
        with self._lock:
            row: dict[str, Any] = {}
            if self._psutil is not None:
                self._sample_host(row)
            for index, handle in enumerate(self._gpus):
                self._sample_gpu(row, index, handle)
        self.cpu_seconds += time.thread_time() - started
        if not row:
            return row
        now = time.time()
        row["_timestamp"] = now
        row["_runtime"] = now - self._start_time
        self.samples += 1
        return row

    def _counters(self) -> dict[str, float]:
        psutil = self._psutil
        counters: dict[str, float] = {}
        try:
            disk = psutil.disk_io_counters()
            if disk is not None:
                counters["disk_read"], counters["disk_write"] = float(disk.read_bytes), float(disk.write_bytes)
        except Exception:
            pass
        try:
            net = psutil.net_io_counters()
            counters["net_recv"], counters["net_sent"] = float(net.bytes_recv), float(net.bytes_sent)
        except Exception:
            pass
        return counters

    def _sample_host(self, row: dict[str, Any]) -> None:
        psutil, process = self._psutil, self._process
        try:
            with process.oneshot():
                percent = float(process.cpu_percent(None))
                row["proc.cpu.percent"] = percent
                row["cpu"] = percent / (os.cpu_count() or 1)
                row["proc.cpu.threads"] = int(process.num_threads())
                row["proc.memory.rssMB"] = process.memory_info().rss / _MB
                row["proc.memory.percent"] = float(process.memory_percent())
        except Exception:
            pass
        try:
            row["cpu_percent"] = float(psutil.cpu_percent(None))
            memory = psutil.virtual_memory()
            row["memory_percent"] = float(memory.percent)
            row["proc.memory.availableMB"] = memory.available / _MB
        except Exception:
            pass
        counters = self._counters()
        now = time.monotonic()
        elapsed = now - float(self._last.get("time", now))
        for key, rate, total, scale in (
            ("disk_read", "disk.read.MBps", "disk.in", _MB),
            ("disk_write", "disk.write.MBps", "disk.out", _MB),
            ("net_recv", "network.recv.MBps", "network.recv", 1),
            ("net_sent", "network.sent.MBps", "network.sent", 1),
        ):
            if key not in counters:
                continue
            value = counters[key]
            if elapsed > 0 and key in self._last:
                row[rate] = max(0.0, value - self._last[key]) / elapsed / _MB
            if key in self._base:
                row[total] = max(0.0, value - self._base[key]) / scale
        self._last = dict(counters, time=now)

    def _sample_gpu(self, row: dict[str, Any], index: int, handle: Any) -> None:
        nvml, prefix = self._nvml, f"gpu.{index}."
        try:
            rates = nvml.nvmlDeviceGetUtilizationRates(handle)
            row[prefix + "gpu"] = float(rates.gpu)
            row[prefix + "memory"] = float(rates.memory)
        except Exception:
            pass
        try:
            memory = nvml.nvmlDeviceGetMemoryInfo(handle)
            row[prefix + "memoryAllocatedBytes"] = int(memory.used)
            if memory.total:
                row[prefix + "memoryAllocated"] = 100.0 * memory.used / memory.total
        except Exception:
            pass
        try:
            row[prefix + "temp"] = float(nvml.nvmlDeviceGetTemperature(handle, getattr(nvml, "NVML_TEMPERATURE_GPU", 0)))
        except Exception:
            pass
        try:
            watts = nvml.nvmlDeviceGetPowerUsage(handle) / 1000.0
            row[prefix + "powerWatts"] = watts
            limit = nvml.nvmlDeviceGetEnforcedPowerLimit(handle) / 1000.0
            if limit:
                row[prefix + "powerPercent"] = 100.0 * watts / limit
        except Exception:
            pass

    def _say_once(self, key: str, message: str) -> None:
        if key in self._said or self._quiet:
            return
        self._said.add(key)
        try:
            print(message, file=sys.stderr)
        except Exception:
            pass
