"""INT8 calibration: where the images come from, and how each activation's range is chosen.

Ranges are symmetric (``amax``; the INT8 scale is amax / 127, zero point 0) because TensorRT's
explicit quantization accepts only symmetric activations, and the same Q/DQ file must run there.

Observers (one per activation tensor), all fed |x|:
- ``minmax``: the largest |x| seen. Exact for the calibration set, sensitive to single outliers.
- ``entropy``: TensorRT's calibrator: a 2048-bin histogram of |x|; the threshold (>= 128 bins)
  whose 128-level quantised distribution has the smallest KL divergence from the clipped one.
  The first bin is given its neighbour's count first, as NVIDIA's reference implementation does:
  after a ReLU half of the values or more are exact zeros, and that spike, not the shape of the
  nonzero values, would otherwise decide the threshold (on the demo network it clipped 7-14 % of
  the values of some tensors at 0.12-0.2x their maximum, and AbsRel rose 8 %).
- ``percentile``: the given percentile of |x| (99.99 by default).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from edgedepth.errors import ExportError

METHODS = ("minmax", "entropy", "percentile")
HIST_BINS = 2048
QUANT_LEVELS = 128  # positive int8 levels


class MinMaxObserver:
    """amax = max |x| over every batch observed."""

    def __init__(self) -> None:
        self.max = 0.0

    def observe(self, x: np.ndarray) -> None:
        if x.size:
            self.max = max(self.max, float(np.abs(x).max()))

    def amax(self) -> float:
        return self.max


class HistogramObserver:
    """A histogram of |x| over [0, range); the range doubles (merging bin pairs, exactly) as needed."""

    def __init__(self, bins: int = HIST_BINS) -> None:
        self.bins = bins
        self.hist = np.zeros(bins, dtype=np.float64)
        self.range = 0.0

    def observe(self, x: np.ndarray) -> None:
        a = np.abs(x.astype(np.float32, copy=False)).ravel()
        if not a.size:
            return
        top = float(a.max())
        if self.range == 0.0:
            self.range = top * 1.0001 if top > 0 else 1e-8
        while top >= self.range:
            self.hist = np.concatenate([self.hist.reshape(-1, 2).sum(1), np.zeros(self.bins // 2)])
            self.range *= 2.0
        idx = np.minimum((a * (self.bins / self.range)).astype(np.int64), self.bins - 1)
        self.hist += np.bincount(idx, minlength=self.bins)

    @property
    def bin_width(self) -> float:
        return self.range / self.bins


class PercentileObserver(HistogramObserver):
    """amax = the ``percentile`` of |x| (upper edge of the bin where the CDF crosses it)."""

    def __init__(self, percentile: float = 99.99, bins: int = HIST_BINS) -> None:
        if not 0.0 < percentile <= 100.0:
            raise ExportError(f"calibration percentile {percentile} is outside (0, 100]", fix="pass e.g. 99.99")
        super().__init__(bins)
        self.percentile = percentile

    def amax(self) -> float:
        total = self.hist.sum()
        if total == 0:
            return 0.0
        cdf = np.cumsum(self.hist) / total
        idx = int(np.searchsorted(cdf, self.percentile / 100.0))
        return (min(idx, self.bins - 1) + 1) * self.bin_width


class EntropyObserver(HistogramObserver):
    """amax minimising KL(P || Q) between the clipped histogram P and its 128-level quantisation Q."""

    def amax(self) -> float:
        hist = self.hist.copy()
        hist[0] = hist[1]  # the zeros a ReLU makes (see the module docstring)
        if hist.sum() == 0:
            return 0.0
        nonzero = np.nonzero(hist)[0]
        last = int(nonzero[-1]) + 1
        if last <= QUANT_LEVELS:  # everything fits in 128 bins: no clipping can help
            return last * self.bin_width
        best_i, best_kl = last, np.inf
        # TensorRT tries every bin; a stride keeps it to <= 512 candidates (a 0.1 % step of the range).
        for i in range(QUANT_LEVELS, last + 1, max(1, (last - QUANT_LEVELS) // 512)):
            kl = _kl_for_threshold(hist, i)
            if kl < best_kl:
                best_i, best_kl = i, kl
        return (best_i + 0.5) * self.bin_width


def _kl_for_threshold(hist: np.ndarray, i: int) -> float:
    """KL divergence of TensorRT's entropy calibration for a threshold at bin ``i``."""
    p = hist[:i].copy()
    p[i - 1] += hist[i:].sum()  # outliers are clipped into the last bin
    # Quantise hist[:i] into 128 levels; each level's mass is spread evenly over its non-empty bins.
    src = hist[:i]
    starts = np.linspace(0, i, QUANT_LEVELS + 1).astype(np.int64)[:-1]
    lengths = np.diff(np.append(starts, i))
    mass = np.add.reduceat(src, starts)
    filled = np.add.reduceat((src > 0).astype(np.float64), starts)
    q = np.repeat(mass / np.maximum(filled, 1.0), lengths) * (src > 0)
    mask = p > 0
    pn = p[mask] / p.sum()
    qn = np.maximum(q[mask] / max(q.sum(), 1e-12), 1e-12)
    return float(np.sum(pn * np.log(pn / qn)))


