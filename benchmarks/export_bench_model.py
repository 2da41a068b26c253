"""Export the model the benchmark scripts time: a checkpoint's depth net, or the demo-sized ResNet-18
with random weights (latency does not depend on the weights).

    python benchmarks/export_bench_model.py OUT.onnx [--checkpoint runs/demo/model.pt] [--size 192x640]
"""
from __future__ import annotations

import argparse

from edgedepth.export import export_onnx


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out")
    p.add_argument("--checkpoint", help="trained checkpoint; default: random-weight ResNet-18 depth net")
    p.add_argument("--size", default="192x640", help="HxW (multiples of 32)")
    args = p.parse_args(argv)
    if args.checkpoint:
        from edgedepth.checkpoint import load_depth_net

        net, _ = load_depth_net(args.checkpoint)
    else:
        from edgedepth.models import build_depth_net

        net = build_depth_net(encoder="resnet18")
    h, w = (int(v) for v in args.size.lower().split("x"))
    export_onnx(net.eval(), args.out, size=(h, w), batch="dynamic")
    print(f"exported {args.out}")


if __name__ == "__main__":
    main()
