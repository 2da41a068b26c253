"""Render speed of the synthetic world: N samples with their neighbour views, per domain.

Goal (issue 3): 1,000 samples with their neighbours at 96x320 in at most 60 s on 2 cores.
Measured single-process (``--workers 0``: one core renders, numpy is single-threaded) and with a
DataLoader of 2 worker processes (``--workers 2``: both cores render). Wall time depends on what
else runs on the machine, so the process CPU time and the load average are reported too.

  python benchmarks/synth_bench.py --n 1000 --size 96x320 --views both --workers 0 2

writes benchmarks/results/synth_bench.json and synth_bench.md.
"""
from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from edgedepth import __version__
from edgedepth.bench.report import command_line
from edgedepth.cli.data import parse_size
from edgedepth.data import SyntheticWorld
from edgedepth.utils.io import atomic_write_text, write_json

GOAL_SECONDS_PER_1000 = 60.0


def _keep_sample(sample):
    return sample


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # DataLoader workers, once joined
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def measure(domain: str, *, n: int, size: tuple[int, int], views: str, workers: int, seed: int) -> dict:
    world = SyntheticWorld(domain, size=size, length=n, seed=seed, views=views)
    world[0]  # warm the per-camera caches outside the timed loop
    if workers:
        loader = DataLoader(world, batch_size=None, num_workers=workers, collate_fn=_keep_sample)
    else:
        loader = (world[i] for i in range(n))
    load_before = os.getloadavg()[0]
    cpu0, t0 = _cpu_seconds(), time.perf_counter()
    count = views_rendered = 0
    for sample in loader:
        count += 1
        views_rendered += 1 + len(sample.views)
    wall = time.perf_counter() - t0
    cpu = _cpu_seconds() - cpu0
    return {
        "domain": domain,
        "workers": workers,
        "samples": count,
        "images_rendered": views_rendered,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "samples_per_s": round(count / wall, 2),
        "wall_s_per_1000": round(wall / count * 1000, 1),
        "cpu_s_per_1000": round(cpu / count * 1000, 1),
        "meets_goal": wall / count * 1000 <= GOAL_SECONDS_PER_1000,
        "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }


def machine() -> dict:
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "logical_cpus": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "edgedepth": __version__,
    }


def markdown(report: dict) -> str:
    cfg = report["config"]
    lines = [
        "# Synthetic world render speed",
        "",
        f"{cfg['n']} samples per domain at {cfg['size'][0]}x{cfg['size'][1]}, views `{cfg['views']}` "
        f"(each sample renders 1 + neighbours images). Goal: 1,000 samples in <= {GOAL_SECONDS_PER_1000:.0f} s on 2 cores.",
        "",
        "| domain | workers | samples/s | wall s / 1000 | CPU s / 1000 | meets goal | load avg (start, end) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in report["results"]:
        lines.append(f"| {r['domain']} | {r['workers']} | {r['samples_per_s']} | {r['wall_s_per_1000']} | "
                     f"{r['cpu_s_per_1000']} | {'yes' if r['meets_goal'] else 'no'} | {r['load_average_1min']} |")
    m = report["machine"]
    lines += [
        "",
        f"Machine: {m['platform']}, {m['processor']}, {m['logical_cpus']} logical CPUs; Python {m['python']}, "
        f"numpy {m['numpy']}, torch {m['torch']} ({m['torch_threads']} threads), edgedepth {m['edgedepth']}.",
        "",
        "Wall time includes waiting for the CPU: on a shared machine (load average above the core count) it is "
        "longer than the CPU time; the CPU time is what the renderer itself costs.",
        "",
        f"Command: `{report['command']}` ({report['date']})",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1000, help="samples per domain (default 1000)")
    parser.add_argument("--size", type=parse_size, default=(96, 320), help="HxW (default 96x320)")
    parser.add_argument("--views", default="both", choices=["stereo", "temporal", "both", "none"])
    parser.add_argument("--domains", nargs="+", default=["source", "target"], choices=["source", "target"])
    parser.add_argument("--workers", nargs="+", type=int, default=[0, 2], help="DataLoader workers per run (0 = in-process)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"), help="folder for synth_bench.json/.md")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    os.environ.setdefault("EDGEDEPTH_NO_PROGRESS", "1")

    results = []
    for workers in args.workers:
        for domain in args.domains:
            result = measure(domain, n=args.n, size=args.size, views=args.views, workers=workers, seed=args.seed)
            print(f"{domain:>6} workers={workers}: {result['samples_per_s']:.1f} samples/s, "
                  f"{result['wall_s_per_1000']} s wall / {result['cpu_s_per_1000']} s CPU per 1000", flush=True)
            results.append(result)
    report = {
        "benchmark": "synth_bench",
        "config": {"n": args.n, "size": list(args.size), "views": args.views, "seed": args.seed},
        "goal_seconds_per_1000": GOAL_SECONDS_PER_1000,
        "results": results,
        "machine": machine(),
        "command": command_line(__file__, argv),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }
    out = Path(args.out)
    write_json(out / "synth_bench.json", report)
    atomic_write_text(out / "synth_bench.md", markdown(report))
    print(f"wrote {out / 'synth_bench.json'} and {out / 'synth_bench.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
