"""Check an exported ONNX file: onnx.checker, metadata, an ONNX Runtime run, and agreement with PyTorch."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgedepth.contract import REQUIRED_METADATA
from edgedepth.device import installed_torch
from edgedepth.errors import ExportError


def read_onnx_metadata(model_or_path) -> dict[str, str]:
    """``metadata_props`` of an ONNX model (a ModelProto or a path) as a dict of strings."""
    import onnx

    model = model_or_path if isinstance(model_or_path, onnx.ModelProto) else load_onnx(model_or_path)
    return {p.key: p.value for p in model.metadata_props}


def load_onnx(path: str | Path):
    """Load an ONNX file, turning a missing or corrupt file into an ExportError."""
    import onnx

    path = Path(path)
    if not path.is_file():
        raise ExportError(f"ONNX file '{path}' does not exist", fix="run `edgedepth export --checkpoint CKPT --out model.onnx` first")
    try:
        return onnx.load(str(path))
    except Exception as e:  # protobuf raises DecodeError and friends for truncated files
        raise ExportError(f"'{path}' is not a readable ONNX file", why=str(e).splitlines()[0] if str(e) else type(e).__name__, fix="export it again") from None


def ort_session(model_or_path, *, threads: int | None = None, optimize: bool = True, spin: bool = True):
    """A CPU ONNX Runtime session with all graph optimisations (the QDQ -> QLinearConv fusion among them).

    ``optimize=False`` keeps only the basic ones: Q/DQ pairs then run as written (fake quantization,
    as TensorRT defines it), and the session starts about 5x faster, for passes that build many.
    ``spin=False`` stops idle worker threads from spinning: for benchmarks that alternate sessions
    (and PyTorch) in one process, where a spinning pool steals the cores of the next one.
    """
    import onnx
    import onnxruntime as ort

    opts = ort.SessionOptions()
    level = ort.GraphOptimizationLevel
    opts.graph_optimization_level = level.ORT_ENABLE_ALL if optimize else level.ORT_ENABLE_BASIC
    opts.log_severity_level = 3
    if threads:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    if not spin:
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    src = model_or_path.SerializeToString() if isinstance(model_or_path, onnx.ModelProto) else str(model_or_path)
    return ort.InferenceSession(src, sess_options=opts, providers=["CPUExecutionProvider"])


def run_onnx(session, images: np.ndarray, *, batch_size: int | None = None) -> np.ndarray:
    """Run ``images`` [N,3,H,W] through a session; a static-batch graph is fed in chunks of its batch."""
    inp = session.get_inputs()[0]
    fixed = inp.shape[0] if isinstance(inp.shape[0], int) else None
    step = fixed or batch_size or len(images)
    outs = []
    for i in range(0, len(images), step):
        chunk = np.ascontiguousarray(images[i : i + step], dtype=np.float32)
        if fixed and len(chunk) < fixed:  # pad the last chunk of a static-batch graph
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], fixed - len(chunk), axis=0)])
            outs.append(session.run(None, {inp.name: chunk})[0][: len(images) - i])
        else:
            outs.append(session.run(None, {inp.name: chunk})[0])
    return np.concatenate(outs)


def _input_images(model, n: int) -> np.ndarray:
    meta = {p.key: p.value for p in model.metadata_props}
    try:
        h, w = int(meta["height"]), int(meta["width"])
    except (KeyError, ValueError):
        dims = model.graph.input[0].type.tensor_type.shape.dim
        h, w = dims[2].dim_value, dims[3].dim_value
    return np.random.default_rng(0).random((n, 3, h, w), dtype=np.float32)


def verify_onnx(path: str | Path, depth_net=None, images: np.ndarray | None = None, *, threads: int | None = None) -> dict[str, Any]:
    """Validate ``path`` and, given ``depth_net``, compare ONNX Runtime with PyTorch on ``images``.

    Args:
        images: [N,3,H,W] float32 RGB in [0,1]; random images of the model's size when None.
    Returns:
        {"checker": "ok", "metadata": {...}, "missing_metadata": [...], "output_shape": [...],
        "finite": bool, and with depth_net: "max_abs_diff" (m), "mean_abs_diff" (m),
        "max_rel_diff" (max |diff| / depth)}.
    """
    import onnx

    model = load_onnx(path)
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as e:
        raise ExportError(f"'{path}' fails onnx.checker", why=str(e).splitlines()[0], fix="export it again") from None
    meta = {p.key: p.value for p in model.metadata_props}
    if images is None:
        images = _input_images(model, 1)
    try:
        depth = run_onnx(ort_session(path, threads=threads), images)
    except Exception as e:  # ORT raises its own exception types for shape/type mismatches
        raise ExportError(f"ONNX Runtime cannot run '{path}' on images {tuple(images.shape)}", why=str(e).splitlines()[0]) from None
    result: dict[str, Any] = {
        "checker": "ok",
        "metadata": meta,
        "missing_metadata": [k for k in REQUIRED_METADATA if k not in meta],
        "output_shape": list(depth.shape),
        "finite": bool(np.isfinite(depth).all()),
    }
    if depth_net is not None:
        torch = installed_torch()  # there: the caller passed a torch model
        with torch.no_grad():
            ref = depth_net.cpu().eval().predict_depth(torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))).numpy()
        diff = np.abs(depth - ref)
        result.update(
            max_abs_diff=float(diff.max()),
            mean_abs_diff=float(diff.mean()),
            max_rel_diff=float((diff / np.maximum(np.abs(ref), 1e-6)).max()),
        )
    return result


def depth_accuracy(pred: np.ndarray, gt: np.ndarray, *, max_depth: float = 80.0) -> dict[str, float]:
    """Eigen metrics (``edgedepth.eval.depth_metrics``) of ``pred`` vs ``gt`` [N,1,H,W] metres.

    The deploy half may run without the eval package; then only ``abs_rel`` is computed here.
    """
    try:
        from edgedepth.eval.metrics import depth_metrics
    except ImportError:
        mask = (gt > 1e-3) & (gt < max_depth)
        return {"abs_rel": float(np.mean(np.abs(pred[mask] - gt[mask]) / gt[mask]))}
    return depth_metrics(pred, gt, max_depth=max_depth)


def precision_table(files: dict[str, str | Path], images: np.ndarray, gt: np.ndarray, *, threads: int | None = None) -> list[dict[str, Any]]:
    """Accuracy of each ONNX file (e.g. {"fp32": a.onnx, "fp16": b.onnx, "int8": c.onnx}) on the same images.

    Returns one row per file: {"precision", "path", metrics..., "abs_rel_vs_fp32" (relative change)}.
    """
    rows = []
    for label, path in files.items():
        max_depth = float(read_onnx_metadata(path).get("max_depth", 80.0))
        pred = run_onnx(ort_session(path, threads=threads), images)
        rows.append({"precision": label, "path": str(path), **depth_accuracy(pred, gt, max_depth=max_depth * 1.001)})
    base = next((r["abs_rel"] for r in rows if r["precision"] == "fp32"), None)
    for r in rows:
        r["abs_rel_vs_fp32"] = None if not base else (r["abs_rel"] - base) / base
    return rows


def format_precision_table(rows: list[dict[str, Any]]) -> str:
    """A Markdown table of :func:`precision_table` rows."""
    keys = [k for k in ("abs_rel", "sq_rel", "rmse", "rmse_log", "a1") if k in rows[0]]
    lines = ["| precision | " + " | ".join(keys) + " | AbsRel vs FP32 |", "|---" * (len(keys) + 2) + "|"]
    for r in rows:
        rel = "—" if r["abs_rel_vs_fp32"] is None else f"{r['abs_rel_vs_fp32'] * 100:+.2f}%"
        lines.append(f"| {r['precision']} | " + " | ".join(f"{r[k]:.4f}" for k in keys) + f" | {rel} |")
    return "\n".join(lines)
