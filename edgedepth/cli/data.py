"""`edgedepth data synth|check|preview`: write the synthetic world to disk, validate a dataset folder, preview it."""
from __future__ import annotations

import argparse
from pathlib import Path

from edgedepth.cli.args import parse_size

DOMAIN_CHOICES = ("source", "target", "both")
VIEW_CHOICES = ("stereo", "temporal", "both", "none")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="generate the synthetic dataset, check and preview dataset folders",
                       description="Generate the built-in synthetic two-domain driving world on disk, validate a "
                       "dataset folder (synth, KITTI, Virtual KITTI 2, Cityscapes) or write a preview image.")
    actions = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    synth = actions.add_parser("synth", help="render synthetic samples into the render cache and a folder (docs/data_format.md)",
                               description="Render N synthetic samples with depth, semantics, intrinsics and "
                               "neighbour views, in parallel, into the render cache that training reads (once per "
                               "domain, seed, size, views and renderer version), and with --out also into the folder "
                               "DIR. --domain both writes DIR/source and DIR/target.")
    synth.add_argument("--out", metavar="DIR",
                       help="also write a dataset folder (created; must be empty unless --overwrite); without it only the cache is filled")
    synth.add_argument("--overwrite", action="store_true",
                       help="replace the synth dataset in DIR (files that synth did not write are never removed)")
    synth.add_argument("--n", required=True, type=_positive, metavar="N", help="samples per domain")
    synth.add_argument("--domain", choices=DOMAIN_CHOICES, default="both", help="which domain(s) (default both)")
    synth.add_argument("--size", type=parse_size, default=(96, 320), metavar="HxW", help="image size (default 96x320)")
    synth.add_argument("--seed", type=int, default=0, help="layout seed (default 0); sample i depends only on seed, domain, i")
    synth.add_argument("--views", choices=VIEW_CHOICES, default="both",
                       help="neighbour views per sample: stereo partner, temporal prev/next, both (default) or none")
    synth.add_argument("--workers", type=_positive, metavar="N", help="render processes (default: one per core)")
    synth.add_argument("--cache-dir", metavar="DIR",
                       help="render cache folder (default: $EDGEDEPTH_CACHE_DIR, else $XDG_CACHE_HOME/edgedepth, else ~/.cache/edgedepth)")
    synth.set_defaults(func=run_synth)

    check = actions.add_parser("check", help="validate a dataset folder; names every bad file and the fix",
                               description="Open every file a loader would read and report each missing, corrupt or "
                               "inconsistent one. Exit code 1 if any problem is found.")
    check.add_argument("dir", metavar="DIR", help="dataset folder")
    check.add_argument("--split-file", help="split file for KITTI-style datasets")
    check.set_defaults(func=run_check)

    preview = actions.add_parser("preview", help="write a PNG grid: image | depth | semantics",
                                 description="Write a PNG with one row per sample of a synth folder.")
    preview.add_argument("dir", metavar="DIR", help="folder written by `edgedepth data synth`")
    preview.add_argument("--out", required=True, metavar="PNG", help="output image")
    preview.add_argument("--n", type=_positive, default=4, help="rows (default 4)")
    preview.add_argument("--domain", choices=("source", "target"), help="domain of a two-domain folder")
    preview.set_defaults(func=run_preview)


def _prepare_out(out: Path, *, overwrite: bool) -> None:
    """An empty folder for the new dataset: an old one of another --n/--size must not leave samples behind."""
    from edgedepth.data.folder import FOLDER_ENTRIES
    from edgedepth.utils.io import claim_output_dir

    claim_output_dir(out, owned=FOLDER_ENTRIES, overwrite=overwrite, what="dataset folder")


def run_synth(args: argparse.Namespace) -> int:
    from edgedepth.data.folder import write_dataset, write_domain_index
    from edgedepth.data.render_cache import cached_world

    out = Path(args.out) if args.out else None
    if out is not None:
        _prepare_out(out, overwrite=args.overwrite)
    domains = ["source", "target"] if args.domain == "both" else [args.domain]
    for domain in domains:
        world = cached_world(domain, size=args.size, length=args.n, seed=args.seed, views=args.views,
                             cache_dir=args.cache_dir, workers=args.workers)
        print(f"{domain}: {args.n} samples in the render cache at {world.store}")
        if out is not None:
            folder = out / domain if len(domains) > 1 else out
            write_dataset(folder, world, info={"seed": args.seed, "views": args.views, "generator": "SyntheticWorld"})
    if out is not None and len(domains) > 1:
        write_domain_index(out, domains)
    if out is not None:
        h, w = args.size
        print(f"wrote {args.n} samples x {len(domains)} domain(s) ({', '.join(domains)}) at {h}x{w} to {out}")
    return 0


def check_problems(root: str, *, split_file=None) -> list[str]:
    """Problems found by the dataset registry (any format), or by the synth-folder check when it is absent."""
    try:
        from edgedepth.data.registry import check_dataset
    except ImportError:
        from edgedepth.data.folder import check_folder

        return check_folder(root)
    return check_dataset(root, split_file=split_file)


def _count(root: str, split_file) -> str:
    from edgedepth.data.folder import count_samples
    from edgedepth.errors import DataError

    if (Path(root) / "meta.yaml").is_file():
        return f"{count_samples(root)} samples"
    try:
        from edgedepth.data.registry import build_dataset, detect_format

        if split_file is None and detect_format(root) == "cityscapes":
            return _cityscapes_count(root)
        return f"{len(build_dataset(root, split_file=split_file))} samples"
    except (ImportError, DataError):
        return "no problems found"


def _cityscapes_count(root: str) -> str:
    """Samples of every split folder that `data check` checked, not only of train."""
    from edgedepth.data.cityscapes import Cityscapes

    splits = sorted(p.name for p in (Path(root) / "leftImg8bit").iterdir() if p.is_dir())
    counts = {split: len(Cityscapes(root, split=split)) for split in splits}
    return f"{sum(counts.values())} samples ({', '.join(f'{split} {n}' for split, n in counts.items())})"


def run_check(args: argparse.Namespace) -> int:
    problems = check_problems(args.dir, split_file=args.split_file)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem(s) in {args.dir}")
        return 1
    print(f"OK: {_count(args.dir, args.split_file)}")
    return 0


def run_preview(args: argparse.Namespace) -> int:
    from edgedepth.data.folder import FolderDataset
    from edgedepth.data.preview import preview_grid

    dataset = FolderDataset(args.dir, domain=args.domain)
    samples = [dataset[i] for i in range(min(args.n, len(dataset)))]
    if not samples:
        from edgedepth.errors import DataError

        raise DataError(f"{args.dir} has no samples to preview", fix="write some with `edgedepth data synth`")
    preview_grid(samples, args.out)
    print(f"wrote {args.out}")
    return 0