def make_observer(method: str, *, percentile: float = 99.99):
    if method == "minmax":
        return MinMaxObserver()
    if method == "entropy":
        return EntropyObserver()
    if method == "percentile":
        return PercentileObserver(percentile)
    raise ExportError(f"unknown calibration method '{method}'", fix=f"pass one of: {', '.join(METHODS)}")


def activation_ranges(model, images: np.ndarray, *, method: str = "minmax", percentile: float = 99.99, threads: int | None = None) -> dict[str, float]:
    """Symmetric range ``amax`` of every float activation of ``model`` over ``images`` [N,3,H,W].

    The graph is copied with every intermediate float tensor added as an output, run once per
    image with ONNX Runtime, and each tensor is fed to its own observer.
    """
    import onnx
    from onnx import TensorProto
    from tqdm import tqdm

    from edgedepth.export.verify import ort_session

    make_observer(method, percentile=percentile)  # validate before the expensive part
    augmented = onnx.shape_inference.infer_shapes(model)
    g = augmented.graph
    existing = {o.name for o in g.output}
    initializers = {i.name for i in g.initializer}
    for vi in g.value_info:
        if vi.type.tensor_type.elem_type == TensorProto.FLOAT and vi.name not in existing and vi.name not in initializers:
            g.output.append(vi)
    session = ort_session(augmented, threads=threads)
    names = [o.name for o in session.get_outputs()] + [i.name for i in session.get_inputs()]
    observers = {name: make_observer(method, percentile=percentile) for name in names}
    inp = session.get_inputs()[0]
    fixed = inp.shape[0] if isinstance(inp.shape[0], int) else 1
    disable = os.environ.get("EDGEDEPTH_NO_PROGRESS") == "1"
    for start in tqdm(range(0, len(images), fixed), desc=f"calibrating ({method})", disable=disable):
        batch = np.ascontiguousarray(images[start : start + fixed], dtype=np.float32)
        if len(batch) < fixed:
            batch = np.concatenate([batch, np.repeat(batch[-1:], fixed - len(batch), axis=0)])
        outs = session.run(None, {inp.name: batch})
        for name, value in zip(names, [*outs, batch]):
            observers[name].observe(value)
    return {name: obs.amax() for name, obs in observers.items()}


def as_image_array(images) -> np.ndarray:
    """Stack calibration images (an array [N,3,H,W] or an iterable of [3,H,W] / [B,3,H,W]) into float32."""
    if isinstance(images, np.ndarray):
        arr = images
    else:
        chunks = [np.asarray(x.numpy() if hasattr(x, "numpy") else x, dtype=np.float32) for x in (images or [])]
        chunks = [c[None] if c.ndim == 3 else c for c in chunks]
        arr = np.concatenate(chunks) if chunks else np.zeros((0, 3, 1, 1), np.float32)
    if arr.ndim != 4 or arr.shape[1] != 3 or len(arr) == 0:
        raise ExportError(
            f"calibration images have shape {tuple(arr.shape)}; expected at least one [3,H,W] RGB image",
            fix="pass --calib DIR (a dataset or image folder) or --calib synthetic",
        )
    return np.ascontiguousarray(arr, dtype=np.float32)


