"""Gather what benchmarks/gpu_smoke.sh measured into one JSON and one Markdown report (called by the script)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from edgedepth.bench.device import describe_device
from edgedepth.bench.report import device_line
from edgedepth.utils.io import atomic_write_text


def _load(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _demo(work: Path) -> dict[str, Any]:
    demo = work / "demo"
    train = _load(demo / "train" / "summary.json") or {}
    config = _load(demo / "train" / "history.json") or []
    bench = _load(demo / "bench.json") or {}
    infer = _load(demo / "infer" / "summary.json") or {}
    engines = {name: (_load_header(demo / name) or {}) for name in ("model.engine", "model.int8.engine")}
    steps, seconds = train.get("steps"), train.get("seconds")
    return {
        "train": {"steps": steps, "seconds": seconds, "steps_per_s": steps / seconds if steps and seconds else None,
                  "final_losses": config[-1] if config else None},
        "eval": ((_load(demo / "eval.json") or {}).get("metrics")),
        "engines": {k: {"backend": h.get("backend"), "precision": h.get("precision"), "device": h.get("device"),
                        "auto": h.get("auto")} for k, h in engines.items() if h},
        "bench": [{k: r.get(k) for k in ("name", "backend", "precision", "batch", "latency_ms", "throughput_fps", "accuracy")}
                  for r in bench.get("results", [])],
        "infer": {k: infer.get(k) for k in ("frames", "dropped", "fps", "steady_fps", "infer_only_fps", "backend", "precision")},
    }


def _load_header(path: Path) -> dict | None:
    from edgedepth.backends.container import read_engine_header

    try:
        return read_engine_header(path)
    except Exception:  # noqa: BLE001 - a step that failed leaves no engine; the report says so
        return None


def _markdown(r: dict) -> str:
    lines = [f"# GPU smoke run on {r['gpu']}", "", f"Device: {device_line(r['device'])}", "",
             f"Command: `{r['command']}`; {r['total_seconds']} s in all.", "", "| step | status | seconds |", "|---|---|---|"]
    lines += [f"| {s['step']} | {s['status']} | {s['seconds']} |" for s in r["steps"]]
    demo = r["demo"]
    t = demo["train"]
    if t.get("steps"):
        lines += ["", f"Demo training: {t['steps']} steps in {t['seconds']} s ({t['steps_per_s']:.2f} steps/s)."]
    if demo.get("eval"):
        lines += [f"Demo target AbsRel {demo['eval']['abs_rel']:.4f}, δ<1.25 {demo['eval']['a1']:.3f}."]
    for name, e in demo["engines"].items():
        auto = e.get("auto") or {}
        lines += [f"`{name}`: {e['backend']} {e['precision']}" + (f" (auto ranking {auto.get('scores')})" if auto else "") + "."]
    if demo["bench"]:
        lines += ["", "| demo bench | backend | precision | batch | mean ms | FPS | AbsRel |", "|---|---|---|---|---|---|---|"]
        for b in demo["bench"]:
            acc = (b.get("accuracy") or {}).get("abs_rel")
            lines.append(f"| {b['name']} | {b['backend']} | {b['precision']} | {b['batch']} | {b['latency_ms']['mean']:.2f} | "
                         f"{b['throughput_fps']:.1f} | {'' if acc is None else f'{acc:.4f}'} |")
    if r.get("torch_backend"):
        lines += ["", "## Torch backend (GPU inference without TensorRT)", "", Path(r["torch_backend_md"]).read_text().strip()]
    if r.get("infer_bench"):
        ib = r["infer_bench"]
        lines += ["", "## End-to-end inference", "",
                  f"{ib['model']} ({ib['backend']}/{ib['precision']}): engine only {ib['engine_only']['fps']:.1f} FPS, end to end "
                  f"{ib['end_to_end']['fps']:.1f} FPS, ratio **{ib['ratio']:.2f}** (goal >= {ib['goal']})."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--gpu", required=True)
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True, help="report path without suffix")
    p.add_argument("--steps", default="", help="one JSON object per line: step, status, seconds")
    p.add_argument("--total-seconds", type=int, required=True)
    p.add_argument("--command", required=True)
    args = p.parse_args(argv)
    report = {
        "gpu": args.gpu, "device": describe_device(), "command": args.command, "total_seconds": args.total_seconds,
        "steps": [json.loads(line) for line in args.steps.splitlines() if line.strip()],
        "demo": _demo(args.work),
        "torch_backend": (_load(args.work / "torch_backend.json") or {}).get("analysis"),
        "torch_backend_md": str(args.work / "torch_backend.md"),
        "infer_bench": _load(args.work / "infer_bench.json"),
    }
    if report["infer_bench"]:
        report["infer_bench"].pop("device", None)
    # Committed results name no scratch folder of the machine they ran on.
    scrub = lambda text: text.replace(str(args.work), "$WORK")  # noqa: E731
    atomic_write_text(args.out.with_suffix(".md"), scrub(_markdown(report)))
    report.pop("torch_backend_md")
    atomic_write_text(args.out.with_suffix(".json"), scrub(json.dumps(report, indent=2)) + "\n")


if __name__ == "__main__":
    main()
