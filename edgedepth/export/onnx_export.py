"""Export the depth network alone to ONNX: ``image`` [N,3,H,W] RGB in [0,1] -> ``depth`` [N,1,H,W] metres.

ImageNet normalisation and the disparity -> depth conversion live inside ``DepthNet.predict_depth``,
so they are folded into the graph and a runtime only has to scale pixels to [0,1].
The size, depth range and preprocessing go into the ONNX ``metadata_props`` so that
``build-engine`` and the runners never need the checkpoint again.
"""
from __future__ import annotations

import io
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import torch

from edgedepth import __version__
from edgedepth.contract import (
    CHECKPOINT_KEY,
    CHECKPOINT_SHA256_KEY,
    INPUT_NAME,
    OUTPUT_NAME,
    PREPROCESSING,
    file_sha256,
    set_metadata,
)
from edgedepth.errors import ExportError
from edgedepth.utils.io import atomic_write_bytes

Batch = Union[int, str]
MIN_OPSET = 17
# FP32 ONNX Runtime vs PyTorch: max |diff| / depth must stay below this (issue 6: 1e-4 relative).
FP32_REL_TOLERANCE = 1e-4


@dataclass
class ExportReport:
    """What :func:`export_onnx` wrote and how it checked it."""

    path: Path
    opset: int
    size: tuple[int, int]
    batch: Batch
    nodes_before: int
    nodes_after: int
    simplified: bool
    metadata: dict[str, str]
    verification: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def summary(self) -> str:
        v = self.verification
        lines = [
            f"wrote {self.path} (opset {self.opset}, input {INPUT_NAME} "
            f"[{'N' if self.batch == 'dynamic' else self.batch},3,{self.size[0]},{self.size[1]}], "
            f"precision {self.metadata.get('precision', 'fp32')})",
            f"graph: {self.nodes_before} nodes"
            + (f" -> {self.nodes_after} after onnxslim" if self.simplified else " (onnxslim did not help; kept as exported)"),
        ]
        if "max_abs_diff" in v:
            lines.append(
                f"verified: onnx.checker ok, ONNX Runtime vs PyTorch max |diff| {v['max_abs_diff']:.3g} m, "
                f"max |diff|/depth {v['max_rel_diff']:.3g}"
            )
        return "\n".join(lines)


def _check_args(depth_net: torch.nn.Module, size: tuple[int, int], batch: Batch, opset: int) -> None:
    if not hasattr(depth_net, "predict_depth"):
        raise ExportError(f"{type(depth_net).__name__} has no predict_depth(image)", fix="export a DepthNet (build_depth_net or a checkpoint)")
    h, w = size
    if h <= 0 or w <= 0 or h % 32 or w % 32:
        raise ExportError(f"export size {h}x{w} is not a multiple of 32", why="the encoder downsamples 5 times by 2", fix="pass --size with H and W multiples of 32, e.g. 192x640")
    if batch != "dynamic" and (not isinstance(batch, int) or batch < 1):
        raise ExportError(f"batch {batch!r} is not a positive integer or 'dynamic'", fix="pass --batch 1 (or another N) or --batch dynamic")
    if opset < MIN_OPSET:
        raise ExportError(f"opset {opset} is too old", fix=f"pass --opset {MIN_OPSET} or newer")


def _trace_to_onnx(depth_net: torch.nn.Module, size: tuple[int, int], batch: Batch, opset: int):
    import onnx

    from edgedepth.models.depth import DepthPredictor  # forward = predict_depth: one output, "depth"

    n = 1 if batch == "dynamic" else batch
    dummy = torch.rand(n, 3, *size)  # device-ok: export traces the model on the CPU
    dynamic_axes = {INPUT_NAME: {0: "N"}, OUTPUT_NAME: {0: "N"}} if batch == "dynamic" else None
    buf = io.BytesIO()
    # The legacy (TorchScript) exporter: no onnxscript dependency, folds BatchNorm into Conv in eval mode.
    # The TorchScript exporter warns about every strided Slice it cannot fold; onnxslim folds them.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            DepthPredictor(depth_net.eval()),
            (dummy,),
            buf,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            opset_version=opset,
            dynamic_axes=dynamic_axes,
            do_constant_folding=True,
            dynamo=False,
        )
    return onnx.load_from_string(buf.getvalue())


