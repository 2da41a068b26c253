"""Fused vs reference warp operators: time and peak memory, forward and forward+backward.

    python benchmarks/warp_bench.py [--sizes 96x320 192x640] [--batch 4] [--threads 2] [--repeat 10]
                                    [--device cpu|cuda] [--out benchmarks/results/warp_bench]

Writes OUT.json and OUT.md. Each case runs --repeat times after warm-up, fused and reference
interleaved in the same process; speed-ups use the minimum time (on a shared machine the
minimum is the estimate least disturbed by other jobs), and the medians are reported too. Peak memory is measured in a fresh subprocess per case: on CPU
the growth of the peak resident set over one call, after inputs and a small warm-up
exist: the kernel's high-water mark VmHWM is reset through /proc/self/clear_refs, and glibc
returns large blocks to the OS on free, so the resident set follows tensor lifetimes); on CUDA
torch.cuda.max_memory_allocated over one call.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edgedepth.kernels import inverse_warp, ops, photometric_error  # noqa: E402
from edgedepth.utils.io import atomic_write_text, write_json  # noqa: E402

OPS = ("inverse_warp", "photometric_error")
MODES = ("forward", "forward+backward")
BACKENDS = ("fused", "reference")


def make_inputs(b: int, h: int, w: int, device: str, seed: int = 0):
    """target, src [B,3,H,W]; depth [B,1,H,W] in 1..20 m; a forward camera motion with a small rotation."""
    g = torch.Generator().manual_seed(seed)
    target, src = torch.rand(b, 3, h, w, generator=g), torch.rand(b, 3, h, w, generator=g)
    depth = 1.0 + 19.0 * torch.rand(b, 1, h, w, generator=g)
    K = torch.tensor([[0.58 * w, 0, 0.5 * w], [0, 1.92 * h, 0.5 * h], [0, 0, 1.0]]).expand(b, 3, 3).clone()
    T = torch.eye(4).repeat(b, 1, 1)
    angle = 0.02
    T[:, 0, 0], T[:, 0, 2], T[:, 2, 0], T[:, 2, 2] = (torch.cos(torch.tensor(angle)), torch.sin(torch.tensor(angle)),
                                                      -torch.sin(torch.tensor(angle)), torch.cos(torch.tensor(angle)))
    T[:, :3, 3] = torch.tensor([0.1, 0.0, 0.5])
    return [t.to(device) for t in (target, src, depth, T, K)]


def run_case(op: str, mode: str, backend: str, inputs) -> None:
    target, src, depth, T, K = inputs
    grad = mode == "forward+backward"
    leaves = [t.clone().requires_grad_(grad) for t in (src, depth, T)]
    with torch.set_grad_enabled(grad):
        if op == "inverse_warp":
            out, valid = inverse_warp(*leaves, K, backend=backend)
        else:
            out, valid = photometric_error(target, *leaves, K, backend=backend)
        if grad:
            (out * valid).sum().backward()


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def time_cases(size, args) -> list[dict]:
    h, w = size
    inputs = make_inputs(args.batch, h, w, args.device)
    rows = []
    for op in OPS:
        for mode in MODES:
            samples = {b: [] for b in BACKENDS}
            for backend in BACKENDS:  # warm-up
                for _ in range(2):
                    run_case(op, mode, backend, inputs)
            for _ in range(args.repeat):
                for backend in BACKENDS:  # interleaved so both see the same machine load
                    _sync(args.device)
                    start = time.perf_counter()
                    run_case(op, mode, backend, inputs)
                    _sync(args.device)
                    samples[backend].append(1e3 * (time.perf_counter() - start))
            for backend in BACKENDS:
                rows.append({"op": op, "mode": mode, "backend": backend, "size": f"{h}x{w}",
                             "median_ms": statistics.median(samples[backend]), "min_ms": min(samples[backend])})
    return rows


def measure_memory(op: str, mode: str, backend: str, size, args) -> float:
    """Peak extra memory (MiB) of one call, in a fresh subprocess."""
    cmd = [sys.executable, __file__, "--memory-case", op, mode, backend, f"{size[0]}x{size[1]}",
           "--batch", str(args.batch), "--threads", str(args.threads), "--device", args.device]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT).stdout
    return float(out.strip().splitlines()[-1])


def memory_case(op: str, mode: str, backend: str, size: str, args) -> None:
    h, w = (int(v) for v in size.split("x"))
    run_case(op, mode, backend, make_inputs(args.batch, 32, 64, args.device))  # lazy init, thread pools
    inputs = make_inputs(args.batch, h, w, args.device)
    if args.device == "cuda":
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        run_case(op, mode, backend, inputs)
        torch.cuda.synchronize()
        print((torch.cuda.max_memory_allocated() - base) / 2**20)
    else:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset VmHWM to the current resident set
        base = _status_kib("VmRSS")
        run_case(op, mode, backend, inputs)
        print((_status_kib("VmHWM") - base) / 1024)


def _status_kib(key: str) -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(key + ":"))


def machine(device: str) -> dict:
    cpu = platform.processor()
    try:
        cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    info = {"cpu": cpu, "logical_cpus": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(), "torch": torch.__version__}
    if device == "cuda":
        info["gpu"] = torch.cuda.get_device_name()
    return info


def markdown(report: dict) -> str:
    m = report["machine"]
    lines = [
        "# Warp operator benchmark", "",
        f"Command: `{report['command']}`  ",
        f"Machine: {m['cpu']} ({m['logical_cpus']} logical CPUs{', ' + m['gpu'] if 'gpu' in m else ''}), "
        f"{m['platform']}, Python {m['python']}, torch {m['torch']}  ",
        f"Device: {report['device']}, threads: {report['threads']}, batch {report['batch']}, 3 channels, float32, "
        f"minimum (and median) of {report['repeat']} runs. Fused library: `{report['library']}`  ",
        f"1-minute load average at start / end: {report['load_average_1min']['start']:.1f} / "
        f"{report['load_average_1min']['end']:.1f} (on {m['logical_cpus']} logical CPUs)", "",
        "Speed-up = reference time / fused time; memory = peak extra memory of one call (MiB, see the script).", "",
        "| op | mode | size | reference ms (median) | fused ms (median) | speed-up | reference MiB | fused MiB |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in report["comparisons"]:
        lines.append(f"| {r['op']} | {r['mode']} | {r['size']} | {r['reference_ms']:.1f} ({r['reference_median_ms']:.1f}) | "
                     f"{r['fused_ms']:.1f} ({r['fused_median_ms']:.1f}) | "
                     f"{r['speedup']:.2f}x | {r['reference_peak_mib']:.1f} | {r['fused_peak_mib']:.1f} |")
    lines += ["", report["note"], ""]
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", nargs="+", default=["96x320", "192x640"])
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeat", type=int, default=10)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--out", default="benchmarks/results/warp_bench")
    p.add_argument("--no-memory", action="store_true", help="skip the per-case memory subprocesses")
    p.add_argument("--memory-case", nargs=4, metavar=("OP", "MODE", "BACKEND", "HxW"), help=argparse.SUPPRESS)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    if args.memory_case:
        memory_case(*args.memory_case, args)
        return 0
    if not ops.has_kernel(args.device):
        print(f"fused operators unavailable on {args.device}: {ops.load_error()}", file=sys.stderr)
        return 1
    comparisons = []
    load_before = os.getloadavg()
    for size_text in args.sizes:
        size = tuple(int(v) for v in size_text.split("x"))
        rows = time_cases(size, args)
        for op in OPS:
            for mode in MODES:
                sel = [r for r in rows if r["op"] == op and r["mode"] == mode]
                t = {r["backend"]: r["min_ms"] for r in sel}
                median = {r["backend"]: r["median_ms"] for r in sel}
                mem = {b: (None if args.no_memory else measure_memory(op, mode, b, size, args)) for b in BACKENDS}
                comparisons.append({
                    "op": op, "mode": mode, "size": size_text, "reference_ms": t["reference"], "fused_ms": t["fused"],
                    "speedup": t["reference"] / t["fused"],
                    "reference_median_ms": median["reference"], "fused_median_ms": median["fused"],
                    "reference_peak_mib": mem["reference"] if mem["reference"] is not None else float("nan"),
                    "fused_peak_mib": mem["fused"] if mem["fused"] is not None else float("nan"),
                })
                print(json.dumps(comparisons[-1]))
    report = {
        "command": "python " + " ".join([os.path.relpath(__file__, ROOT)] + sys.argv[1:]),
        "machine": machine(args.device), "device": args.device, "threads": args.threads, "batch": args.batch,
        "channels": 3, "dtype": "float32", "repeat": args.repeat,
        "load_average_1min": {"start": load_before[0], "end": os.getloadavg()[0]},
        "library": os.path.relpath(ops.library_path(), ROOT) if ops.library_path() else None,
        "note": "The machine is shared with other jobs, so absolute times are noisy; fused and reference runs are "
                "interleaved so both see the same load, and speed-ups use the minimum time of each.",
        "comparisons": comparisons,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json(out.with_suffix(".json"), report)
    atomic_write_text(out.with_suffix(".md"), markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
