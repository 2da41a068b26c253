"""``run_bench``: time one or several models at several batch sizes and describe the device.

Targets are files (``.engine``, ``.onnx``, ``.pt`` — opened with ``edgedepth.backends.open_runner``)
or Runners that are already open. With several targets (compare mode) every result gets
``speedup_vs_first``: the first target's mean latency at that batch divided by its own.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Iterable

import numpy as np
from tqdm import tqdm

from edgedepth.bench.device import describe_device
from edgedepth.bench.tegrastats import TegrastatsSampler, power_summary, tegrastats_available
from edgedepth.bench.timing import latency_stats, time_runner
from edgedepth.errors import EdgedepthError


def _open(target, *, backend: str, device: str, threads: int | None):
    """(runner, name, opened_here) for a path or an already open Runner."""
    if isinstance(target, (str, os.PathLike)):
        from edgedepth.backends import open_runner  # lazily: a backend imports its library when opened

        return open_runner(target, backend=backend, device=device, threads=threads), Path(target).name, True
    return target, getattr(target, "name", type(target).__name__), False


def _supported_batches(spec, batches: Iterable[int]) -> tuple[list[int], list[int]]:
    """Split ``batches`` into those the model's input accepts (fixed N or dynamic) and the rest."""
    fixed = spec.shape[0] if spec.shape and isinstance(spec.shape[0], int) and spec.shape[0] > 0 else None
    ok = [b for b in batches if fixed is None or b == fixed]
    return ok, [b for b in batches if b not in ok]


def accuracy_on(runner, data: str, *, samples: int = 8, seed: int = 0) -> dict[str, float]:
    """Depth metrics (edgedepth.eval.metrics.depth_metrics) of ``runner`` on ``samples`` images of ``data``.

    ``data`` is a synthetic world name (e.g. "synthetic-target") or a folder written by ``edgedepth
    data synth`` (see ``edgedepth.bench.accuracy``); images are rendered at, or resized to, the model's
    input size. Numpy only: no torch.
    """
    from edgedepth.bench.accuracy import accuracy_samples  # lazily: only when accuracy is asked for
    from edgedepth.eval.metrics import depth_metrics

    spec = runner.input_spec
    preds, gts = [], []
    for image, depth in accuracy_samples(data, size=(spec.height, spec.width), samples=samples, seed=seed):
        preds.append(runner.infer(image[None])[0])
        gts.append(depth[None])
    if not preds:
        raise EdgedepthError(f"--accuracy-data {data!r} has no samples", fix="write the folder with --n 1 or more")
    metrics = depth_metrics(np.stack(preds), np.stack(gts), median_scaling=False)
    return {k: float(v) for k, v in metrics.items()}


def run_bench(
    targets: list,
    *,
    batches: Iterable[int] = (1,),
    warmup: int = 10,
    iterations: int | None = 100,
    duration: float | None = None,
    threads: int | None = None,
    compare: bool | None = None,
    backend: str = "auto",
    device: str = "auto",
    accuracy_data: str | None = None,
    accuracy_samples: int = 8,
    power: bool = True,
) -> dict[str, Any]:
    """Benchmark every target at every batch size; returns the report dict (see bench.report).

    ``duration`` (seconds) replaces ``iterations`` when given. ``compare`` (default: more than
    one target) adds ``speedup_vs_first``. Power is sampled with tegrastats where it exists.
    """
    if duration is not None:
        iterations = None
    batches = sorted({int(b) for b in batches})
    if not targets or not batches or min(batches) < 1:
        raise EdgedepthError("nothing to benchmark", why=f"targets={targets!r}, batches={batches!r}",
                             fix="give at least one model file and batch sizes >= 1")
    sampler = TegrastatsSampler().start() if power and tegrastats_available() else None
    results: list[dict] = []
    skipped: list[dict] = []
    try:
        for target in tqdm(targets, desc="bench", disable=os.environ.get("EDGEDEPTH_NO_PROGRESS") == "1"):
            runner, name, opened = _open(target, backend=backend, device=device, threads=threads)
            if any(r["name"] == name for r in results):
                name = str(target) if opened else f"{name}#{len(results)}"  # keep names unique
            try:
                timed, notes = _bench_one(runner, name, batches, warmup=warmup, iterations=iterations,
                                          duration=duration, sampler=sampler)
                results += timed
                skipped += notes
                if accuracy_data:
                    acc = accuracy_on(runner, accuracy_data, samples=accuracy_samples)
                    for r in results:
                        if r["name"] == name and "accuracy" not in r:
                            r["accuracy"] = acc
            finally:
                if opened:
                    runner.close()
    finally:
        if sampler:
            sampler.stop()
    if compare if compare is not None else len(targets) > 1:
        _add_speedups(results, first=results[0]["name"] if results else None)
    return {
        "device": describe_device(),
        "settings": {"batches": batches, "warmup": warmup, "iterations": iterations, "duration_s": duration,
                     "threads": threads, "timing": "host perf_counter around infer(numpy), copies included"},
        "results": results,
        "skipped": skipped,
    }


def _bench_one(runner, name: str, batches: list[int], *, warmup, iterations, duration, sampler
               ) -> tuple[list[dict], list[dict]]:
    ok, skipped = _supported_batches(runner.input_spec, batches)
    if not ok:
        raise EdgedepthError(f"{name} has a fixed batch of {runner.input_spec.shape[0]}, none of {batches} fits",
                             fix=f"add --batch {runner.input_spec.shape[0]} or export with a dynamic batch")
    out = []
    for batch in ok:
        t0 = time.perf_counter()
        timing = time_runner(runner, batch=batch, warmup=warmup, iterations=iterations, duration=duration)
        t1 = time.perf_counter()
        result = {
            "name": name, "backend": runner.backend, "precision": runner.precision, "batch": batch,
            "latency_ms": latency_stats(timing.host_ms),
            "throughput_fps": timing.throughput_fps,
            "peak_memory_mb": timing.peak_host_memory_mb,
            "peak_device_memory_mb": timing.peak_device_memory_mb,
            "device_latency_ms": latency_stats(timing.device_ms) if timing.device_ms else None,
            "device_throughput_fps": (batch / (np.mean(timing.device_ms) / 1000.0)) if timing.device_ms else None,
            "iterations": len(timing.host_ms),
            "input_size": [runner.input_spec.height, runner.input_spec.width],
            "power": power_summary(sampler, t0, t1, frames=batch * len(timing.host_ms)) if sampler else None,
            "_samples_ms": timing.host_ms,
        }
        out.append(result)
    notes = [{"name": name, "batch": b, "why": f"input batch is fixed at {runner.input_spec.shape[0]}"}
             for b in skipped]
    return out, notes


def _add_speedups(results: list[dict], *, first: str | None) -> None:
    base = {r["batch"]: r["latency_ms"]["mean"] for r in results if r["name"] == first}
    for r in results:
        mean = r["latency_ms"]["mean"]
        if r["batch"] in base and mean > 0:
            r["speedup_vs_first"] = base[r["batch"]] / mean
