"""`edgedepth train --config FILE [key=value ...]` (also under `torchrun --nproc-per-node N`)."""
from __future__ import annotations

import argparse
import json
import logging


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train D, S and F with domain adaptation",
        description="Train the depth (D), semantic (S) and discriminator (F) networks. The resolved config is "
        "written to <train.out>/config.yaml. Run under `torchrun --nproc-per-node N` for distributed training.",
    )
    p.add_argument("--config", help="YAML config (e.g. configs/synthetic_demo.yaml); defaults when omitted")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. train.steps=200 data.batch_size=8")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edgedepth.config import load_config
    from edgedepth.train import train

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    cfg = load_config(args.config, args.overrides)
    from edgedepth.train.loop import install_sigterm_as_interrupt

    install_sigterm_as_interrupt()
    summary = train(cfg)
    if summary.get("checkpoint"):
        print(json.dumps({k: v for k, v in summary.items() if k != "eval"}, indent=2))
        if summary.get("eval"):
            m = summary["eval"]["metrics"]
            print("target test: " + "  ".join(f"{k} {m[k]:.4f}" for k in ("abs_rel", "rmse", "a1")))
    return 0