def _simplify(model):
    """onnxslim's graph, or None when it is not installed, fails or does not remove nodes."""
    try:
        import onnxslim
    except ImportError:  # an optimisation only: the exported graph is valid without it
        return None

    try:
        slim = onnxslim.slim(model)
    except Exception:  # onnxslim is an optimisation: an exported graph that it cannot handle is still valid
        return None
    return slim if slim is not None and len(slim.graph.node) < len(model.graph.node) else None


def export_onnx(
    depth_net: torch.nn.Module,
    out_path: str | Path,
    *,
    size: tuple[int, int] = (192, 640),
    batch: Batch = 1,
    opset: int = 17,
    simplify: bool = True,
    metadata: dict[str, Any] | None = None,
    verify: bool = True,
) -> ExportReport:
    """Export ``depth_net.predict_depth`` to ``out_path`` (written atomically) and verify it.

    Args:
        depth_net: a DepthNet (``min_depth``, ``max_depth``, ``encoder_name`` attributes are recorded).
        size: (H, W), multiples of 32.
        batch: a fixed batch N, or ``"dynamic"`` for an ``N`` axis.
        metadata: extra ``metadata_props`` entries (override the defaults).
        verify: run ``onnx.checker`` and compare ONNX Runtime with PyTorch (raises ExportError if the
            relative difference exceeds 1e-4).
    """
    import onnx

    start = time.perf_counter()
    size = (int(size[0]), int(size[1]))
    _check_args(depth_net, size, batch, opset)
    depth_net = depth_net.cpu().eval()
    try:
        model = _trace_to_onnx(depth_net, size, batch, opset)
    except Exception as e:  # tracing errors come from arbitrary model code: report the cause, not a traceback
        raise ExportError(f"torch.onnx.export failed for {type(depth_net).__name__}", why=str(e).splitlines()[0] if str(e) else type(e).__name__) from None
    nodes_before = len(model.graph.node)
    slim = _simplify(model) if simplify else None
    if slim is not None:
        model = slim
    meta = {
        "edgedepth_version": __version__,
        "height": size[0],
        "width": size[1],
        "min_depth": float(getattr(depth_net, "min_depth", 0.0)),
        "max_depth": float(getattr(depth_net, "max_depth", 0.0)),
        "preprocessing": PREPROCESSING,
        "encoder": getattr(depth_net, "encoder_name", type(depth_net).__name__),
        "batch": "dynamic" if batch == "dynamic" else str(batch),
        "precision": "fp32",
        "input": INPUT_NAME,
        "output": OUTPUT_NAME,
        **(metadata or {}),
    }
    set_metadata(model, meta)
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as e:
        raise ExportError("the exported ONNX graph fails onnx.checker", why=str(e).splitlines()[0]) from None
    out_path = Path(out_path)
    atomic_write_bytes(out_path, model.SerializeToString())
    report = ExportReport(
        path=out_path,
        opset=opset,
        size=size,
        batch=batch,
        nodes_before=nodes_before,
        nodes_after=len(model.graph.node),
        simplified=slim is not None,
        metadata={p.key: p.value for p in model.metadata_props},
    )
    if verify:
        from edgedepth.export.verify import verify_onnx

        n = 2 if batch == "dynamic" else batch  # a dynamic graph must run with N != 1 too
        images = torch.rand(n, 3, *size, generator=torch.Generator().manual_seed(0)).numpy()  # device-ok: numpy input
        report.verification = verify_onnx(out_path, depth_net=depth_net, images=images)
        if report.verification["max_rel_diff"] > FP32_REL_TOLERANCE:
            raise ExportError(
                f"ONNX Runtime output of {out_path} differs from PyTorch by {report.verification['max_rel_diff']:.3g} "
                f"of the depth (tolerance {FP32_REL_TOLERANCE:g})",
                fix="export with simplify=False (--no-simplify) or another --opset, and report the model",
            )
    report.seconds = time.perf_counter() - start
    return report


def export_from_checkpoint(ckpt: str | Path, out_path: str | Path, **kwargs: Any) -> ExportReport:
    """Export the depth network of an edgedepth checkpoint; keyword arguments go to :func:`export_onnx`."""
    from edgedepth.checkpoint import load_depth_net

    net, _ = load_depth_net(ckpt)
    # The file name and hash let the torch backend find these weights next to the ONNX later.
    metadata = {CHECKPOINT_KEY: Path(ckpt).name, CHECKPOINT_SHA256_KEY: file_sha256(ckpt), **(kwargs.pop("metadata", None) or {})}
    return export_onnx(net, out_path, metadata=metadata, **kwargs)
