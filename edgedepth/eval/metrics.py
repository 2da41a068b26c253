"""Depth and segmentation metrics: the Eigen protocol (monodepth2 conventions), mIoU, and region masks.

Everything here works on numpy float64 arrays; torch tensors are accepted and converted, so a
metric computed from a tensor and from the same numbers in numpy is identical.
"""
from __future__ import annotations

from typing import Any, Sequence, Union

import numpy as np

from edgedepth.errors import ConfigError, DataError

METRIC_KEYS = ("abs_rel", "sq_rel", "rmse", "rmse_log", "a1", "a2", "a3")

# Crop boxes as (top, bottom, left, right) fractions of the image, as in monodepth2's evaluate_depth.py.
CROPS = {
    "garg": (0.40810811, 0.99189189, 0.03594771, 0.96405229),
    "eigen": (0.3324324, 0.91351351, 0.0359477, 0.96405229),
}

# Distance bins (metres, [low, high)) for the error-by-distance report.
DEFAULT_BINS: tuple[tuple[float, float], ...] = ((0.0, 10.0), (10.0, 20.0), (20.0, 40.0), (40.0, 80.0))

CITYSCAPES_CLASSES = (
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign", "vegetation",
    "terrain", "sky", "person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle",
)  # fmt: skip

Crop = Union[None, str, Sequence[float]]


def to_numpy(x: Any) -> np.ndarray:
    """A float64 numpy copy of a numpy array, torch tensor (any device) or nested list."""
    if hasattr(x, "detach"):  # torch.Tensor, without importing torch here
        x = x.detach().cpu().double().numpy()
    return np.asarray(x, dtype=np.float64)


def check_depth_range(min_depth: float, max_depth: float) -> None:
    if not (min_depth > 0 and max_depth > min_depth):
        raise ConfigError(
            f"depth range ({min_depth}, {max_depth}) is invalid",
            why="metrics take log(depth), so the range must be positive and non-empty",
            fix="use e.g. min_depth=1e-3 and max_depth=80 (KITTI) or 50 (the 50 m cap)",
        )


def crop_mask(height: int, width: int, crop: Crop) -> np.ndarray:
    """[H,W] bool mask of the evaluated region.

    ``crop`` is None (whole image), "garg" or "eigen" (monodepth2 fractions), or a
    (top, bottom, left, right) box: fractions of H/W when any value is a float, pixel indices
    (bottom/right exclusive) when all are ints. Fractions become pixels by truncation, as in
    monodepth2 (so Garg on KITTI's 375x1242 is rows 153:371, cols 44:1197).
    """
    mask = np.zeros((height, width), dtype=bool)
    if crop is None:
        mask[:] = True
        return mask
    if isinstance(crop, str):
        if crop.lower() not in CROPS:
            raise ConfigError(f"unknown crop '{crop}'", fix=f"use one of: {', '.join(CROPS)}, or a (top, bottom, left, right) box")
        crop = CROPS[crop.lower()]
    box = tuple(crop)
    if len(box) != 4:
        raise ConfigError(f"crop {crop!r} must have 4 values", fix="pass (top, bottom, left, right)")
    if all(isinstance(v, (int, np.integer)) for v in box):
        top, bottom, left, right = (int(v) for v in box)
    else:
        if not all(0.0 <= float(v) <= 1.0 for v in box):
            raise ConfigError(f"crop fractions {crop!r} must lie in [0, 1]", fix="pass fractions of the image size, or ints for pixels")
        top, bottom = int(box[0] * height), int(box[1] * height)
        left, right = int(box[2] * width), int(box[3] * width)
    if not (0 <= top < bottom <= height and 0 <= left < right <= width):
        raise ConfigError(
            f"crop {crop!r} selects no pixels of a {height}x{width} image",
            fix="pass (top, bottom, left, right) with top < bottom <= H and left < right <= W",
        )
    mask[top:bottom, left:right] = True
    return mask


def valid_depth_mask(gt: np.ndarray, *, min_depth: float, max_depth: float, crop: Crop = None) -> np.ndarray:
    """Pixels that count: gt strictly inside (min_depth, max_depth) and inside the crop. Shape of ``gt``."""
    mask = (gt > min_depth) & (gt < max_depth)
    return mask & crop_mask(gt.shape[-2], gt.shape[-1], crop)


def scale_and_clamp(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray, *, min_depth: float, max_depth: float,
                    median_scaling: bool) -> tuple[np.ndarray, float]:
    """One image [H,W]: optionally scale ``pred`` by median(gt)/median(pred) over ``valid``, then clamp.

    Returns the prediction (same shape) and the ratio used (1.0 without median scaling).
    Clamping after scaling is the monodepth2 order.
    """
    ratio = 1.0
    if median_scaling:
        med_pred = float(np.median(pred[valid]))
        ratio = float(np.median(gt[valid])) / max(med_pred, 1e-12)
        pred = pred * ratio
    return np.clip(pred, min_depth, max_depth), ratio


