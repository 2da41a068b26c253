"""Training throughput of the demo model at 64x192: samples/s, and the share of each step spent on data.

Compares source trees in one run: the current tree and ``--baseline DIR`` (an older commit, e.g.
``git archive <commit> | tar -x -C DIR`` plus its compiled edgedepth/lib/_C.so). Each variant is a
process that trains the packaged demo config (ResNet-18 D and shared-backbone S, patch
discriminator, cycle + adversarial + segmentation losses, curriculum) at 64x192 and --batch with
the training loop's own data path (loaders, copy to the device, augmentation); the script wraps
``Trainer.train_step`` (the D,S and F updates) to time it.

On the CPU all variants run at once but take turns step by step (a variant waits, blocked, while
another trains), so load from other jobs on a shared machine falls on all of them alike. A step
is timed from the moment its process gets the turn (right after its previous update) to the end
of its update; the part before the update (reading the loss records, the loaders, copying and
augmenting the batch) is the data share. Variants that load in the training process only: a
loader worker would render ahead while another variant holds the turn.

On a GPU (``--device cuda``) the variants run one after the other, and only the total time of
the timed steps is measured (one synchronisation before and one after), since per-step timing
would add the waits the loop avoids.

samples/s counts the samples of one domain per step (= batch size x steps/s), as the issue does
("10 steps/s, ~40 samples/s" at batch 4); every step also trains on a source batch of that size.
The render cache is filled before the timed runs; its one-off render speed is reported apart.

  git archive 512c02a | tar -x -C BASE && cp edgedepth/lib/_C.so BASE/edgedepth/lib/
  python benchmarks/train_speed.py --baseline BASE --baseline-label 512c02a --batch 4 --steps 20
  python benchmarks/train_speed.py --baseline BASE --baseline-label 512c02a --device cuda --batch 16 --steps 200 \
      --out-name train_speed_cuda

writes <out-dir>/<out-name>.json and .md (default benchmarks/results).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SIZE = (64, 192)
TRAIN_LENGTH = 512  # the demo config's samples per domain
# name, tree (None: the current one), extra config overrides
VARIANTS = [("baseline", "baseline", []), ("current (render cache)", None, []),
            ("current, data.cache=false", None, ["data.cache=false", "data.num_workers=0"])]


# ---------------------------------------------------------------- in the variant's process
def _wait_for_turn() -> float:
    sys.stdin.readline()  # "go", or "" once the parent is done
    return time.perf_counter()


def child(args: argparse.Namespace) -> None:
    """Train in this process (the tree under test is first on PYTHONPATH), reporting each update."""
    import torch

    torch.set_num_threads(args.threads)
    from edgedepth.config import load_config, packaged_config
    from edgedepth.train import loop

    cuda = args.device == "cuda"
    steps = args.warmup + args.steps
    state = {"turn": None, "done": 0}
    update = loop.Trainer.train_step

    def timed_update(self, src, tgt):
        if state["turn"] is None and not cuda:
            state["turn"] = _wait_for_turn()
        if cuda and state["done"] in (args.warmup, steps - 1):
            torch.cuda.synchronize()  # only at the edges of the timed window
        start = time.perf_counter()
        out = update(self, src, tgt)
        if cuda and state["done"] in (args.warmup, steps - 1):
            torch.cuda.synchronize()
        print("STEP " + json.dumps({"turn": state["turn"], "start": start, "end": time.perf_counter()}), flush=True)
        state["done"] += 1
        state["turn"] = None if cuda else _wait_for_turn()
        return out

    loop.Trainer.train_step = timed_update
    with tempfile.TemporaryDirectory() as out:
        overrides = [f"data.batch_size={args.batch}", f"data.size=[{SIZE[0]},{SIZE[1]}]", f"data.train_length={TRAIN_LENGTH}",
                     "train.steps=100000", f"train.max_steps_per_run={steps}", "train.ckpt_every=0",
                     "train.tensorboard=false", "train.progress=false", f"train.device={args.device}", f"train.out={out}"]
        loop.Trainer(load_config(packaged_config("synthetic_demo"), overrides + args.override)).fit()


# ---------------------------------------------------------------- in the parent
def _start(name: str, tree: Path, extra: list[str], args: argparse.Namespace, env: dict) -> subprocess.Popen:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--device", args.device, "--batch", str(args.batch),
           "--steps", str(args.steps), "--warmup", str(args.warmup), "--threads", str(args.threads)]
    cmd += [f"--override={item}" for item in extra]
    return subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=tempfile.gettempdir(),
                            env={**env, "PYTHONPATH": str(tree), "EDGEDEPTH_NO_PROGRESS": "1"})


def _next_step(name: str, proc: subprocess.Popen) -> dict:
    for line in proc.stdout:
        if line.startswith("STEP "):
            return json.loads(line[5:])
    raise SystemExit(f"{name} stopped early (exit code {proc.wait()})")


def _finish(name: str, proc: subprocess.Popen) -> None:
    proc.stdin.close()
    proc.stdout.read()
    if proc.wait() != 0:
        raise SystemExit(f"{name} failed with exit code {proc.returncode}")


def _summary(records: list[dict], args: argparse.Namespace) -> dict:
    timed = records[args.warmup:]
    if args.device == "cuda":
        total = timed[-1]["end"] - timed[0]["start"]
        return {"samples_per_s": round(args.batch * len(timed) / total, 2), "step_ms": round(1000 * total / len(timed), 2)}
    total = sum(r["end"] - r["turn"] for r in timed)
    data = sum(r["start"] - r["turn"] for r in timed)
    return {"samples_per_s": round(args.batch * len(timed) / total, 3), "step_ms": round(1000 * total / len(timed), 1),
            "update_ms": round(1000 * (total - data) / len(timed), 1), "data_share": round(data / total, 4)}


def run_variants(variants: list[tuple[str, Path, list[str]]], args: argparse.Namespace, env: dict) -> dict[str, dict]:
    records: dict[str, list[dict]] = {name: [] for name, _, _ in variants}
    if args.device == "cuda":
        for name, tree, extra in variants:
            proc = _start(name, tree, extra, args, env)
            records[name] = [_next_step(name, proc) for _ in range(args.warmup + args.steps)]
            _finish(name, proc)
        return {name: _summary(rows, args) for name, rows in records.items()}
    procs = {name: _start(name, tree, extra, args, env) for name, tree, extra in variants}
    for step in range(args.warmup + args.steps):
        for name, proc in procs.items():  # one step each, in turn
            proc.stdin.write("go\n")
            proc.stdin.flush()
            records[name].append(_next_step(name, proc))
        print(f"step {step + 1}/{args.warmup + args.steps}, load {os.getloadavg()[0]:.1f}", flush=True)
    for name, proc in procs.items():
        _finish(name, proc)
    return {name: _summary(rows, args) for name, rows in records.items()}


def fill_cache(cache: Path, threads: int) -> list[dict]:
    """Render both domains into the benchmark's cache with every core, timed (the one-off cost)."""
    sys.path.insert(0, str(REPO))
    import torch

    from edgedepth.data.render_cache import cached_world, default_workers

    torch.set_num_threads(threads)
    rows = []
    for domain in ("source", "target"):
        start = time.perf_counter()
        cached_world(domain, size=SIZE, length=TRAIN_LENGTH, views="stereo", cache_dir=cache, progress=False)
        seconds = time.perf_counter() - start
        rows.append({"domain": domain, "samples": TRAIN_LENGTH, "processes": default_workers(), "seconds": round(seconds, 2),
                     "samples_per_s": round(TRAIN_LENGTH / seconds, 1)})
    return rows


