"""Why domain adaptation got worse below 10 m: the measurements behind the near-range fix (issue 19).

    python benchmarks/near_range_probe.py [--checkpoint source_only=runs/.../model.pt --checkpoint adapted=...]

Three probes on held-out synthetic target images (and source images for comparison), 64x192, stereo view:

1. **Photometric landscape** (data only): the cycle loss's per-pixel error with the ground-truth depth scaled by
   s for near (< 10 m) pixels of each class. Is the minimum at the true depth (s = 1)?
2. **Which way the gradient points** (data only): near objects (buildings, poles, cars) moved to s x their true
   depth while everything else keeps it; in how many images does the cycle loss's gradient on those pixels point
   back to the truth, at full resolution and over the 3-level image pyramid (``loss.cycle_scales=3``)?
3. **Where the errors are** (trained checkpoints): near-range AbsRel and median prediction / truth by class, by
   image column (the stereo view does not see the left border) and by whether the view sees the pixel.

Writes OUT.json and OUT.md (default benchmarks/results/near_range_probe).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

NEAR = 10.0
CLASSES = {"road": [0], "sidewalk": [1], "building": [2], "pole": [5], "vegetation/terrain": [8, 9], "car": [13]}
OBJECTS = [2, 5, 13]  # standing objects: building, pole, car
SCALES = [0.6, 0.8, 0.9, 1.0, 1.1, 1.25, 1.5, 1.8]
PERTURB = [0.7, 1.3, 1.6]


def batch(domain: str, n: int, size=(64, 192), seed: int = 10_000) -> dict:
    from edgedepth.data import SyntheticWorld

    world = SyntheticWorld(domain=domain, size=size, length=n, seed=seed, views="stereo")
    samples = [world[i] for i in range(n)]
    stack = lambda f: torch.stack([f(s) for s in samples])  # noqa: E731
    return {"image": stack(lambda s: s.image), "depth": stack(lambda s: s.depth), "K": stack(lambda s: s.K),
            "semantics": stack(lambda s: s.semantics)[:, None], "view": stack(lambda s: s.views[0].image),
            "T": stack(lambda s: s.views[0].T)}


def landscape(b: dict) -> dict:
    """class -> photometric error at s x the true depth, over near pixels the view sees."""
    from edgedepth import kernels

    sums = {c: np.zeros(len(SCALES)) for c in CLASSES}
    counts = {c: np.zeros(len(SCALES)) for c in CLASSES}
    gt = b["depth"]
    for i, s in enumerate(SCALES):
        err, valid = kernels.photometric_error(b["image"], b["view"], (gt * s).clamp(min=0.1), b["T"], b["K"])
        for c, ids in CLASSES.items():
            m = (gt > 0) & (gt < NEAR) & (valid > 0) & torch.isin(b["semantics"], torch.tensor(ids))
            sums[c][i], counts[c][i] = err[m].sum().item(), m.sum().item()
    return {c: {"error_at_scale": dict(zip(map(str, SCALES), (sums[c] / np.maximum(counts[c], 1)).round(5).tolist())),
                "argmin_scale": SCALES[int(np.argmin(sums[c] / np.maximum(counts[c], 1)))]} for c in CLASSES}


def _neighbour_pairs(t: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(t at p, t at q) for every horizontal and vertical 4-neighbour pair (p, q), in both orders."""
    pairs = [(t[..., :, :-1], t[..., :, 1:]), (t[..., :-1, :], t[..., 1:, :])]
    return pairs + [(q, p) for p, q in pairs]


def visibility(b: dict) -> dict:
    """class -> how far near pixels of that class stand out from the farther surface next to them.

    ``edge``: mean colour step (mean |RGB difference|) from a near pixel of the class to a 4-neighbour of another
    class at least 1.5x farther (or sky): where a depth network must put the object's outline. ``inside``: the same
    step between two neighbouring pixels of the class (its texture and the sensor noise). ``contrast``: edge /
    inside, how clearly the image shows the outline over what the surface does anyway."""
    depth, sem = b["depth"][:, 0], b["semantics"][:, 0]
    steps = [(p - q).abs().mean(1) for p, q in _neighbour_pairs(b["image"])]
    out = {}
    for c, ids in CLASSES.items():
        cls = torch.isin(sem, torch.tensor(ids))
        edge_sum = inside_sum = edge_n = inside_n = 0.0
        for step, (dp, dq), (cp, cq) in zip(steps, _neighbour_pairs(depth), _neighbour_pairs(cls)):
            near = cp & (dp > 0) & (dp < NEAR)
            edge, inside = near & ~cq & ((dq > 1.5 * dp) | (dq <= 0)), near & cq
            edge_sum, edge_n = edge_sum + step[edge].sum().item(), edge_n + edge.sum().item()
            inside_sum, inside_n = inside_sum + step[inside].sum().item(), inside_n + inside.sum().item()
        if edge_n and inside_n:
            e, i = edge_sum / edge_n, inside_sum / inside_n
            out[c] = {"edge": round(e, 5), "inside": round(i, 5), "contrast": round(e / max(i, 1e-6), 3), "edge_pixels": int(edge_n)}
    return out


