"""The edge depth networks against ResNet-18 on this CPU: cost, graph and latency on every CPU engine, side by side.

    python benchmarks/edge_bench.py [--nets edge_s edge_l resnet18] [--checkpoint edge_s=runs/x/model.pt] \\
        [--size 192x640] [--threads 2] [--rounds 100]

For each network (random weights unless a checkpoint is given: latency does not depend on them):
multiply-accumulates and parameters (``torch.utils.flop_counter``), the FP32 ONNX that `edgedepth export`
writes (batch 1) and its INT8 Q/DQ ONNX (min-max calibration on synthetic images, as
`build-engine --calib synthetic`), and the op census of the FP32 graph. Engines: ONNX Runtime FP32 and
INT8 (plain sessions, idle threads not spinning), OpenVINO FP32, INT8 and, where the CPU has BF16, BF16
(the engines `build-engine --backend openvino` builds). Every engine of every network runs once per
round, the order rotated each round, so load from other processes falls on all alike; p50 and p99 of
the rounds. OpenVINO's per-layer profile of each INT8 engine names the layers that run reference
(``ref``) kernels. Goals (issue 18): the small network's best engine >= 8x ResNet-18 on ONNX Runtime
FP32 and >= 3x ResNet-18's best engine; OpenVINO INT8 of each edge network >= 4x its ONNX Runtime FP32.
Writes OUT.json, OUT.md and OUT.png (default benchmarks/results/edge_bench_<cpu model>).
"""
from __future__ import annotations

import argparse
import collections
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from openvino_bench import default_out, machine_info, open_predictors, openvino_layers, timed_rounds  # noqa: E402  (benchmarks/ is the script's folder)

GOAL_VS_R18_FP32, GOAL_VS_R18_BEST, GOAL_OV_INT8 = 8.0, 3.0, 4.0
BASELINE_NET, SMALL_NET = "resnet18", "edge_s"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nets", nargs="+", default=["edge_s", "edge_l", "resnet18"], help="registered encoders")
    p.add_argument("--checkpoint", action="append", default=[], metavar="NET=CKPT", help="trained weights for a network")
    p.add_argument("--size", default="192x640", type=lambda s: tuple(int(v) for v in s.lower().split("x")))
    p.add_argument("--threads", type=int, default=2, help="threads of every engine")
    p.add_argument("--rounds", type=int, default=100, help="timed rounds (one run of every engine per round)")
    p.add_argument("--warmup", type=int, default=5, help="untimed runs of each engine first")
    p.add_argument("--calib-n", type=int, default=16, help="synthetic calibration images for INT8")
    p.add_argument("--profile-runs", type=int, default=10, help="runs of OpenVINO's per-layer profile")
    p.add_argument("--out", type=Path, help="OUT.json/.md/.png (default: benchmarks/results/edge_bench_<cpu model>)")
    return p.parse_args(argv)


def depth_net(name: str, checkpoints: dict[str, str]):
    if name in checkpoints:
        from edgedepth.checkpoint import load_depth_net

        net, cfg = load_depth_net(checkpoints[name])
        if cfg.encoder != name:
            raise SystemExit(f"--checkpoint {name}={checkpoints[name]} holds a {cfg.encoder} network")
        return net
    from edgedepth.models import build_depth_net

    return build_depth_net(encoder=name).eval()


def cost(net, size: tuple[int, int]) -> dict:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net.predict_depth(torch.rand(1, 3, *size))
    return {"gmac": counter.get_total_flops() / 2e9, "params_m": sum(p.numel() for p in net.parameters()) / 1e6}


def export_pair(net, name: str, size, work: Path, calib: np.ndarray) -> tuple[Path, Path, dict]:
    """FP32 and INT8 ONNX of ``net`` at ``size``, batch 1, and the FP32 graph's op census."""
    import onnx

    from edgedepth.export import export_onnx
    from edgedepth.export.quantize import quantize_int8

    fp32, int8 = work / f"{name}.onnx", work / f"{name}.int8.onnx"
    export_onnx(net, fp32, size=size, batch=1)
    quantize_int8(fp32, int8, calibration_images=calib, method="minmax")
    return fp32, int8, dict(collections.Counter(n.op_type for n in onnx.load(fp32).graph.node))


