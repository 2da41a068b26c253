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

from edgedepth.bench.report import command_line  # noqa: E402
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


# Datasheet memory bandwidth (TB/s) by GPU name, for the "fraction of peak" column; the copy
# bandwidth measured in the same run is reported beside it.
DATASHEET_TBPS = {"H200": 4.8, "H100 80GB HBM3": 3.35, "H100 PCIe": 2.0, "H100": 3.35, "A100-SXM4-80GB": 2.04,
                  "A100": 1.56, "L4": 0.3, "RTX 4090": 1.01, "Orin": 0.205}


def datasheet_tbps(name: str) -> float | None:
    return next((v for k, v in DATASHEET_TBPS.items() if k in name), None)


def cuda_median_ms(fn, reps: int) -> float:
    """Median of per-call CUDA event times after a warm-up."""
    for _ in range(3):
        fn()
    starts = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
    ends = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
    for s, e in zip(starts, ends):
        s.record()
        fn()
        e.record()
    torch.cuda.synchronize()
    return statistics.median(s.elapsed_time(e) for s, e in zip(starts, ends))


def copy_bandwidth_tbps(gib: float = 2.0) -> float:
    """Device-to-device copy, bytes read plus written, in TB/s (the practical ceiling)."""
    a = torch.empty(int(gib * 2**30) // 4, device="cuda")
    a.uniform_()
    b = torch.empty_like(a)
    ms = cuda_median_ms(lambda: b.copy_(a), 20)
    return 2 * a.numel() * 4 / (ms * 1e-3) / 1e12


def kernel_bandwidth(args) -> list[dict]:
    """Each operator alone (forward op and backward op called directly), CUDA events; the fewest bytes it
    must move (every input read once, every output written once; grad_src is accumulated in float32)
    over its time, against the copy bandwidth measured here and the datasheet peak."""
    ops_ = torch.ops.edgedepth
    rows = []
    peak_copy = copy_bandwidth_tbps()
    sheet = datasheet_tbps(torch.cuda.get_device_name())
    for size_text in args.kernel_sizes:
        b, hw = size_text.split(":") if ":" in size_text else (str(args.batch), size_text)
        h, w = (int(v) for v in hw.split("x"))
        b = int(b)
        for dtype in args.kernel_dtypes:
            dt = getattr(torch, dtype)
            target, src, depth, T, K = (t.to(dt) for t in make_inputs(b, h, w, "cuda"))
            grad_img, grad_px = torch.rand_like(src), torch.rand_like(depth)
            n, c, s = b * h * w, src.shape[1], dt.itemsize
            cases = {
                ("inverse_warp", "forward"): (lambda: ops_.inverse_warp(src, depth, T, K), (2 * c + 2) * n * s),
                ("inverse_warp", "backward"): (lambda: ops_.inverse_warp_backward(grad_img, src, depth, T, K),
                                               (2 * c + 2) * n * s + c * n * 4),
                ("photometric_error", "forward"): (lambda: ops_.photometric_error(target, src, depth, T, K),
                                                   (2 * c + 3) * n * s),
                ("photometric_error", "backward"): (
                    lambda: ops_.photometric_error_backward(grad_px, target, src, depth, T, K),
                    (3 * c + 3) * n * s + c * n * 4),
            }
            for (op, mode), (fn, nbytes) in cases.items():
                ms = cuda_median_ms(fn, args.repeat)
                tbps = nbytes / (ms * 1e-3) / 1e12
                rows.append({"op": op, "mode": mode, "batch": b, "size": f"{h}x{w}", "dtype": dtype, "ms": ms,
                             "min_bytes": nbytes, "achieved_tbps": tbps, "copy_tbps": peak_copy,
                             "fraction_of_copy": tbps / peak_copy, "datasheet_tbps": sheet,
                             "fraction_of_datasheet": tbps / sheet if sheet else None})
                print(json.dumps(rows[-1]))
    return rows


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
                    if args.device == "cuda":
                        samples[backend].append(cuda_median_ms(lambda: run_case(op, mode, backend, inputs), 5))
                        continue
                    start = time.perf_counter()
                    run_case(op, mode, backend, inputs)
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
        props = torch.cuda.get_device_properties(0)
        info["gpu"] = f"{props.name}, {props.total_memory / 2**30:.0f} GiB, sm_{props.major}{props.minor}, " \
                      f"{props.multi_processor_count} SMs, CUDA {torch.version.cuda}"
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
    d = 3 if report["device"] == "cuda" else 1  # GPU calls take tenths of a millisecond
    for r in report["comparisons"]:
        lines.append(f"| {r['op']} | {r['mode']} | {r['size']} | {r['reference_ms']:.{d}f} ({r['reference_median_ms']:.{d}f}) | "
                     f"{r['fused_ms']:.{d}f} ({r['fused_median_ms']:.{d}f}) | "
                     f"{r['speedup']:.2f}x | {r['reference_peak_mib']:.1f} | {r['fused_peak_mib']:.1f} |")
    if report.get("kernels"):
        k0 = report["kernels"][0]
        lines += ["", "## Each CUDA operator alone: achieved memory bandwidth", "",
                  f"Fewest bytes each operator must move (inputs read once, outputs written once) over its median "
                  f"time (CUDA events, {report['repeat']} calls). Device-to-device copy measured in the same run: "
                  f"{k0['copy_tbps']:.2f} TB/s (read + write); datasheet peak: "
                  f"{k0['datasheet_tbps'] or float('nan'):.2f} TB/s.", "",
                  "| op | pass | batch x size | dtype | ms | GB moved (min) | TB/s | of copy | of datasheet |",
                  "|---|---|---|---|---:|---:|---:|---:|---:|"]
        for r in report["kernels"]:
            frac = f"{100 * r['fraction_of_datasheet']:.0f}%" if r["fraction_of_datasheet"] else "n/a"
            lines.append(f"| {r['op']} | {r['mode']} | {r['batch']}x{r['size']} | {r['dtype']} | {r['ms']:.3f} | "
                         f"{r['min_bytes'] / 1e9:.3f} | {r['achieved_tbps']:.2f} | "
                         f"{100 * r['fraction_of_copy']:.0f}% | {frac} |")
    lines += ["", report["note"], ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", nargs="+", default=["96x320", "192x640"])
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeat", type=int, default=10)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--out", default="benchmarks/results/warp_bench")
    p.add_argument("--no-memory", action="store_true", help="skip the per-case memory subprocesses")
    p.add_argument("--kernel-sizes", nargs="*", default=["4:192x640", "8:384x1280"],
                   help="CUDA only: [BATCH:]HxW sizes for the per-operator bandwidth table")
    p.add_argument("--kernel-dtypes", nargs="*", default=["float32", "float16", "bfloat16"])
    p.add_argument("--memory-case", nargs=4, metavar=("OP", "MODE", "BACKEND", "HxW"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
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
    kernels = kernel_bandwidth(args) if args.device == "cuda" and args.kernel_sizes else []
    report = {
        "command": command_line(__file__, argv),
        "machine": machine(args.device), "device": args.device, "threads": args.threads, "batch": args.batch,
        "channels": 3, "dtype": "float32", "repeat": args.repeat,
        "load_average_1min": {"start": load_before[0], "end": os.getloadavg()[0]},
        "library": os.path.relpath(ops.library_path(), ROOT) if ops.library_path() else None,
        "note": ("The machine is shared with other jobs, so absolute times are noisy; fused and reference runs are "
                 "interleaved so both see the same load, and speed-ups use the minimum time of each."
                 if args.device == "cpu" else
                 "On CUDA each sample is the median of 5 calls timed with CUDA events (a call includes the Python-side "
                 "autograd work and, for forward+backward, the loss sum and backward); fused and reference are "
                 "interleaved and speed-ups use the minimum of the samples."),
        "comparisons": comparisons,
        "kernels": kernels,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json(out.with_suffix(".json"), report)
    atomic_write_text(out.with_suffix(".md"), markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
