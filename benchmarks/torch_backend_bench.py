"""GPU inference without TensorRT: the torch backend's recipes against the FP32 eager runner, in one run.

    python benchmarks/torch_backend_bench.py --checkpoint runs/demo/model.pt --device cuda \\
        [--size 192x640] [--batches 1,8] --out benchmarks/results/torch_backend_<gpu>

Runners (same checkpoint, same process): FP32 eager (the checkpoint as `edgedepth bench --checkpoint`
runs it), FP16 eager, FP32 with a CUDA graph, FP16 with a CUDA graph (FP16 weights, FP32 head,
channels_last, pinned-memory copies: what `build-engine --backend torch --precision fp16` builds).
Goal (issue "Proven on a GPU"): FP16 + graph >= 3x FP32 eager at batch 1, AbsRel within 1 % of FP32.
On a CPU (a rehearsal of the script) only the FP32 runners exist. Writes <out>.json and <out>.md.
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from edgedepth.backends import build_engine, load_backend
from edgedepth.backends.container import read_engine
from edgedepth.backends.torch.runner import TorchRunner
from edgedepth.bench.report import command_line, device_line
from edgedepth.bench.run import run_bench
from edgedepth.checkpoint import load_depth_net
from edgedepth.utils.io import atomic_write_text, write_json

GOAL_SPEEDUP, GOAL_ABS_REL = 3.0, 0.01
BASELINE = "fp32 eager (checkpoint)"


def _runners(checkpoint: Path, work: Path, *, size: tuple[int, int], device: str) -> list:
    """name -> open runner, FP32 eager first (the baseline)."""
    from edgedepth.export import export_from_checkpoint

    onnx = work / "model.onnx"
    export_from_checkpoint(checkpoint, onnx, size=size, batch="dynamic")
    torch_backend = load_backend("torch")
    # The checkpoint as `open_runner(model.pt)` runs it (eager FP32), timed and scored at the engines' size.
    eager = TorchRunner(load_depth_net(checkpoint)[0], device=device, trained_size=size, cuda_graph=False, channels_last=False)
    eager.name = BASELINE
    runners = [eager]
    precisions = ("fp32", "fp16") if device == "cuda" else ("fp32",)
    for precision in precisions:
        path = work / f"{precision}.engine"
        build_engine(onnx, path, precision=precision, backend="torch", checkpoint=checkpoint)
        for graph in (False, True) if device == "cuda" else (False,):
            engine = read_engine(path)
            engine.header["options"]["cuda_graph"] = graph
            runner = torch_backend.open_engine(engine, device=device)
            runner.name = f"{precision}{' + CUDA graph' if graph else ' eager'}{' + channels_last' if runner.channels_last else ''}"
            runners.append(runner)
    return runners


def _analysis(report: dict) -> dict:
    base = {r["batch"]: r for r in report["results"] if r["name"] == BASELINE}
    rows = []
    for r in report["results"]:
        ref = base[r["batch"]]
        abs_rel, ref_abs_rel = (r.get("accuracy") or {}).get("abs_rel"), (ref.get("accuracy") or {}).get("abs_rel")
        rows.append({"name": r["name"], "batch": r["batch"], "mean_ms": r["latency_ms"]["mean"], "p50_ms": r["latency_ms"]["p50"],
                     "device_ms": (r.get("device_latency_ms") or {}).get("mean"),
                     "speedup": ref["latency_ms"]["mean"] / r["latency_ms"]["mean"],
                     "abs_rel": abs_rel, "abs_rel_vs_fp32": abs_rel / ref_abs_rel - 1 if abs_rel and ref_abs_rel else None})
    best = [x for x in rows if x["batch"] == 1 and "fp16 + CUDA graph" in x["name"]]
    goal = {"speedup": best[0]["speedup"], "abs_rel_vs_fp32": best[0]["abs_rel_vs_fp32"]} if best else None
    if goal:
        goal["met"] = goal["speedup"] >= GOAL_SPEEDUP and abs(goal["abs_rel_vs_fp32"] or 0) <= GOAL_ABS_REL
    return {"rows": rows, "goal": goal}


def _markdown(report: dict, analysis: dict, command: str) -> str:
    lines = [f"Device: {device_line(report['device'])}", "", f"Command: `{command}`", "",
             "| runner | batch | mean ms | p50 ms | GPU ms (no copies) | speed-up vs FP32 eager | AbsRel | AbsRel vs FP32 |",
             "|---|---|---|---|---|---|---|---|"]
    for x in analysis["rows"]:
        rel = "" if x["abs_rel_vs_fp32"] is None else f"{x['abs_rel_vs_fp32'] * 100:+.2f} %"
        gpu = "" if x["device_ms"] is None else f"{x['device_ms']:.2f}"
        lines.append(f"| {x['name']} | {x['batch']} | {x['mean_ms']:.2f} | {x['p50_ms']:.2f} | {gpu} | {x['speedup']:.2f}x | "
                     f"{x['abs_rel'] or float('nan'):.4f} | {rel} |")
    goal = analysis["goal"]
    if goal:
        lines += ["", f"FP16 + CUDA graph at batch 1: **{goal['speedup']:.2f}x** FP32 eager (goal >= {GOAL_SPEEDUP}x), AbsRel "
                  f"{(goal['abs_rel_vs_fp32'] or 0) * 100:+.2f} % vs FP32 (goal within {GOAL_ABS_REL * 100:.0f} %): "
                  f"{'met' if goal['met'] else 'NOT met'}."]
    lines += ["", "Host latency covers `infer(numpy)` with the copies; GPU ms is the same call on device-resident inputs "
              "timed with CUDA events.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", type=Path, required=True)
    p.add_argument("--size", default="192x640")
    p.add_argument("--batches", default="1,8")
    p.add_argument("--iterations", type=int, default=200)
    p.add_argument("--warmup", type=int, default=20, help="untimed calls first (a graph is captured in these)")
    p.add_argument("--accuracy-samples", type=int, default=16)
    p.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    p.add_argument("--out", type=Path, required=True, help="results path without suffix")
    args = p.parse_args(argv)
    size = tuple(int(v) for v in args.size.lower().split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        runners = _runners(args.checkpoint, Path(tmp), size=size, device=args.device)
        try:
            report = run_bench(runners, batches=[int(b) for b in args.batches.split(",")], warmup=args.warmup,
                               iterations=args.iterations, accuracy_data="synthetic-target",
                               accuracy_samples=args.accuracy_samples, power=False)
        finally:
            for runner in runners:
                runner.close()
    for r in report["results"]:
        r.pop("_samples_ms", None)
    analysis = _analysis(report)
    command = command_line(__file__, argv)
    result = {**report, "analysis": analysis, "command": command, "size": list(size)}
    write_json(args.out.with_suffix(".json"), result)
    atomic_write_text(args.out.with_suffix(".md"), _markdown(report, analysis, command))
    print(json.dumps(analysis["goal"]))
    return result


if __name__ == "__main__":
    main()