def error_sums(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Sums that the metrics are built from, over 1-D arrays of valid pixels.

    Returns float64 [8]: count, sum abs_rel, sum sq_rel, sum squared error, sum squared log error,
    count thresh<1.25, <1.25^2, <1.25^3. Sums add across images, so pooled metrics are exact.
    """
    thresh = np.maximum(gt / pred, pred / gt)
    diff = gt - pred
    log_diff = np.log(gt) - np.log(pred)
    return np.array([
        gt.size,
        np.sum(np.abs(diff) / gt),
        np.sum(diff**2 / gt),
        np.sum(diff**2),
        np.sum(log_diff**2),
        np.sum(thresh < 1.25),
        np.sum(thresh < 1.25**2),
        np.sum(thresh < 1.25**3),
    ], dtype=np.float64)  # fmt: skip


def metrics_from_sums(sums: np.ndarray) -> dict[str, float]:
    """The seven Eigen metrics from :func:`error_sums` (or their sum over images for pooled metrics)."""
    n = sums[0]
    if n <= 0:
        raise DataError("no valid depth pixels to compute metrics on")
    return {
        "abs_rel": float(sums[1] / n),
        "sq_rel": float(sums[2] / n),
        "rmse": float(np.sqrt(sums[3] / n)),
        "rmse_log": float(np.sqrt(sums[4] / n)),
        "a1": float(sums[5] / n),
        "a2": float(sums[6] / n),
        "a3": float(sums[7] / n),
    }


def as_images(pred: Any, gt: Any) -> tuple[np.ndarray, np.ndarray]:
    """Both inputs as float64 [N,H,W]; any leading shape is flattened into N. Shapes must describe the same images."""
    pred, gt = to_numpy(pred), to_numpy(gt)
    if gt.ndim < 2 or pred.ndim < 2:
        raise DataError(f"depth maps must be at least 2-D [H,W]; got pred {pred.shape} and gt {gt.shape}")
    if pred.shape[-2:] != gt.shape[-2:] or pred.size != gt.size:
        raise DataError(
            f"prediction shape {tuple(pred.shape)} does not match ground-truth shape {tuple(gt.shape)}",
            fix="resize the prediction to the ground-truth resolution before computing metrics",
        )
    h, w = gt.shape[-2:]
    return pred.reshape(-1, h, w), gt.reshape(-1, h, w)


def depth_metrics(pred: Any, gt: Any, *, min_depth: float = 1e-3, max_depth: float = 80.0, crop: Crop = None,
                  median_scaling: bool = False) -> dict[str, float]:
    """Eigen et al. depth metrics with the monodepth2 protocol.

    pred, gt: depth in metres, numpy or torch, same images: [H,W], [1,H,W], [B,1,H,W], ...
      (any leading dims are treated as a batch of images).
    Pixels with gt outside (min_depth, max_depth) or outside ``crop`` are ignored. With
    ``median_scaling`` each image's prediction is multiplied by median(gt)/median(pred) over its
    valid pixels; the prediction is then clamped to [min_depth, max_depth].

    For a batch the metrics are computed per image and then averaged over the images that have
    valid pixels (monodepth2 protocol: each image weighs the same regardless of its pixel count).

    Returns {"abs_rel", "sq_rel", "rmse", "rmse_log", "a1", "a2", "a3"} as floats.
    Raises DataError when shapes differ or no valid pixel exists; ConfigError for a bad range/crop.
    """
    check_depth_range(min_depth, max_depth)
    pred, gt = as_images(pred, gt)
    valid = valid_depth_mask(gt, min_depth=min_depth, max_depth=max_depth, crop=crop)
    per_image = []
    for p, g, v in zip(pred, gt, valid):
        if not v.any():
            continue
        p, _ = scale_and_clamp(p, g, v, min_depth=min_depth, max_depth=max_depth, median_scaling=median_scaling)
        per_image.append(metrics_from_sums(error_sums(p[v], g[v])))
    if not per_image:
        raise DataError(
            f"no ground-truth pixel lies inside ({min_depth}, {max_depth}) m within crop {crop!r}",
            why="every gt value is 0 (unknown) or out of range, so there is nothing to compare against",
            fix="check that the dataset has depth labels, and the --min-depth/--max-depth/--crop settings",
        )
    return {k: float(np.mean([m[k] for m in per_image])) for k in METRIC_KEYS}


# ---------------------------------------------------------------- regions


def dilate(mask: np.ndarray, k: int) -> np.ndarray:
    """[H,W] bool mask grown by ``k`` px (square neighbourhood: Chebyshev distance <= k)."""
    out = mask.copy()
    h, w = mask.shape
    for axis, size in ((0, h), (1, w)):  # separable: rows then columns
        grown = out.copy()
        for s in range(1, min(k, size - 1) + 1):
            if axis == 0:
                grown[s:] |= out[:-s]
                grown[:-s] |= out[s:]
            else:
                grown[:, s:] |= out[:, :-s]
                grown[:, :-s] |= out[:, s:]
        out = grown
    return out


def _changes(different_down: np.ndarray, different_right: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Mark both pixels of every vertical/horizontal neighbour pair flagged as different."""
    edge = np.zeros(shape, dtype=bool)
    edge[:-1] |= different_down
    edge[1:] |= different_down
    edge[:, :-1] |= different_right
    edge[:, 1:] |= different_right
    return edge


def boundary_mask(*, semantics: Any = None, depth: Any = None, k: int = 2, depth_jump: float = 0.1,
                  ignore_index: int = 255) -> np.ndarray:
    """[H,W] bool: pixels within ``k`` px of an object boundary of the ground truth.

    A boundary is the union of (a) a semantic label change between two 4-neighbours that both
    have a label (``ignore_index`` pixels never form a boundary), and (b) a depth discontinuity:
    two 4-neighbours with known gt depth (> 0) whose relative difference |d1 - d2| / min(d1, d2)
    exceeds ``depth_jump``. Either input may be None; both None gives an all-False mask.
    """
    if k < 0:
        raise ConfigError(f"boundary width k={k} must be >= 0")
    ref = semantics if semantics is not None else depth
    if ref is None:
        raise ConfigError("boundary_mask needs semantics or depth")
    shape = tuple(np.shape(ref)[-2:])
    edge = np.zeros(shape, dtype=bool)
    if semantics is not None:
        lab = np.asarray(to_numpy(semantics), dtype=np.int64).reshape(shape)
        known = lab != ignore_index
        down = (lab[:-1] != lab[1:]) & known[:-1] & known[1:]
        right = (lab[:, :-1] != lab[:, 1:]) & known[:, :-1] & known[:, 1:]
        edge |= _changes(down, right, shape)
    if depth is not None:
        d = to_numpy(depth).reshape(shape)
        known = d > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            down = np.abs(d[:-1] - d[1:]) / np.minimum(d[:-1], d[1:]) > depth_jump
            right = np.abs(d[:, :-1] - d[:, 1:]) / np.minimum(d[:, :-1], d[:, 1:]) > depth_jump
        edge |= _changes(down & known[:-1] & known[1:], right & known[:, :-1] & known[:, 1:], shape)
    return dilate(edge, k)


def bin_name(low: float, high: float) -> str:
    return f"{low:g}-{high:g}"


# ---------------------------------------------------------------- segmentation


def confusion_matrix(pred: Any, gt: Any, *, num_classes: int = 19, ignore_index: int = 255) -> np.ndarray:
    """[C,C] int64 counts, rows = ground-truth class, columns = predicted class; gt == ignore_index skipped.

    pred, gt: integer label maps of the same shape (numpy or torch). Labels in gt other than
    0..C-1 and ``ignore_index`` are an error, as are predicted labels outside 0..C-1.
    """
    pred = np.asarray(pred.detach().cpu().numpy() if hasattr(pred, "detach") else pred).astype(np.int64).ravel()
    gt = np.asarray(gt.detach().cpu().numpy() if hasattr(gt, "detach") else gt).astype(np.int64).ravel()
    if pred.shape != gt.shape:
        raise DataError(f"label maps differ in size: prediction {pred.size} px, ground truth {gt.size} px")
    keep = gt != ignore_index
    pred, gt = pred[keep], gt[keep]
    for name, lab in (("ground-truth", gt), ("predicted", pred)):
        if lab.size and (lab.min() < 0 or lab.max() >= num_classes):
            raise DataError(
                f"{name} labels range {lab.min()}..{lab.max()} lies outside 0..{num_classes - 1}",
                fix=f"labels must be trainIds 0..{num_classes - 1} (ignore = {ignore_index})",
            )
    return np.bincount(gt * num_classes + pred, minlength=num_classes**2).reshape(num_classes, num_classes)


def miou_from_confusion(conf: np.ndarray, class_names: Sequence[str] | None = None) -> tuple[float | None, dict[str, float | None]]:
    """Mean IoU over the classes present in the ground truth or the prediction.

    IoU_c = TP / (TP + FP + FN). A class absent from both (union 0) has IoU None and is left out
    of the mean. Returns (mIoU or None when no class is present, {class name: IoU or None}).
    """
    conf = np.asarray(conf, dtype=np.float64)
    n = conf.shape[0]
    if class_names is None:
        class_names = CITYSCAPES_CLASSES if n == len(CITYSCAPES_CLASSES) else [str(i) for i in range(n)]
    tp = np.diag(conf)
    union = conf.sum(0) + conf.sum(1) - tp
    per_class = {name: (float(tp[i] / union[i]) if union[i] > 0 else None) for i, name in enumerate(class_names)}
    present = [v for v in per_class.values() if v is not None]
    return (float(np.mean(present)) if present else None), per_class