def summarise(times: dict, nets: list[str]) -> dict:
    """net -> engine -> latency stats (ms) and FPS."""
    from edgedepth.bench.timing import latency_stats

    table: dict[str, dict] = {n: {} for n in nets}
    for key, samples in times.items():
        net, engine = key.split(" / ")
        stats = latency_stats(np.asarray(samples) * 1000.0)
        table[net][engine] = {"latency_ms": stats, "fps": 1000.0 / stats["p50"]}
    return table


def goals(table: dict) -> dict:
    def p50(net, engine):
        return table[net][engine]["latency_ms"]["p50"]

    def best(net):
        return min(table[net], key=lambda e: p50(net, e))

    out = {}
    if SMALL_NET in table and BASELINE_NET in table:
        small, base = best(SMALL_NET), best(BASELINE_NET)
        out["small_best_vs_r18_ort_fp32"] = {"value": p50(BASELINE_NET, "onnxruntime fp32") / p50(SMALL_NET, small),
                                             "target": GOAL_VS_R18_FP32, "engines": [small, "onnxruntime fp32"]}
        out["small_best_vs_r18_best"] = {"value": p50(BASELINE_NET, base) / p50(SMALL_NET, small),
                                         "target": GOAL_VS_R18_BEST, "engines": [small, base]}
    for net in table:
        if net != BASELINE_NET and "openvino int8" in table[net]:
            out[f"{net}_openvino_int8_vs_own_ort_fp32"] = {
                "value": p50(net, "onnxruntime fp32") / p50(net, "openvino int8"), "target": GOAL_OV_INT8,
                "engines": ["openvino int8", "onnxruntime fp32"]}
    for g in out.values():
        g["met"] = bool(g["value"] >= g["target"])
    return out


def main(argv=None) -> int:
    from edgedepth.bench.report import command_line

    args = parse_args(argv)
    os.environ.setdefault("EDGEDEPTH_NO_PROGRESS", "1")
    import torch

    from edgedepth.export.calibration import load_calibration_set
    from edgedepth.utils.io import atomic_write_text, write_json

    torch.set_num_threads(args.threads)
    checkpoints = dict(item.split("=", 1) for item in args.checkpoint)
    calib, _ = load_calibration_set("synthetic", size=args.size, n=args.calib_n, seed=0)
    nets, predictors, profiles = {}, {}, {}
    with tempfile.TemporaryDirectory(prefix="edgedepth-edge-bench-") as tmp:
        for name in args.nets:
            net = depth_net(name, checkpoints)
            fp32, int8, ops = export_pair(net, name, args.size, Path(tmp), calib)
            nets[name] = {**cost(net, args.size), "onnx_ops": ops, "weights": checkpoints.get(name, "random")}
            (Path(tmp) / name).mkdir()
            engines, _ = open_predictors(fp32, int8, Path(tmp) / name, args.threads)
            predictors.update({f"{name} / {engine}": p for engine, p in engines.items()})
            profiles[name] = openvino_layers(int8, args.threads, args.profile_runs, top=6, digits=3)
        info = machine_info(args.threads)
        times, info["other_processes_cores_during_rounds"] = timed_rounds(predictors, calib[:1], rounds=args.rounds, warmup=args.warmup)
    info["load_average_at_end"] = list(os.getloadavg())
    table = summarise(times, list(nets))
    result = {"benchmark": "edge_bench", "command": command_line(__file__, argv),
              "size": list(args.size), "batch": 1, "rounds": args.rounds, "machine": info, "nets": nets,
              "latency": table, "openvino_int8_profile": profiles, "goals": goals(table)}
    out = args.out or default_out("edge_bench")
    write_json(out.with_name(out.name + ".json"), result)
    atomic_write_text(out.with_name(out.name + ".md"), to_markdown(result, out.name + ".png"))
    plot(result, out.with_name(out.name + ".png"))
    print(to_markdown(result, out.name + ".png"))
    return 0


