"""OpenVINO against ONNX Runtime on this CPU, from the very same ONNX files (FP32 and its Q/DQ INT8).

    python benchmarks/openvino_bench.py --onnx model.onnx [--int8-onnx model.int8.onnx] [--threads 2]

The files come from `edgedepth export --checkpoint CKPT --out model.onnx --size 192x640 --int8`
(the INT8 file defaults to model.int8.onnx beside --onnx). Backends, in one process, timed in
interleaved rounds (one run of each per round, the order rotated every round, so a busy shared
machine slows all alike): ONNX Runtime FP32 and INT8 (sessions on the ONNX files, all graph
optimisations, idle threads not spinning, as benchmarks/precision_bench.py runs them), and the
OpenVINO engines that `build-engine --backend openvino` builds from the same files: FP32, INT8,
and BF16 where the CPU has BF16 instructions. Accuracy on held-out synthetic target images
with ground-truth depth. Goal (issue "One house for every backend"): OpenVINO INT8 >= 3x ONNX
Runtime FP32 with AbsRel within 1 % of FP32. Writes OUT.json and OUT.md, by default
benchmarks/results/openvino_bench_<cpu model> (the CPU kind decides the result).
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from precision_bench import latency_stats, machine_cpu_seconds  # noqa: E402  (benchmarks/ is the script's folder)

GOAL_SPEEDUP, GOAL_ABS_REL = 3.0, 0.01
BASELINE = "onnxruntime fp32"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--onnx", type=Path, required=True, help="FP32 ONNX from `edgedepth export`")
    p.add_argument("--int8-onnx", type=Path, help="its Q/DQ INT8 ONNX (default: MODEL.int8.onnx beside --onnx)")
    p.add_argument("--threads", type=int, default=2, help="threads of every backend")
    p.add_argument("--rounds", type=int, default=20, help="timed rounds (one run of every backend per round)")
    p.add_argument("--warmup", type=int, default=3, help="untimed runs of each backend first")
    p.add_argument("--test-n", type=int, default=16, help="held-out synthetic target images for accuracy")
    p.add_argument("--profile-runs", type=int, default=5, help="runs of OpenVINO's per-layer profile (0: none)")
    p.add_argument("--out", type=Path, help="writes OUT.json and OUT.md (default: benchmarks/results/openvino_bench_<cpu model>)")
    return p.parse_args(argv)


def default_out(benchmark: str = "openvino_bench") -> Path:
    """The results are per CPU kind: benchmarks/results/openvino_bench_amd_epyc for "AMD EPYC"."""
    import re

    from edgedepth.device import cpu_model

    slug = re.sub(r"[^a-z0-9]+", "_", re.sub(r"\((r|tm)\)", "", cpu_model().lower())).strip("_")
    return ROOT / "benchmarks" / "results" / f"{benchmark}_{slug}"


def machine_info(threads: int) -> dict:
    import onnxruntime
    import openvino

    from edgedepth import __version__
    from edgedepth.device import cpu_features, cpu_model, cpu_vendor

    return {
        "cpu": cpu_model(), "cpu_vendor": cpu_vendor(), "cpu_features": list(cpu_features()), "logical_cores": os.cpu_count(),
        "threads": threads, "platform": platform.platform(), "load_average_at_start": list(os.getloadavg()),
        "versions": {"python": platform.python_version(), "onnxruntime": onnxruntime.__version__,
                     "openvino": openvino.__version__.split("-")[0], "numpy": np.__version__, "edgedepth": __version__},
    }


class OrtSession:
    """ONNX Runtime as precision_bench.py runs it: a plain session, idle threads not spinning."""

    def __init__(self, path: Path, threads: int):
        from edgedepth.export.verify import ort_session

        self._session = ort_session(path, threads=threads, spin=False)

    def infer(self, images: np.ndarray) -> np.ndarray:
        from edgedepth.export.verify import run_onnx

        return run_onnx(self._session, images)


def open_predictors(fp32: Path, int8: Path, work: Path, threads: int) -> tuple[dict, dict]:
    """name -> object with ``infer(images)``, and name -> seconds to open it (OpenVINO compiles then)."""
    from edgedepth.backends import build_engine, open_runner
    from edgedepth.backends.openvino import suitability
    from edgedepth.device import machine

    plan = [("onnxruntime fp32", None, fp32), ("onnxruntime int8", None, int8),
            ("openvino fp32", "fp32", fp32), ("openvino int8", "int8", int8)]
    if suitability(machine(), "bf16") is not None:
        plan.append(("openvino bf16", "bf16", fp32))
    predictors, open_seconds = {}, {}
    for name, precision, source in plan:
        engine = None
        if precision is not None:
            engine = work / f"{precision}.engine"
            build_engine(source, engine, precision=precision, backend="openvino")
        start = time.perf_counter()
        predictors[name] = OrtSession(source, threads) if engine is None else open_runner(engine, threads=threads)
        open_seconds[name] = time.perf_counter() - start
    return predictors, open_seconds


def timed_rounds(predictors: dict, image: np.ndarray, *, rounds: int, warmup: int) -> tuple[dict, float | None]:
    """Seconds per run of each predictor, and the cores other processes used meanwhile."""
    names = list(predictors)
    for _ in range(warmup):
        for name in names:
            predictors[name].infer(image)
    times = {name: [] for name in names}
    busy0, own0, wall0 = machine_cpu_seconds(), time.process_time(), time.perf_counter()
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            start = time.perf_counter()
            predictors[name].infer(image)
            times[name].append(time.perf_counter() - start)
    other = None
    if busy0 is not None:  # the load average lags by a minute; this is what the others used while we timed
        other = max(0.0, (machine_cpu_seconds() - busy0 - (time.process_time() - own0)) / (time.perf_counter() - wall0))
    return times, other


def openvino_layers(onnx_path: Path, threads: int, runs: int, *, top: int = 8, digits: int = 2) -> dict:
    """Where OpenVINO's time goes: ms per run by layer type and kernel (PERF_COUNT) for the ``top`` costliest,
    INT8 convs counted, and the layers that run reference (``ref``) kernels."""
    from edgedepth.backends.openvino.runner import compile_config, core

    compiled = core().compile_model(str(onnx_path), "CPU", {**compile_config("f32", threads), "PERF_COUNT": True})
    request = compiled.create_infer_request()
    image = np.zeros([d.get_length() if d.is_static else 1 for d in compiled.input(0).get_partial_shape()], np.float32)
    totals: dict[str, float] = {}
    reference: set[str] = set()
    for _ in range(max(runs, 1)):
        request.infer({0: image})
        for layer in request.profiling_info:
            key = f"{layer.node_type} ({layer.exec_type})"
            totals[key] = totals.get(key, 0.0) + layer.real_time.total_seconds() * 1000.0 / max(runs, 1)
            if "ref" in layer.exec_type.lower() and layer.node_type not in ("Parameter", "Result", "Constant"):
                reference.add(key)
    convs = [n.get_rt_info()["runtimePrecision"].astype(str) for n in compiled.get_runtime_model().get_ordered_ops()
             if n.get_rt_info()["layerType"].astype(str) == "Convolution"]
    costliest = dict(sorted(totals.items(), key=lambda kv: -kv[1])[:top])
    return {"ms_by_layer": {k: round(v, digits) for k, v in costliest.items()}, "total_ms": round(sum(totals.values()), digits),
            "convolutions": {p: convs.count(p) for p in sorted(set(convs))}, "reference_kernel_layers": sorted(reference)}


def score(predictors: dict, times: dict, images: np.ndarray, gt: np.ndarray, max_depth: float) -> list[dict]:
    from edgedepth.export.verify import depth_accuracy

    rows = [{"name": name, "latency_ms": latency_stats(times[name]), **depth_accuracy(p.infer(images), gt, max_depth=max_depth)}
            for name, p in predictors.items()]
    base = next(r for r in rows if r["name"] == BASELINE)
    for r in rows:
        r["speedup_vs_ort_fp32"] = base["latency_ms"]["p50"] / r["latency_ms"]["p50"]
        r["abs_rel_vs_fp32"] = (r["abs_rel"] - base["abs_rel"]) / base["abs_rel"]
    return rows


def main(argv=None) -> int:
    from edgedepth.bench.report import command_line

    args = parse_args(argv)
    os.environ.setdefault("EDGEDEPTH_NO_PROGRESS", "1")
    from edgedepth.backends import rank_backends
    from edgedepth.contract import inspect_onnx
    from edgedepth.device import machine
    from edgedepth.export.calibration import load_calibration_set
    from edgedepth.utils.io import atomic_write_text, write_json

    fp32 = inspect_onnx(args.onnx)
    int8 = inspect_onnx(args.int8_onnx or args.onnx.with_name(f"{args.onnx.stem}.int8.onnx"))
    info = machine_info(args.threads)
    seen = machine()
    info["auto_ranking"] = {p: rank_backends(p, machine=seen) for p in ("fp32", "int8")}
    images, gt = load_calibration_set("synthetic", size=(fp32.height, fp32.width), n=args.test_n, seed=10_000, split="test")
    with tempfile.TemporaryDirectory(prefix="edgedepth-openvino-bench-") as tmp:
        predictors, open_seconds = open_predictors(fp32.path, int8.path, Path(tmp), args.threads)
        times, info["other_processes_cores_during_rounds"] = timed_rounds(predictors, images[:1], rounds=args.rounds, warmup=args.warmup)
        rows = score(predictors, times, images, gt, max_depth=fp32.max_depth * 1.001)
    for r in rows:
        r["open_seconds"] = open_seconds[r["name"]]
    info["load_average_at_end"] = list(os.getloadavg())
    ov_int8 = next(r for r in rows if r["name"] == "openvino int8")
    goal = {"speedup_target": GOAL_SPEEDUP, "abs_rel_target": GOAL_ABS_REL, "speedup": ov_int8["speedup_vs_ort_fp32"],
            "abs_rel_vs_fp32": ov_int8["abs_rel_vs_fp32"]}
    goal["met"] = bool(goal["speedup"] >= GOAL_SPEEDUP and abs(goal["abs_rel_vs_fp32"]) <= GOAL_ABS_REL)
    result = {
        "benchmark": "openvino_bench",
        "command": command_line(__file__, argv),
        "model": {"fp32": fp32.path.name, "int8": int8.path.name, "checkpoint": fp32.metadata.get("checkpoint")},
        "size": [fp32.height, fp32.width], "batch": fp32.input_shape[0], "rounds": args.rounds, "machine": info,
        "test_images": f"{args.test_n} synthetic target images (seed 10000), ground-truth depth",
        "results": rows, "goal": goal,
        "openvino_layers": {p: openvino_layers(src.path, args.threads, args.profile_runs) for p, src in (("fp32", fp32), ("int8", int8))}
        if args.profile_runs else None,
    }
    out = args.out or default_out()
    write_json(out.with_name(out.name + ".json"), result)
    atomic_write_text(out.with_name(out.name + ".md"), to_markdown(result))
    print(to_markdown(result))
    return 0


def to_markdown(r: dict) -> str:
    m, g = r["machine"], r["goal"]
    lines = [
        "# OpenVINO vs ONNX Runtime on the CPU, same ONNX files",
        "",
        f"- model: {r['model']['fp32']} and {r['model']['int8']} (from checkpoint {r['model']['checkpoint']}); "
        f"input {r['size'][0]}x{r['size'][1]}, batch {r['batch']}; {r['rounds']} interleaved rounds",
        f"- CPU: {m['cpu']} ({m['cpu_vendor']}), features {', '.join(m['cpu_features']) or 'none of note'}; "
        f"{m['logical_cores']} logical cores, {m['threads']} threads",
        f"- load average {m['load_average_at_start'][0]:.1f} at start, {m['load_average_at_end'][0]:.1f} at end; other processes "
        f"used {m['other_processes_cores_during_rounds'] or 0:.2f} cores during the timed rounds (shared machine: compare ratios, "
        "which come from the same rounds)",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()),
        "- `--backend auto` ranking here: " + "; ".join(f"{p}: " + ", ".join(f"{n} {s}" for n, s in sorted(sc.items(), key=lambda kv: -kv[1]))
                                                      for p, sc in m["auto_ranking"].items()),
        f"- accuracy: {r['test_images']}",
        f"- command: `{r['command']}`",
        "",
        "| backend | p50 ms | mean ms | p90 ms | vs ORT FP32 | AbsRel | AbsRel vs FP32 | a1 | open s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in r["results"]:
        lat = row["latency_ms"]
        lines.append(f"| {row['name']} | {lat['p50']:.1f} | {lat['mean']:.1f} | {lat['p90']:.1f} | {row['speedup_vs_ort_fp32']:.2f}x | "
                     f"{row['abs_rel']:.4f} | {row['abs_rel_vs_fp32'] * 100:+.2f}% | {row.get('a1', float('nan')):.3f} | {row['open_seconds']:.2f} |")
    lines += ["", f"Goal (OpenVINO INT8 >= {g['speedup_target']:.0f}x ONNX Runtime FP32, AbsRel within {g['abs_rel_target'] * 100:.0f}% "
              f"of FP32): **{'met' if g['met'] else 'not met'}** (INT8 {g['speedup']:.2f}x, AbsRel {g['abs_rel_vs_fp32'] * 100:+.2f}%)", ""]
    for precision, layers in (r["openvino_layers"] or {}).items():
        lines.append(f"OpenVINO {precision} profile ({layers['total_ms']:.1f} ms per run, convolutions by precision "
                     f"{layers['convolutions']}): " + ", ".join(f"{k} {v:.1f} ms" for k, v in layers["ms_by_layer"].items()))
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
