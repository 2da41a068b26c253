"""Precision benchmark (issue 6 goal): PyTorch eager FP32 vs ONNX Runtime FP32 / FP16 / INT8 on this CPU.

Same process, same input, interleaved rounds (one run of each backend per round, so a busy shared
machine slows every backend alike); AbsRel etc. on held-out synthetic target test images.
Goal: ORT INT8 >= 3x faster than PyTorch eager FP32, with AbsRel within 2 % (relative) of FP32.

    python benchmarks/precision_bench.py [--checkpoint model.pt] [--size 192x640] [--threads 2]

Without --checkpoint the network is a random-init resnet18 DepthNet and the results say so:
its latency is representative, its accuracy numbers are not (AbsRel of an untrained net).
Writes benchmarks/results/precision_bench.{json,md} (atomically).
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


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", type=Path, help="trained edgedepth checkpoint (default: random-init resnet18 DepthNet)")
    p.add_argument("--size", default="192x640", help="input HxW")
    p.add_argument("--threads", type=int, default=2, help="intra-op threads for PyTorch and ONNX Runtime")
    p.add_argument("--rounds", type=int, default=20, help="timed rounds (one run of every backend per round)")
    p.add_argument("--warmup", type=int, default=3, help="untimed runs of each backend first")
    p.add_argument("--calib-n", type=int, default=16, help="synthetic target calibration images")
    p.add_argument("--calib-method", default="entropy", choices=["minmax", "entropy", "percentile"])
    p.add_argument("--test-n", type=int, default=16, help="held-out synthetic target test images for accuracy")
    p.add_argument("--max-accuracy-drop", type=float, default=None, help="run the INT8 sensitivity pass with this budget")
    p.add_argument("--median-scaling", action="store_true", help="median-scale predictions (for scale-ambiguous checkpoints)")
    p.add_argument("--out-dir", type=Path, default=ROOT / "benchmarks" / "results")
    return p.parse_args(argv)


def machine_info(threads: int) -> dict:
    import onnx
    import onnxruntime
    import torch

    from edgedepth import __version__

    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    flags = ""
    try:
        flags = next(line for line in open("/proc/cpuinfo") if line.startswith("flags"))
    except (OSError, StopIteration):
        pass
    return {
        "cpu": cpu,
        "logical_cores": os.cpu_count(),
        "int8_dot_product": "avx512_vnni" in flags or "avx_vnni" in flags,
        "avx2": "avx2" in flags,
        "platform": platform.platform(),
        "threads": threads,
        "load_average_at_start": list(os.getloadavg()),
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "onnxruntime": onnxruntime.__version__,
            "onnx": onnx.__version__,
            "numpy": np.__version__,
            "edgedepth": __version__,
        },
    }


def machine_cpu_seconds() -> float | None:
    """Busy CPU time of the whole machine (all processes), from /proc/stat; None off Linux."""
    try:
        with open("/proc/stat") as f:
            ticks = [int(v) for v in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # all but idle and iowait


def latency_stats(samples_s: list[float]) -> dict:
    ms = np.asarray(samples_s) * 1000.0
    return {k: float(v) for k, v in {"mean": ms.mean(), "std": ms.std(), "min": ms.min(), "p50": np.median(ms),
                                      "p90": np.percentile(ms, 90), "max": ms.max()}.items()}


def fused_convs(path: Path, threads: int) -> dict:
    """How many Conv nodes ONNX Runtime CPU turns into integer QLinearConv kernels (the rest stay float)."""
    import onnx
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED  # layout-independent fusions only
        opts.optimized_model_filepath = str(Path(tmp) / "optimised.onnx")
        ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        ops = [n.op_type for n in onnx.load(opts.optimized_model_filepath).graph.node]
    return {"qlinearconv": ops.count("QLinearConv"), "float_conv": ops.count("Conv") + ops.count("FusedConv")}


def main(argv=None) -> int:
    from edgedepth.bench.report import command_line

    args = parse_args(argv)
    os.environ.setdefault("EDGEDEPTH_NO_PROGRESS", "1")
    import torch

    from edgedepth.export import convert_fp16, export_onnx, quantize_int8
    from edgedepth.export.calibration import load_calibration_set
    from edgedepth.export.verify import depth_accuracy, ort_session, run_onnx
    from edgedepth.utils.io import atomic_write_text, write_json

    h, w = (int(v) for v in args.size.lower().split("x"))
    torch.set_num_threads(args.threads)
    info = machine_info(args.threads)
    if args.checkpoint:
        from edgedepth.checkpoint import load_depth_net

        net, _ = load_depth_net(args.checkpoint)
        model_label = f"checkpoint {args.checkpoint.name} ({net.encoder_name})"
    else:
        from edgedepth.models import build_depth_net

        torch.manual_seed(0)
        net = build_depth_net(encoder="resnet18").eval()
        model_label = "random-init resnet18 DepthNet (untrained: latency is representative, accuracy is not)"
    net.eval()
    print(f"model: {model_label}; size {h}x{w}, batch 1, {args.threads} threads", flush=True)

    calib, _ = load_calibration_set("synthetic", size=(h, w), n=args.calib_n, seed=0)
    test_images, test_depth = load_calibration_set("synthetic", size=(h, w), n=args.test_n, seed=10_000, split="test")
    with tempfile.TemporaryDirectory(prefix="edgedepth-precision-") as tmp:
        fp32_path, fp16_path, int8_path = (Path(tmp) / f"model.{p}.onnx" for p in ("fp32", "fp16", "int8"))
        export = export_onnx(net, fp32_path, size=(h, w), batch=1)
        convert_fp16(fp32_path, fp16_path)
        t0 = time.perf_counter()
        quant = quantize_int8(fp32_path, int8_path, calibration_images=calib, method=args.calib_method,
                              max_accuracy_drop=args.max_accuracy_drop, holdout=(test_images, test_depth) if args.max_accuracy_drop is not None else None)
        quant_seconds = time.perf_counter() - t0
        print(quant.summary(), flush=True)
        fusion = fused_convs(int8_path, args.threads)
        # No spinning: with interleaved rounds an idle pool spinning on both cores slowed the next backend
        # (2 threads: PyTorch 92 -> 116 ms, ORT INT8 46 -> 60 ms).
        sessions = {name: ort_session(path, threads=args.threads, spin=False) for name, path in
                    (("onnxruntime fp32", fp32_path), ("onnxruntime fp16", fp16_path), ("onnxruntime int8", int8_path))}

        def torch_predict(images: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                return np.concatenate([net.predict_depth(torch.from_numpy(images[i : i + 1])).numpy() for i in range(len(images))])

        predictors = {"pytorch eager fp32": torch_predict, **{n: (lambda s: lambda x: run_onnx(s, x))(s) for n, s in sessions.items()}}
        x = test_images[:1]
        for _ in range(args.warmup):
            for fn in predictors.values():
                fn(x)
        times = {name: [] for name in predictors}
        busy0, own0, wall0 = machine_cpu_seconds(), time.process_time(), time.perf_counter()
        for _ in range(args.rounds):
            for name, fn in predictors.items():
                start = time.perf_counter()
                fn(x)
                times[name].append(time.perf_counter() - start)
        if busy0 is not None:  # what the rest of the machine used while we timed: the load average lags by a minute
            other = (machine_cpu_seconds() - busy0 - (time.process_time() - own0)) / (time.perf_counter() - wall0)
            info["other_processes_cores_during_rounds"] = max(0.0, other)

        max_depth = net.max_depth * 1.001
        rows = []
        for name, fn in predictors.items():
            pred = fn(test_images)
            if args.median_scaling:
                from edgedepth.eval import depth_metrics

                metrics = depth_metrics(pred, test_depth, max_depth=max_depth, median_scaling=True)
            else:
                metrics = depth_accuracy(pred, test_depth, max_depth=max_depth)
            rows.append({"name": name, "latency_ms": latency_stats(times[name]), **metrics})
    torch_p50 = rows[0]["latency_ms"]["p50"]
    fp32_abs_rel = rows[0]["abs_rel"]
    for r in rows:
        r["speedup_vs_torch"] = torch_p50 / r["latency_ms"]["p50"]
        r["abs_rel_vs_fp32"] = (r["abs_rel"] - fp32_abs_rel) / fp32_abs_rel
    int8 = rows[-1]
    goal = {"speedup_target": 3.0, "abs_rel_drop_target": 0.02, "int8_speedup": int8["speedup_vs_torch"],
            "int8_abs_rel_drop": int8["abs_rel_vs_fp32"]}
    goal["met"] = bool(goal["int8_speedup"] >= 3.0 and abs(goal["int8_abs_rel_drop"]) <= 0.02)
    info["load_average_at_end"] = list(os.getloadavg())
    result = {
        "benchmark": "precision_bench",
        "command": command_line(__file__, argv),
        "model": model_label,
        "size": [h, w],
        "batch": 1,
        "machine": info,
        "rounds": args.rounds,
        "test_images": f"{args.test_n} synthetic target images (seed 10000), ground-truth depth",
        "int8": {"calibration": args.calib_method, "calibration_images": args.calib_n, "float_nodes": quant.head + quant.excluded,
                 "quantize_seconds": quant_seconds, "sensitivity": quant.sensitivity, "ort_cpu_fusion": fusion},
        "export": {"nodes_before": export.nodes_before, "nodes_after": export.nodes_after,
                   "max_rel_diff": export.verification["max_rel_diff"]},
        "results": rows,
        "goal": goal,
    }
    args.out_dir.mkdir(parents=True, exist_ok=True)
    write_json(args.out_dir / "precision_bench.json", result)
    atomic_write_text(args.out_dir / "precision_bench.md", to_markdown(result))
    print(to_markdown(result))
    return 0


def to_markdown(r: dict) -> str:
    m = r["machine"]
    lines = [
        "# Precision benchmark: PyTorch eager FP32 vs ONNX Runtime FP32 / FP16 / INT8",
        "",
        f"- model: {r['model']}",
        f"- input: {r['size'][0]}x{r['size'][1]}, batch {r['batch']}; {r['rounds']} interleaved rounds",
        f"- machine: {m['cpu']}, {m['logical_cores']} logical cores, {m['threads']} threads; AVX2 {m['avx2']}, "
        f"INT8 dot-product (VNNI) {m['int8_dot_product']}; load average {m['load_average_at_start'][0]:.1f} at start, "
        f"{m['load_average_at_end'][0]:.1f} at end; other processes used "
        f"{m.get('other_processes_cores_during_rounds', float('nan')):.2f} cores during the timed rounds "
        "(shared machine: ratios are from the same rounds; ONNX Runtime thread pools do not spin between runs)",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()),
        f"- accuracy: {r['test_images']}; INT8 calibration {r['int8']['calibration']} on {r['int8']['calibration_images']} synthetic target images, "
        f"{len(r['int8']['float_nodes'])} nodes kept in float; ONNX Runtime CPU runs {r['int8']['ort_cpu_fusion']['qlinearconv']} convs as "
        f"QLinearConv and {r['int8']['ort_cpu_fusion']['float_conv']} in float",
        f"- command: `{r['command']}`",
        "",
        "| backend | p50 ms | mean ms | p90 ms | speedup vs torch | AbsRel | AbsRel vs FP32 | RMSE | a1 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in r["results"]:
        lat = row["latency_ms"]
        lines.append(f"| {row['name']} | {lat['p50']:.1f} | {lat['mean']:.1f} | {lat['p90']:.1f} | {row['speedup_vs_torch']:.2f}x | "
                     f"{row['abs_rel']:.4f} | {row['abs_rel_vs_fp32'] * 100:+.2f}% | {row.get('rmse', float('nan')):.3f} | {row.get('a1', float('nan')):.3f} |")
    g = r["goal"]
    lines += ["", f"Goal (ORT INT8 >= {g['speedup_target']:.0f}x torch eager FP32, AbsRel within {g['abs_rel_drop_target'] * 100:.0f}% of FP32): "
              f"**{'met' if g['met'] else 'not met'}** (INT8 {g['int8_speedup']:.2f}x, AbsRel {g['int8_abs_rel_drop'] * 100:+.2f}%)", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