def to_markdown(r: dict, plot_name: str) -> str:
    m = r["machine"]
    engines = list(dict.fromkeys(e for net in r["latency"].values() for e in net))
    lines = [
        "# Edge depth networks vs ResNet-18 on the CPU engines", "",
        f"- input {r['size'][0]}x{r['size'][1]}, batch 1; {r['rounds']} interleaved rounds (every engine of every network once "
        "per round, order rotated); weights: " + ", ".join(f"{n} {v['weights']}" for n, v in r["nets"].items()),
        f"- CPU: {m['cpu']} ({m['cpu_vendor']}), features {', '.join(m['cpu_features']) or 'none of note'}; {m['logical_cores']} "
        f"logical cores, {m['threads']} threads per engine",
        f"- load average {m['load_average_at_start'][0]:.1f} at start, {m['load_average_at_end'][0]:.1f} at end; other processes used "
        f"{m['other_processes_cores_during_rounds'] or 0:.2f} cores during the rounds",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()),
        f"- command: `{r['command']}`", "",
        "| network | GMAC | params (M) | " + " | ".join(f"{e} p50 / p99 ms" for e in engines) + " | best FPS |",
        "|---|---|---|" + "---|" * (len(engines) + 1),
    ]
    for net, row in r["latency"].items():
        cells = [f"{row[e]['latency_ms']['p50']:.2f} / {row[e]['latency_ms']['p99']:.2f}" if e in row else "–" for e in engines]
        lines.append(f"| {net} | {r['nets'][net]['gmac']:.2f} | {r['nets'][net]['params_m']:.2f} | " + " | ".join(cells)
                     + f" | {max(v['fps'] for v in row.values()):.0f} |")
    lines += ["", "Goals (p50 ratios from the same rounds):", ""]
    for name, g in r["goals"].items():
        lines.append(f"- {name.replace('_', ' ')} ({g['engines'][0]} vs {g['engines'][1]}): **{g['value']:.2f}x** "
                     f"(goal >= {g['target']:.0f}x: {'met' if g['met'] else 'NOT met'})")
    lines += ["", "ONNX graphs (FP32) and OpenVINO INT8 profiles:", ""]
    for net, info in r["nets"].items():
        prof = r["openvino_int8_profile"][net]
        lines.append(f"- **{net}**: ops {', '.join(f'{k} {v}' for k, v in sorted(info['onnx_ops'].items()))}; OpenVINO INT8 "
                     f"{prof['total_ms']:.2f} ms/run: " + ", ".join(f"{k} {v:.2f}" for k, v in prof["ms_by_layer"].items())
                     + f"; reference-kernel layers: {', '.join(prof['reference_kernel_layers']) or 'none'}")
    return "\n".join(lines + ["", f"![latency by engine]({plot_name})", ""])


def plot(r: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    nets = list(r["latency"])
    engines = list(dict.fromkeys(e for net in r["latency"].values() for e in net))
    fig, ax = plt.subplots(figsize=(9, 3.8))
    width = 0.8 / len(engines)
    for i, engine in enumerate(engines):
        xs = [j + i * width for j in range(len(nets))]
        ax.bar(xs, [r["latency"][n].get(engine, {}).get("latency_ms", {}).get("p50", np.nan) for n in nets], width, label=engine)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(nets))], [f"{n}\n{r['nets'][n]['gmac']:.2f} GMAC" for n in nets])
    ax.set_yscale("log")
    ax.set_ylabel(f"p50 latency (ms), {r['size'][0]}x{r['size'][1]}, {r['machine']['threads']} threads")
    ax.set_title(r["machine"]["cpu"])
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