def gradient_direction(b: dict) -> dict:
    """scale -> loss -> share of images whose near-object gradient points back to the true depth."""
    from edgedepth.losses.cycle import cycle_loss, pyramid_cycle_loss

    gt = torch.where(b["depth"] > 0, b["depth"], torch.full_like(b["depth"], 80.0))
    objects = (b["depth"] > 0) & (b["depth"] < NEAR) & torch.isin(b["semantics"], torch.tensor(OBJECTS))
    views, poses = b["view"][:, None], b["T"][:, None]
    losses = {"full resolution": lambda d: cycle_loss(b["image"], views, poses, d, b["K"]),
              "pyramid, 3 levels": lambda d: pyramid_cycle_loss(b["image"], views, poses, d, b["K"], scales=3)}
    out = {}
    for s in PERTURB:
        out[str(s)] = {}
        for name, loss in losses.items():
            log_depth = torch.where(objects, gt * s, gt).log().requires_grad_(True)
            loss(log_depth.exp()).backward()
            pulls = [log_depth.grad[i][objects[i]].sum().item() for i in range(len(gt)) if objects[i].any()]
            toward = [(g > 0) if s > 1 else (g < 0) for g in pulls]  # d loss / d log depth > 0: the loss falls nearer
            out[str(s)][name] = {"toward_truth": float(np.mean(toward)), "images": len(toward)}
    return out


def errors_by_part(checkpoint: str, b: dict) -> dict:
    """Near-range AbsRel (share of near pixels, median prediction / truth) by class, image column and visibility."""
    from edgedepth import kernels
    from edgedepth.checkpoint import load_depth_net

    net, _ = load_depth_net(checkpoint)
    with torch.no_grad():
        pred = net.predict_depth(b["image"])
    gt = b["depth"]
    _, valid = kernels.photometric_error(b["image"], b["view"], gt.clamp(min=0.1), b["T"], b["K"])
    _, valid_pred = kernels.photometric_error(b["image"], b["view"], pred, b["T"], b["K"])
    near = (gt > 0) & (gt < NEAR)
    objects = torch.isin(b["semantics"], torch.tensor(OBJECTS))
    col = torch.arange(gt.shape[-1]).view(1, 1, 1, -1).expand_as(gt)
    w = gt.shape[-1]
    parts = {"all": near, "standing objects (building, pole, car)": near & objects, "ground and the rest": near & ~objects,
             "seen by the view": near & (valid > 0), "not seen by the view": near & (valid == 0),
             # the view's blind border at the true depth, but inside the view at the predicted one: a pixel can
             # escape the blind border (and get a photometric error) by being predicted farther
             "not seen at the truth, seen at the prediction": near & (valid == 0) & (valid_pred > 0),
             "left 20 %": near & (col < 0.2 * w), "centre": near & (col >= 0.2 * w) & (col <= 0.8 * w), "right 20 %": near & (col > 0.8 * w)}
    parts |= {c: near & torch.isin(b["semantics"], torch.tensor(ids)) for c, ids in CLASSES.items()}
    rel = (pred - gt).abs() / gt.clamp(min=1e-3)
    total = rel[near].sum().item()
    return {name: {"abs_rel": rel[m].mean().item(), "share": m.float().sum().item() / near.float().sum().item(),
                   "error_share": rel[m].sum().item() / total,
                   "median_pred_over_gt": (pred[m] / gt[m]).median().item()} for name, m in parts.items() if m.any()}


