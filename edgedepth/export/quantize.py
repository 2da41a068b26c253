"""INT8 explicit-quantization (Q/DQ) ONNX: symmetric activations, per-channel symmetric weights.

Ranges come from our observers (edgedepth.export.calibration); ONNX Runtime's QDQ quantizer
inserts the QuantizeLinear/DequantizeLinear pairs around the op types in INT8_OP_TYPES, so the
result is the standard QDQ layout that ONNX Runtime CPU fuses into QLinearConv and TensorRT reads
as explicit quantization.
Zero points are all 0 and every Q/DQ is int8 (checked before writing; biases stay float).
ONNX Runtime on x86 converts int8 Q/DQ pairs to uint8 (zero point 128) before fusing them into
QLinearConv, also on CPUs with VNNI, and converts a Q only when one DQ reads it; so every consumer
of a tensor gets its own pair with its own scale initializers (_unshare_scales). The depth head
(the Pad and conv before the sigmoid, the sigmoid, the depth conversion) stays in float; the
sensitivity pass may keep more nodes in float.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgedepth.errors import ExportError
from edgedepth.export.calibration import activation_ranges, as_image_array
from edgedepth.export.graph import consumers_of, head_nodes, topological_sort
from edgedepth.contract import set_metadata
from edgedepth.export.verify import depth_accuracy, load_onnx, ort_session, run_onnx
from edgedepth.utils.io import atomic_write_bytes

# Op types that get Q/DQ: those that run on integers in ONNX Runtime CPU (QLinearConv, QLinearAdd,
# an int8 MaxPool) and TensorRT; a Conv's output is quantized too, so ORT fuses it. Resize, Concat,
# Pad, ReLU and ELU stay float: ONNX Runtime ran them in float anyway, between an extra DQ and Q
# per tensor (7-9 % of the latency of the demo network at 2 threads, and one rounding more: mean
# depth error vs FP32 1.14 % -> 0.84 %).
INT8_OP_TYPES = ("Add", "Conv", "MaxPool")


@dataclass
class QuantReport:
    """What :func:`quantize_int8` wrote; ``accuracy`` holds FP32 and INT8 metrics on the held-out set."""

    path: Path
    method: str
    per_channel: bool
    calibration_images: int
    head: list[str]
    excluded: list[str]
    sensitivity: list[dict[str, Any]] = field(default_factory=list)
    accuracy: dict[str, Any] = field(default_factory=dict)
    quantized_nodes: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        lines = [
            f"wrote {self.path} (INT8 Q/DQ, symmetric, {'per-channel' if self.per_channel else 'per-tensor'} weights, "
            f"{self.method} calibration on {self.calibration_images} images, {self.quantized_nodes} DequantizeLinear nodes)",
            f"kept in float: depth head ({len(self.head)} nodes)"
            + (f" + {len(self.excluded)} sensitive layers: {', '.join(self.excluded)}" if self.excluded else ""),
        ]
        acc = self.accuracy
        if acc:
            lines.append(
                f"held-out AbsRel ({acc['reference']}): FP32 {acc['fp32_abs_rel']:.4f}, INT8 {acc['int8_abs_rel']:.4f} "
                f"(relative drop {acc['relative_drop'] * 100:+.2f}%)"
            )
        return "\n".join(lines)


def _tensors_data(ranges: dict[str, float]):
    from onnxruntime.quantization.calibrate import CalibrationMethod, TensorData, TensorsData

    data = {
        name: TensorData(lowest=np.array(-amax, dtype=np.float32), highest=np.array(amax, dtype=np.float32))
        for name, amax in ranges.items()
        if amax > 0  # a constant-zero tensor has no scale; the quantizer leaves it in float
    }
    return TensorsData(CalibrationMethod.MinMax, data)


def build_qdq(model, ranges: dict[str, float], *, per_channel: bool = True, exclude=(), only=None):
    """A QDQ copy of ``model`` with the given activation ranges (``only``: quantize just these nodes)."""
    import copy

    from onnxruntime.quantization import QuantType
    from onnxruntime.quantization.qdq_quantizer import QDQQuantizer

    quantizer = QDQQuantizer(
        copy.deepcopy(model),
        per_channel,
        False,  # reduce_range: 7-bit weights only matter for old non-VNNI x86 kernels; TensorRT wants full range
        QuantType.QInt8,
        QuantType.QInt8,
        _tensors_data(ranges),
        list(only or []),
        list(exclude),
        list(INT8_OP_TYPES),
        {
            "ActivationSymmetric": True,
            "WeightSymmetric": True,
            "QDQOpTypePerChannelSupportToAxis": {"Conv": 0},
            # Float biases: TensorRT's parser refuses an int32 DequantizeLinear ("only activation types
            # allowed as input"); ORT CPU still fuses DQ-Conv-Q into QLinearConv and quantizes the bias itself.
            "QuantizeBias": False,
            "DedicatedQDQPair": True,  # one Q/DQ pair per consumer of a tensor; see _unshare_scales
        },
    )
    quantizer.quantize_model()
    model = quantizer.model.model
    _unshare_scales(model)
    topological_sort(model.graph)  # the quantizer appends Q/DQ nodes out of order; checker and TensorRT need order
    return model


def _unshare_scales(model) -> None:
    """Give every Q/DQ pair of a tensor read by several nodes its own scale and zero-point initializers.

    ONNX Runtime on x86 runs a Conv as QLinearConv only after converting its int8 Q/DQ pairs to
    uint8, which it does only for a Q read by one DQ. A ResNet block input feeds conv1 and the
    residual Add; with one shared pair ORT gives each reader its own DQ of the one Q, and with
    dedicated pairs that share initializers its common-subexpression pass merges the Qs again:
    either way 11 of the 31 convs stayed float. The values are unchanged, so TensorRT reads the
    same quantization.
    """
    inits = {i.name: i for i in model.graph.initializer}
    quantizers: dict[str, list] = {}
    for node in model.graph.node:
        if node.op_type == "QuantizeLinear":
            quantizers.setdefault(node.input[0], []).append(node)
    readers = consumers_of(model.graph)
    for nodes in quantizers.values():
        for q in nodes[1:]:
            for slot, suffix in ((1, "scale"), (2, "zero_point")):
                own = model.graph.initializer.add()
                own.CopyFrom(inits[q.input[slot]])
                own.name = f"{q.name}_{suffix}"
                for node in [q, *readers[q.output[0]]]:
                    node.input[slot] = own.name


def check_symmetric(model) -> int:
    """Raise unless every QuantizeLinear/DequantizeLinear is int8 with a zero point of 0; returns the Q/DQ count."""
    from onnx import TensorProto, numpy_helper

    inits = {i.name: i for i in model.graph.initializer}
    qdq = [n for n in model.graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")]
    for node in qdq:
        if len(node.input) < 3 or node.input[2] not in inits:
            raise ExportError(f"Q/DQ node {node.name} has no constant zero point", fix="report this model")
        zp = inits[node.input[2]]
        if zp.data_type != TensorProto.INT8 or np.any(numpy_helper.to_array(zp) != 0):
            raise ExportError(f"Q/DQ node {node.name} is not symmetric int8 (zero point {numpy_helper.to_array(zp)})", fix="report this model")
    return len(qdq)


def quantize_int8(
    onnx_in: str | Path,
    onnx_out: str | Path,
    *,
    calibration_images,
    method: str = "minmax",
    percentile: float = 99.99,
    per_channel: bool = True,
    exclude: tuple[str, ...] = (),
    max_accuracy_drop: float | None = None,
    holdout=None,
    threads: int | None = None,
) -> QuantReport:
    """Calibrate ``onnx_in`` and write the INT8 Q/DQ model to ``onnx_out`` (atomically).

    Args:
        calibration_images: [N,3,H,W] float32 RGB in [0,1], or an iterable of images / batches.
        method: "minmax" | "entropy" | "percentile" (see edgedepth.export.calibration).
        exclude: node names to keep in float besides the depth head.
        max_accuracy_drop: keep the most sensitive convs in float until the held-out AbsRel is within
            this relative drop of FP32 (e.g. 0.02 = 2 %). Needs ``holdout``.
        holdout: (images [M,3,H,W], gt depth [M,1,H,W] or None). Without ground truth, the FP32
            output is the reference and the "drop" is the INT8 AbsRel against it.
    """
    import onnx

    start = time.perf_counter()
    images = as_image_array(calibration_images)
    model = load_onnx(onnx_in)
    if any(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in model.graph.node):
        raise ExportError(f"'{onnx_in}' is already quantized", fix="quantize the FP32 ONNX written by `edgedepth export`")
    if max_accuracy_drop is not None and holdout is None:
        raise ExportError("max_accuracy_drop needs a held-out set", fix="pass holdout=(images, depth) (the CLI uses the synthetic target test set)")
    meta = {p.key: p.value for p in model.metadata_props}
    ranges = activation_ranges(model, images, method=method, percentile=percentile, threads=threads)
    head = sorted(head_nodes(model.graph, with_conv=True))
    excluded = list(dict.fromkeys(exclude))
    report = QuantReport(path=Path(onnx_out), method=method, per_channel=per_channel, calibration_images=len(images), head=head, excluded=excluded)

    shaped = _with_shapes(model)

    def build(extra_exclude=(), only=None):
        return build_qdq(shaped, ranges, per_channel=per_channel, exclude=[*head, *excluded, *extra_exclude], only=only)

    qmodel = build()
    if holdout is not None:
        qmodel = _holdout_accuracy(report, model, qmodel, build, holdout, max_depth=float(meta.get("max_depth", 80.0)),
                                   skip={*head, *excluded}, max_accuracy_drop=max_accuracy_drop, threads=threads)
    report.quantized_nodes = sum(n.op_type == "DequantizeLinear" for n in qmodel.graph.node)
    check_symmetric(qmodel)
    try:
        onnx.checker.check_model(qmodel)
    except onnx.checker.ValidationError as e:
        raise ExportError(f"the INT8 graph of '{onnx_in}' fails onnx.checker", why=str(e).splitlines()[0]) from None
    set_metadata(qmodel, {"precision": "int8", "calibration": method, "calibration_images": len(images), "float_nodes": ",".join([*head, *report.excluded])})
    atomic_write_bytes(onnx_out, qmodel.SerializeToString())
    report.seconds = time.perf_counter() - start
    return report


def _holdout_accuracy(report: QuantReport, model, qmodel, build, holdout, *, max_depth: float, skip: set[str],
                      max_accuracy_drop: float | None, threads: int | None):
    """FP32 and INT8 AbsRel on the held-out set, into ``report.accuracy``; the INT8 model to write.

    With ``max_accuracy_drop`` exceeded, the most sensitive nodes (besides ``skip``) are kept in float,
    greedily, until the drop is within it (``report.sensitivity``, ``report.excluded``).
    """
    from edgedepth.export.sensitivity import greedy_exclude, layer_sensitivity

    excluded = list(report.excluded)
    hold_images = as_image_array(holdout[0])
    gt = None if holdout[1] is None else np.asarray(holdout[1], dtype=np.float32)
    fp32 = run_onnx(ort_session(model, threads=threads), hold_images)
    reference = gt if gt is not None else fp32
    max_depth = max_depth * 1.001  # predictions may touch max_depth exactly

    def abs_rel(pred: np.ndarray) -> float:
        return depth_accuracy(pred, reference, max_depth=max_depth)["abs_rel"]

    fp32_err = abs_rel(fp32) if gt is not None else 0.0

    def drop_of(candidate) -> tuple[float, float]:
        err = abs_rel(run_onnx(ort_session(candidate, threads=threads), hold_images))
        return err, ((err - fp32_err) / fp32_err if gt is not None else err)

    int8_err, drop = drop_of(qmodel)
    if max_accuracy_drop is not None and drop > max_accuracy_drop:
        report.sensitivity = layer_sensitivity(
            lambda node: build(only=[node]), _quantizable(model, skip=skip), lambda m: _rel_to(fp32, m, hold_images, threads)
        )
        qmodel, extra, int8_err, drop = greedy_exclude(build, report.sensitivity, drop_of, max_accuracy_drop)
        report.excluded = excluded + extra
    report.accuracy = {
        "reference": "ground truth" if gt is not None else "FP32 output",
        "holdout_images": len(hold_images),
        "fp32_abs_rel": fp32_err,
        "int8_abs_rel": int8_err,
        "relative_drop": drop,
        "max_accuracy_drop": max_accuracy_drop,
        "within_max_drop": None if max_accuracy_drop is None else bool(drop <= max_accuracy_drop),
    }
    return qmodel


def _with_shapes(model):
    """``model`` with inferred shapes, marked so that ORT's quantizer does not infer them again.

    It would, through a temporary file, on every build: half the time of the sensitivity pass.
    """
    from onnxruntime.quantization.quant_utils import save_and_reload_model_with_shape_infer

    return save_and_reload_model_with_shape_infer(model)


def _quantizable(model, *, skip: set[str]) -> list[str]:
    """Candidates for the sensitivity pass: every node the quantizer would touch, not only convs.

    The residual Adds and the max-pool get Q/DQ pairs of their own; with convs alone as candidates,
    keeping every conv in float could not undo an error made on those tensors.
    """
    return [n.name for n in model.graph.node if n.op_type in INT8_OP_TYPES and n.name not in skip]


def _rel_to(fp32: np.ndarray, candidate, images: np.ndarray, threads: int | None) -> float:
    """Mean |candidate - FP32| / FP32 on ``images``: a layer's error, independent of ground truth."""
    if not any(n.op_type == "DequantizeLinear" for n in candidate.graph.node):
        return 0.0  # quantized alone, the node got no Q/DQ (a ReLU after a float conv): nothing to run
    out = run_onnx(ort_session(candidate, threads=threads, optimize=False), images)  # a ranking: fake quantization will do
    return float(np.mean(np.abs(out - fp32) / np.maximum(fp32, 1e-6)))
