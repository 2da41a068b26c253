"""`edgedepth eval --checkpoint CKPT --data DIR|NAME [--json OUT] [--markdown OUT] [--grid OUT.png] ...`"""
from __future__ import annotations

import argparse
import sys
from typing import Optional

from edgedepth.cli.args import parse_size


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="evaluate a checkpoint: depth metrics, error by distance and on boundaries, mIoU",
        description="Evaluate the depth network of a checkpoint (and its semantic network, for mIoU, when the data "
        "has semantic labels) with the Eigen metrics (monodepth2 protocol: per-image metrics averaged over images).",
    )
    p.add_argument("--checkpoint", required=True, help="checkpoint .pt written by `edgedepth train`")
    p.add_argument("--data", required=True,
                   help="dataset folder (written by `edgedepth data synth`, or with --root for kitti/vkitti2/cityscapes) "
                   "or a name: synthetic-target, synthetic-source, kitti, vkitti2, cityscapes")
    p.add_argument("--root", help="dataset root for named real datasets")
    p.add_argument("--split-file", help="split file (e.g. KITTI eigen test_files.txt)")
    p.add_argument("--size", type=parse_size, help="evaluation size HxW (default: the size the checkpoint was trained at)")
    p.add_argument("--length", type=int, help="synthetic data: number of test samples (default: the training config's test_length)")
    p.add_argument("--json", metavar="OUT", help="write all results as JSON")
    p.add_argument("--markdown", metavar="OUT", help="write a Markdown report")
    p.add_argument("--grid", metavar="OUT.png", help="write a PNG grid: image | ground truth | prediction | error")
    p.add_argument("--grid-samples", type=int, default=4, help="rows in the PNG grid (default 4)")
    p.add_argument("--crop", choices=["none", "garg", "eigen"], default="none", help="evaluation crop (Garg for KITTI Eigen split)")
    p.add_argument("--min-depth", type=float, default=1e-3, help="ignore gt below this (metres, default 1e-3)")
    p.add_argument("--max-depth", type=float, default=80.0, help="ignore gt beyond this and clamp predictions (80 or 50 m cap)")
    p.add_argument("--median-scaling", action="store_true", help="scale each prediction by median(gt)/median(pred)")
    p.add_argument("--boundary-px", type=int, default=2, help="boundary band width in px around gt label/depth edges (default 2)")
    p.add_argument("--no-semantics", action="store_true", help="skip mIoU even if the checkpoint has a semantic network")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.set_defaults(func=run)


def _dataset(args: argparse.Namespace, data_cfg):
    """The test split of --data; synthetic names reproduce the training run's held-out test set."""
    from edgedepth.data.registry import build_dataset, resolve_dataset_name
    from edgedepth.train.data import TEST_SEED_OFFSET

    name = resolve_dataset_name(args.data, "target")
    size = tuple(args.size or data_cfg.size)
    return build_dataset(
        name, root=args.root, split="test", size=size, length=args.length or data_cfg.test_length,
        seed=data_cfg.seed + TEST_SEED_OFFSET, views=data_cfg.views, split_file=args.split_file,
    )  # fmt: skip


def run(args: argparse.Namespace) -> Optional[int]:
    import torch

    from edgedepth.checkpoint import load_checkpoint, load_depth_net, load_semantic_net
    from edgedepth.config import DataConfig, from_dict
    from edgedepth.torch_device import torch_device
    from edgedepth.eval import evaluate
    from edgedepth.models import resized_to_stride
    from edgedepth.eval.report import (
        save_grid_png,
        text_table,
        write_eval_json,
        write_eval_markdown,
    )
    from edgedepth.utils.io import ensure_writable_file

    for out, what in ((args.json, "JSON report"), (args.markdown, "Markdown report"), (args.grid, "grid image")):
        if out:  # before minutes of evaluation, not after them
            ensure_writable_file(out, what=what)
    device = torch_device(args.device)
    state = load_checkpoint(args.checkpoint)
    depth_net, model_cfg = load_depth_net(args.checkpoint)
    semantic_net = None if args.no_semantics else load_semantic_net(state, args.checkpoint, model_cfg, depth_net)
    depth_net = depth_net.to(device)
    semantic_net = semantic_net.to(device) if semantic_net is not None else None
    data_cfg = from_dict((state.get("config") or {}).get("data", {}), DataConfig)
    del state  # the weights now live in the networks
    dataset = _dataset(args, data_cfg)

    @torch.no_grad()
    def predict(images):
        return depth_net.predict_depth(images.to(device)).float().cpu()

    @torch.no_grad()
    def segment(images):
        return semantic_net(images.to(device))["logits"].float().cpu()

    result = evaluate(
        resized_to_stride(predict), dataset, batch_size=args.batch_size, min_depth=args.min_depth,
        max_depth=args.max_depth, crop=None if args.crop == "none" else args.crop,
        median_scaling=args.median_scaling, semantic_fn=resized_to_stride(segment) if semantic_net else None,
        grid_samples=args.grid_samples if args.grid else 0, boundary_px=args.boundary_px,
    )  # fmt: skip
    result["checkpoint"] = str(args.checkpoint)
    result["data"] = str(args.data)
    print(text_table(result))
    if result["skipped"]:
        print(f"warning: {len(result['skipped'])} of {result['num_samples']} images have no ground-truth depth in "
              f"({args.min_depth:g}, {args.max_depth:g}) m and are in no metric (dataset indices "
              f"{', '.join(map(str, result['skipped'][:10]))}{', ...' if len(result['skipped']) > 10 else ''})",
              file=sys.stderr)
    if args.json:
        write_eval_json(args.json, result)
        print(f"wrote {args.json}")
    if args.markdown:
        write_eval_markdown(args.markdown, result, title=f"Depth evaluation of {args.checkpoint} on {args.data}")
        print(f"wrote {args.markdown}")
    if args.grid:
        g = result["grid"]
        save_grid_png(args.grid, g["image"], g["gt"], g["pred"])
        print(f"wrote {args.grid}")
    return 0