def read_image_folder(folder: Path, *, size: tuple[int, int], n: int) -> np.ndarray:
    """Up to ``n`` images spread evenly over ``folder`` (sorted by name), scaled to cover ``size`` and
    centre-cropped, as float32 [N,3,H,W] in [0,1]. Needs no torch."""
    from edgedepth.imaging import list_images, read_rgb, resize_cover

    files = list_images(folder)
    picked = [files[int(i)] for i in np.unique(np.linspace(0, len(files) - 1, min(n, len(files))).round())]
    images = []
    for path in picked:
        try:
            rgb = read_rgb(path)
        except OSError as e:
            raise ExportError(f"calibration image '{path}' cannot be read", why=str(e), fix="remove or replace it") from None
        images.append(resize_cover(rgb, size).transpose(2, 0, 1))
    return np.ascontiguousarray(np.stack(images), dtype=np.float32) / np.float32(255.0)


def load_calibration_set(source: str | Path, *, size: tuple[int, int], n: int = 32, seed: int = 0, split: str = "train") -> tuple[np.ndarray, np.ndarray | None]:
    """Images [N,3,H,W] and, when the dataset has it, ground-truth depth [N,1,H,W] (else None).

    ``source`` is a folder of images (read with numpy and PIL: no torch needed), ``"synthetic"`` (the
    synthetic world's target domain, the deployment domain), or a dataset name or folder understood
    by ``edgedepth.data.build_dataset`` (those need torch).
    """
    from edgedepth.imaging import list_images

    source = str(source)
    looks_like_path = "/" in source or os.sep in source or Path(source).exists()
    if source != "synthetic" and looks_like_path and not Path(source).is_dir():
        raise ExportError(f"calibration folder '{source}' does not exist", fix="pass --calib DIR with images (e.g. from `edgedepth data synth`) or --calib synthetic")
    if source != "synthetic" and Path(source).is_dir() and list_images(source):
        return read_image_folder(Path(source), size=size, n=n), None
    try:
        from edgedepth.data import SyntheticWorld, build_dataset
    except ImportError as e:
        raise ExportError(f"calibration data '{source}' is a dataset, and reading datasets needs torch", why=str(e),
                          fix="pass --calib DIR with the images themselves (png/jpg), or install torch") from None
    try:
        if source == "synthetic":
            dataset = SyntheticWorld(domain="target", size=size, length=n, seed=seed, views="stereo")
        else:
            dataset = build_dataset(source, split=split, size=size, length=n, seed=seed)
    except ExportError:
        raise
    except Exception as e:  # DataError and friends: say it is the calibration set that failed
        msg = e.message() if hasattr(e, "message") else str(e)
        raise ExportError(f"cannot load calibration data from '{source}'", why=msg.splitlines()[0], fix="pass --calib synthetic or a folder written by `edgedepth data synth`") from None
    count = min(n, len(dataset))
    if count == 0:
        raise ExportError(f"calibration data '{source}' holds no images", fix="pass --calib synthetic or a folder with images")
    images, depths = [], []
    for i in range(count):
        sample = dataset[i]
        images.append(np.asarray(_field(sample, "image"), dtype=np.float32))
        depth = _field(sample, "depth")
        depths.append(None if depth is None else np.asarray(depth, dtype=np.float32))
    gt = np.stack(depths) if all(d is not None for d in depths) else None
    return np.stack(images), gt


def _field(sample, name: str):
    value = sample[name] if isinstance(sample, dict) else getattr(sample, name, None)
    return value.numpy() if hasattr(value, "numpy") else value

