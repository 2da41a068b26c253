"""Latency measurement of one Runner at one batch size: warm-up, then iterations or a duration.

Host timing (``time.perf_counter``) always covers ``runner.infer`` on numpy arrays, i.e. including
host<->device copies for GPU backends. When the runner can run on device tensors
(``infer_device``) and CUDA is available, the same loop is also timed on device-resident inputs
with CUDA events, which measures the engine without the copies.
"""
from __future__ import annotations

import contextlib
import resource
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

STAT_KEYS = ("mean", "std", "min", "p50", "p90", "p95", "p99", "max")


def latency_stats(samples_ms: list[float] | np.ndarray) -> dict[str, float]:
    """Summary of latency samples in milliseconds: mean, std, min, p50, p90, p95, p99, max."""
    a = np.asarray(samples_ms, dtype=np.float64)
    if a.size == 0:
        return {k: float("nan") for k in STAT_KEYS}
    p50, p90, p95, p99 = np.percentile(a, [50, 90, 95, 99])
    return {
        "mean": float(a.mean()), "std": float(a.std()), "min": float(a.min()),
        "p50": float(p50), "p90": float(p90), "p95": float(p95), "p99": float(p99),
        "max": float(a.max()),
    }


@dataclass
class Timing:
    """What one timed loop measured. Latencies are per call (one batch), in milliseconds."""

    batch: int
    host_ms: list[float]
    device_ms: list[float] | None = None          # CUDA events, inputs already on the device
    device_host_ms: list[float] | None = None     # perf_counter around the device-resident loop
    peak_host_memory_mb: float | None = None
    peak_device_memory_mb: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def throughput_fps(self) -> float:
        """Frames per second from the mean host latency (batch / mean seconds)."""
        mean = float(np.mean(self.host_ms)) if self.host_ms else float("nan")
        return self.batch / (mean / 1000.0) if mean > 0 else float("nan")


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS counter of this process (Linux ``clear_refs`` 5); False if not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MiB (VmHWM, or ru_maxrss where /proc is missing)."""
    with contextlib.suppress(OSError):
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # ru_maxrss is KiB on Linux and bytes on macOS.
    return rss / (1024.0 * 1024.0) if sys.platform == "darwin" else rss / 1024.0


def _cuda_torch():
    """torch if it is already imported (a torch/TensorRT runner loaded it) and sees a GPU, else None."""
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    with contextlib.suppress(Exception):
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            return torch
    return None


def _loop(fn: Callable[[], Any], *, warmup: int, iterations: int | None, duration: float | None,
          sync: Callable[[], None] | None = None) -> list[float]:
    """Run ``fn`` warm-up times, then time each call until ``iterations`` or ``duration`` seconds."""
    for _ in range(warmup):
        fn()
    if sync:
        sync()
    samples: list[float] = []
    start = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        fn()
        if sync:
            sync()
        samples.append((time.perf_counter() - t0) * 1000.0)
        if iterations is not None and len(samples) >= iterations:
            break
        if duration is not None and time.perf_counter() - start >= duration:
            break
    return samples


def _device_loop(runner, images: np.ndarray, torch, *, warmup: int, n: int) -> tuple[list[float], list[float]]:
    """Time ``runner.infer_device`` on a device-resident batch with CUDA events and perf_counter."""
    x = torch.from_numpy(images).cuda()
    for _ in range(warmup):
        runner.infer_device(x)
    torch.cuda.synchronize()
    events, host = [], []
    for _ in range(n):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        t0 = time.perf_counter()
        start.record()
        runner.infer_device(x)
        end.record()
        end.synchronize()
        host.append((time.perf_counter() - t0) * 1000.0)
        events.append((start, end))
    return [s.elapsed_time(e) for s, e in events], host


def time_runner(runner, *, batch: int = 1, warmup: int = 10, iterations: int | None = 100,
                duration: float | None = None, seed: int = 0) -> Timing:
    """Time ``runner.infer`` on random images [batch,3,H,W] float32 in [0,1].

    Stops after ``iterations`` calls or ``duration`` seconds, whichever is given (both: first
    reached). Peak host memory is the process peak RSS during the loop (reset before it when the
    kernel allows); peak device memory comes from torch's CUDA allocator when torch runs on a GPU.
    """
    if iterations is None and duration is None:
        raise ValueError("give iterations or duration")
    spec = runner.input_spec
    images = np.random.default_rng(seed).random((batch, 3, spec.height, spec.width), dtype=np.float32)
    torch = _cuda_torch()
    if torch is not None:
        torch.cuda.reset_peak_memory_stats()
    rss_reset = reset_peak_rss()
    host_ms = _loop(lambda: runner.infer(images), warmup=warmup, iterations=iterations, duration=duration)
    timing = Timing(batch=batch, host_ms=host_ms, peak_host_memory_mb=peak_rss_mb())
    timing.extra["host_memory_peak_scope"] = "loop" if rss_reset else "process"
    if torch is None:
        torch = _cuda_torch()  # the runner may have initialised CUDA lazily on its first call
    if torch is not None:
        if hasattr(runner, "infer_device"):
            timing.device_ms, timing.device_host_ms = _device_loop(
                runner, images, torch, warmup=min(warmup, 5), n=len(host_ms))
        timing.peak_device_memory_mb = torch.cuda.max_memory_reserved() / 2**20 + float(
            getattr(runner, "device_memory_bytes", 0) or 0) / 2**20
    return timing

