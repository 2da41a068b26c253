"""`edgedepth train --config FILE [key=value ...]` (also under `torchrun --nproc-per-node N`)."""
from __future__ import annotations

import argparse
import json
import logging
import os


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train D, S and F with domain adaptation",
        description="Train the depth (D), semantic (S) and discriminator (F) networks. The resolved config is "
        "written to <train.out>/config.yaml. Run under `torchrun --nproc-per-node N` for distributed training.",
    )
    p.add_argument("--config", help="YAML config (e.g. configs/synthetic_demo.yaml); defaults when omitted")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. train.steps=200 data.batch_size=8")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a previous run in train.out (its checkpoints, model.pt, best.pt, logs); without it a "
                   "non-empty train.out is refused unless train.resume= continues the run there")
    p.set_defaults(func=run)


def prepare_output_folder(cfg, *, overwrite: bool) -> None:
    """Refuse to mix a new run with an old one in train.out; under torchrun, rank 0 decides for all."""
    from edgedepth.train.state import RUN_OUTPUTS
    from edgedepth.utils.io import claim_output_dir, ensure_writable_dir

    if int(os.environ.get("RANK", "0")) != 0:
        return
    if cfg.train.resume:  # continuing a run: its folder holds its files
        ensure_writable_dir(cfg.train.out, what="training output folder (train.out)")
        return
    claim_output_dir(cfg.train.out, owned=RUN_OUTPUTS, overwrite=overwrite, what="training output folder (train.out)",
                     fix="choose another train.out, continue that run with train.resume=CKPT, or pass --overwrite "
                     "to replace it")


def run(args: argparse.Namespace) -> int:
    from edgedepth.config import load_config
    from edgedepth.train import train
    from edgedepth.utils.interrupts import sigterm_as_interrupt

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    cfg = load_config(args.config, args.overrides)
    prepare_output_folder(cfg, overwrite=args.overwrite)
    with sigterm_as_interrupt():
        summary = train(cfg)
    if summary.get("checkpoint"):
        print(json.dumps({k: v for k, v in summary.items() if k != "eval"}, indent=2))
        if summary.get("eval"):
            m = summary["eval"]["metrics"]
            print("target test: " + "  ".join(f"{k} {m[k]:.4f}" for k in ("abs_rel", "rmse", "a1")))
    return 0