def markdown(r: dict, command: str) -> str:
    from edgedepth.train.data import TEST_SEED_OFFSET

    lines = ["# Near-range probe: what the cycle loss does below 10 m", "",
             f"{r['images']} synthetic images per domain of seed {r.get('world_seed', 10_000)} (an ablation run of seed S trains on "
             f"seed S's images and is tested on seed S + {TEST_SEED_OFFSET:,}'s), 64×192, the stereo view. Command: `{command}`", "",
             "## 1. Photometric error at s × the true depth (near pixels the view sees)", "",
             "| domain | class | " + " | ".join(f"s={s}" for s in SCALES) + " | minimum at |", "|---|---|" + "---|" * len(SCALES) + "---|"]
    for domain, classes in r["landscape"].items():
        for c, v in classes.items():
            lines.append(f"| {domain} | {c} | " + " | ".join(f"{v['error_at_scale'][str(s)]:.4f}" for s in SCALES) + f" | {v['argmin_scale']} |")
    lines += ["", "## 2. Near objects moved to s × their depth: share of target images whose gradient points back", "",
              "| s | " + " | ".join(next(iter(r["gradient"].values()))) + " |", "|---|" + "---|" * len(next(iter(r["gradient"].values())))]
    for s, by_loss in r["gradient"].items():
        lines.append(f"| {s} | " + " | ".join(f"{v['toward_truth']:.0%} of {v['images']}" for v in by_loss.values()) + " |")
    if r.get("visibility"):
        lines += ["", "## 3. How clearly the images show near objects' outlines", "",
                  "Mean colour step (mean |RGB difference| of 4-neighbours) from a near pixel to a neighbour of another class at "
                  "least 1.5× farther (the outline a depth network must find), the step between neighbours inside the class "
                  "(texture and sensor noise), and their ratio.", "",
                  "| domain | class | step at the outline | step inside | contrast | outline pixels |", "|---|---|---|---|---|---|"]
        for domain, classes in r["visibility"].items():
            lines += [f"| {domain} | {c} | {v['edge']:.4f} | {v['inside']:.4f} | {v['contrast']:.1f} | {v['edge_pixels']} |"
                      for c, v in classes.items()]
        lines += [""] + visibility_findings(r["visibility"])
    checkpoints = r.get("checkpoints", {})
    if checkpoints:
        names = list(checkpoints)
        first = checkpoints[names[0]]
        lines += ["", "## 4. Trained models: near-range (< 10 m) target errors", "",
                  "AbsRel / share of the near-range error / median prediction ÷ truth, per part of the near pixels.", "",
                  "| part | share of near pixels | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
        for part in first:
            cells = [f"{v['abs_rel']:.3f} / {v['error_share']:.0%} / {v['median_pred_over_gt']:.2f}" if (v := checkpoints[n].get(part))
                     else "" for n in names]
            lines.append(f"| {part} | {first[part]['share']:.0%} | " + " | ".join(cells) + " |")
        lines += ["", "### What the numbers say (generated)", ""] + findings(checkpoints)
    return "\n".join(lines + [""])


def visibility_findings(vis: dict) -> list[str]:
    """A line per class seen in both domains: how much fainter its outline is on the target."""
    src, tgt = vis.get("source", {}), vis.get("target", {})
    return [f"- {c}: the target's outline step is {tgt[c]['edge']:.3f} against {src[c]['edge']:.3f} on the source "
            f"({src[c]['edge'] / max(tgt[c]['edge'], 1e-6):.1f}× fainter), {tgt[c]['contrast']:.1f}× its inside step against "
            f"{src[c]['contrast']:.1f}×." for c in CLASSES if c in src and c in tgt]


def findings(checkpoints: dict) -> list[str]:
    """One line per trained model: where its near-range error sits, against the first model listed."""
    obj, rest = "standing objects (building, pole, car)", "ground and the rest"
    names = list(checkpoints)
    ref = checkpoints[names[0]]
    lines = []
    for n in names:
        c = checkpoints[n]
        if obj not in c or rest not in c:
            continue
        line = (f"- {n}: near-range AbsRel {c['all']['abs_rel']:.3f}; standing objects are {c[obj]['share']:.0%} of the near "
                f"pixels and {c[obj]['error_share']:.0%} of its error (AbsRel {c[obj]['abs_rel']:.3f}, predicted "
                f"{c[obj]['median_pred_over_gt']:.2f}x their depth), the ground and the rest {c[rest]['abs_rel']:.3f}")
        if n != names[0] and obj in ref:
            line += (f"; against {names[0]}: objects {c[obj]['abs_rel'] / ref[obj]['abs_rel'] - 1:+.0%}, "
                     f"ground and the rest {c[rest]['abs_rel'] / ref[rest]['abs_rel'] - 1:+.0%}")
        lines.append(line + ".")
    return lines


def main(argv=None) -> int:
    from edgedepth.bench.report import command_line

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=48)
    p.add_argument("--checkpoint", action="append", default=[], metavar="NAME=CKPT", help="a trained model to break down")
    p.add_argument("--world-seed", type=int, default=10_000,
                   help="seed of the synthetic images (default: held out; a run's data.seed: the images it trained on)")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/near_range_probe"))
    args = p.parse_args(argv)
    torch.set_num_threads(2)
    batches = {d: batch(d, args.images, seed=args.world_seed) for d in ("source", "target")}
    result = {"images": args.images, "world_seed": args.world_seed, "landscape": {d: landscape(b) for d, b in batches.items()},
              "gradient": gradient_direction(batches["target"]),
              "visibility": {d: visibility(b) for d, b in batches.items()},
              "checkpoints": {name: errors_by_part(path, batches["target"]) for name, path in (c.split("=", 1) for c in args.checkpoint)}}
    from edgedepth.utils.io import atomic_write_text, write_json

    command = command_line(__file__, argv)
    write_json(args.out.with_suffix(".json"), {**result, "command": command})
    atomic_write_text(args.out.with_suffix(".md"), markdown(result, command))
    print(args.out.with_suffix(".md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