def machine(threads: int) -> dict:
    import numpy as np
    import torch

    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []
    cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), platform.processor())
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"cpu": cpu, "logical_cpus": os.cpu_count(), "gpu": gpu, "torch_threads": threads, "python": platform.python_version(),
            "numpy": np.__version__, "torch": torch.__version__, "platform": platform.platform()}


def markdown(report: dict) -> str:
    a = report["args"]
    how = ("variants in turn, step by step, in concurrent processes" if a["device"] == "cpu"
           else "variants one after the other")
    lines = [f"# Training throughput, demo model at {SIZE[0]}x{SIZE[1]}, batch {a['batch']}, {a['device']}", "",
             f"{a['steps']} timed steps after {a['warmup']} warm-up steps per variant, {how}.",
             "samples/s = batch x steps/s (one domain; each step also trains on a source batch).", "",
             "| variant | samples/s | step ms | update ms | data share |", "|---|---|---|---|---|"]
    for name, row in report["summary"].items():
        share = f"{100 * row['data_share']:.1f} %" if "data_share" in row else "-"
        lines.append(f"| {name} | {row['samples_per_s']} | {row['step_ms']} | {row.get('update_ms', '-')} | {share} |")
    if report["speedup"]:
        lines += ["", f"Baseline: commit {a['baseline']}. Current (render cache) / baseline samples/s: **{report['speedup']}x**."]
    lines += ["", "First use renders the cache once: " + ", ".join(
        f"{r['domain']} {r['samples']} samples in {r['seconds']} s ({r['samples_per_s']} samples/s, {r['processes']} processes)"
        for r in report["render"]) + ".", ""]
    m = report["machine"]
    lines += [f"Machine: {m['cpu']} ({m['logical_cpus']} logical CPUs, shared with other jobs: 1-minute load average "
              f"{report['load_average']} during the run), GPU {m['gpu'] or 'none'}; torch {m['torch']} with "
              f"{m['torch_threads']} threads, numpy {m['numpy']}, Python {m['python']}.", "",
              f"Command: `{report['command']}` ({report['date']})", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", type=Path, help="source tree to compare against (holds edgedepth/)")
    parser.add_argument("--baseline-label", default="baseline", help="what the results call it (e.g. its commit), not its path")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--steps", type=int, default=20, help="timed steps per variant")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out-name", default="train_speed_cpu")
    parser.add_argument("--out-dir", type=Path, default=HERE / "results", help="folder of the results (default benchmarks/results)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--override", action="append", default=[], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args)
        return 0
    variants = [(name, args.baseline.resolve() if tree == "baseline" else REPO, extra) for name, tree, extra in VARIANTS
                if tree != "baseline" or args.baseline]
    loads = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory(prefix="edgedepth-bench-cache-") as cache:
        render = fill_cache(Path(cache), args.threads)
        summary = run_variants(variants, args, {**os.environ, "EDGEDEPTH_CACHE_DIR": cache})
    from edgedepth.bench.report import command_line
    from edgedepth.utils.io import atomic_write_text, write_json

    loads.append(os.getloadavg()[0])
    command = sys.argv[1:] if argv is None else argv
    if args.baseline:  # results name the baseline by its label, not by a path on this machine
        command = [args.baseline_label if item == str(args.baseline) else item for item in command]
    settings = {k: v for k, v in vars(args).items() if k not in ("child", "override")}
    report = {"benchmark": "train_speed", "args": {**settings, "baseline": args.baseline_label},
              "size": list(SIZE), "render": render, "summary": summary,
              "speedup": round(summary["current (render cache)"]["samples_per_s"] / summary["baseline"]["samples_per_s"], 2)
              if args.baseline else None,
              "load_average": [round(x, 2) for x in loads], "machine": machine(args.threads),
              "command": command_line(__file__, command),
              "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
    out = args.out_dir
    write_json(out / f"{args.out_name}.json", report)
    atomic_write_text(out / f"{args.out_name}.md", markdown(report))
    print(json.dumps(summary, indent=2))
    print(f"wrote {out / (args.out_name + '.json')} and .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
