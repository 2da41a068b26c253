"""FP16 ONNX with FP32 inputs and outputs, keeping the numerically sensitive depth head in FP32.

Our own pass (no onnxconverter_common): float initializers and constants of the FP16 region are cast
to FP16, and Cast nodes are inserted wherever a tensor crosses between the FP32 and FP16 regions.
The FP32 region is the head: the last Sigmoid before ``depth`` and everything after it (the
disparity -> depth conversion 1 / (1/max + (1/min - 1/max) * disp) loses most of its precision
in FP16 near min_depth, where d(depth)/d(disp) is largest).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from edgedepth.errors import ExportError
from edgedepth.export.graph import consumers_of, head_nodes, producers_of
from edgedepth.contract import graph_precision, set_metadata
from edgedepth.export.verify import load_onnx
from edgedepth.utils.io import atomic_write_bytes

# Inputs that the ONNX spec types as float32 whatever the data type (Resize roi/scales).
_FLOAT32_ONLY_INPUTS = {("Resize", 1), ("Resize", 2), ("Upsample", 1)}
# QuantizeLinear/DequantizeLinear take FP16 inputs and scales from opset 19 (float32 only before).
QDQ_FP16_OPSET = 19


def _constants_to_initializers(graph) -> None:
    """Turn ``Constant`` nodes with a tensor ``value`` into initializers, so one pass casts both."""
    from onnx import numpy_helper

    keep = []
    for node in graph.node:
        value = next((a for a in node.attribute if a.name == "value"), None) if node.op_type == "Constant" else None
        if value is None:
            keep.append(node)
            continue
        graph.initializer.append(numpy_helper.from_array(numpy_helper.to_array(value.t), node.output[0]))
    del graph.node[:]
    graph.node.extend(keep)


def convert_fp16(onnx_in: str | Path, onnx_out: str | Path, *, keep_fp32: tuple[str, ...] = ()) -> dict:
    """Write an FP16 copy of ``onnx_in`` to ``onnx_out`` (atomically); input/output stay float32.

    Args:
        keep_fp32: names of further nodes to keep in FP32 (besides the depth head).
    Returns:
        {"path", "fp16_nodes", "fp32_nodes" (names kept in FP32), "casts" (inserted Cast nodes)}.
    """
    model = load_onnx(onnx_in)
    model, report = _cast_to_fp16(model, onnx_in, keep_fp32)
    set_metadata(model, {"precision": "fp16", "fp32_nodes": ",".join(report["fp32_nodes"])})
    _check_and_write(model, onnx_in, onnx_out, "FP16")
    return {"path": Path(onnx_out), **report}


def convert_qdq_fp16(onnx_in: str | Path, onnx_out: str | Path) -> dict:
    """Write the Q/DQ INT8 ``onnx_in`` with its float region in FP16 (input/output stay float32).

    For strongly typed TensorRT builds, where the ONNX types are the precision: the layers left
    unquantised run in FP16 instead of FP32, except the depth head and the layers the INT8 pass kept in
    float for accuracy (metadata ``float_nodes``), which stay FP32. Q/DQ scales become FP16, which
    QuantizeLinear/DequantizeLinear accept from opset 19, so older graphs are converted to opset 19.
    Returns what :func:`convert_fp16` returns.
    """
    import onnx

    model = load_onnx(onnx_in)
    if graph_precision(model) != "int8":
        raise ExportError(f"'{onnx_in}' has no Q/DQ nodes", fix="pass the INT8 ONNX from `edgedepth export --int8`")
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset < QDQ_FP16_OPSET:
        model = onnx.version_converter.convert_version(model, QDQ_FP16_OPSET)
    meta = {p.key: p.value for p in model.metadata_props}
    keep = tuple(name for name in meta.get("float_nodes", "").split(",") if name)
    model, report = _cast_to_fp16(model, onnx_in, keep)
    set_metadata(model, {"precision": "int8", "float_precision": "fp16", "fp32_nodes": ",".join(report["fp32_nodes"])})
    _check_and_write(model, onnx_in, onnx_out, "FP16 Q/DQ")
    return {"path": Path(onnx_out), **report}


def _check_and_write(model, onnx_in: str | Path, onnx_out: str | Path, what: str) -> None:
    import onnx

    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as e:
        raise ExportError(f"the {what} graph of '{onnx_in}' fails onnx.checker", why=str(e).splitlines()[0]) from None
    atomic_write_bytes(onnx_out, model.SerializeToString())


def _cast_to_fp16(model, onnx_in: str | Path, keep_fp32: tuple[str, ...]):
    """(the model computing in FP16 outside its head and ``keep_fp32``, {"fp16_nodes", "fp32_nodes", "casts"})."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    if any(i.data_type == TensorProto.FLOAT16 for i in graph.initializer):
        raise ExportError(f"'{onnx_in}' already holds FP16 weights", fix="convert the FP32 ONNX written by `edgedepth export`")
    _constants_to_initializers(graph)
    fp32_nodes = head_nodes(graph) | set(keep_fp32)
    inits = {i.name: i for i in graph.initializer}
    producers = producers_of(graph)
    consumers = consumers_of(graph)
    graph_inputs = {i.name for i in graph.input}
    float_tensors = _float_tensors(model)

    def in_fp16(node) -> bool:
        return node.name not in fp32_nodes and node.op_type != "Cast"

    new_nodes, casts, fp16_inits = [], {}, {}  # casts: (tensor, type) -> name of the cast tensor

    def cast(name: str, to: int) -> str:
        key = (name, to)
        if key not in casts:
            out = f"{name}__to_{'fp16' if to == TensorProto.FLOAT16 else 'fp32'}"
            new_nodes.append(helper.make_node("Cast", [name], [out], to=to, name=out))
            casts[key] = out
        return casts[key]

    def fp16_initializer(name: str) -> str:
        init = inits[name]
        if init.data_type != TensorProto.FLOAT:
            return name
        if name not in fp16_inits:
            users = consumers.get(name, [])
            shared = any(not in_fp16(u) for u in users)
            arr = numpy_helper.to_array(init).astype(np.float16)
            new_name = f"{name}__fp16" if shared else name
            new = numpy_helper.from_array(arr, new_name)
            if shared:
                graph.initializer.append(new)
            else:
                init.CopyFrom(new)
            fp16_inits[name] = new_name
        return fp16_inits[name]

    n_fp16 = 0
    for node in graph.node:
        fp16 = in_fp16(node)
        n_fp16 += fp16
        for i, name in enumerate(node.input):
            if not name:
                continue
            if fp16 and (node.op_type, i) in _FLOAT32_ONLY_INPUTS:
                continue
            if name in inits:
                if fp16:
                    node.input[i] = fp16_initializer(name)
                continue
            if name not in float_tensors:
                continue
            src = producers.get(name)
            src_fp16 = src is not None and in_fp16(src)
            if fp16 and not src_fp16 and (src is not None or name in graph_inputs):
                node.input[i] = cast(name, TensorProto.FLOAT16)
            elif not fp16 and src_fp16:
                node.input[i] = cast(name, TensorProto.FLOAT)
        if fp16 and node.op_type == "Cast" and _cast_to(node) == TensorProto.FLOAT:
            _set_cast_to(node, TensorProto.FLOAT16)
        new_nodes.append(node)
    _cast_outputs_to_fp32(graph, new_nodes, casts, producers, in_fp16)
    del graph.node[:]
    graph.node.extend(new_nodes)  # already topological: each Cast is appended just before its first user
    del graph.value_info[:]  # stale FP32 types; shape inference re-derives them
    model = onnx.shape_inference.infer_shapes(model)
    return model, {"fp16_nodes": n_fp16, "fp32_nodes": sorted(fp32_nodes), "casts": len(casts)}


def _cast_outputs_to_fp32(graph, new_nodes: list, casts: dict, producers: dict, in_fp16) -> None:
    """Graph outputs produced in FP16 get a final Cast back to FP32."""
    from onnx import TensorProto, helper

    for out in graph.output:
        src = producers.get(out.name)
        if src is not None and in_fp16(src):
            inner = f"{out.name}__fp16"
            for n in new_nodes:
                n.output[:] = [inner if o == out.name else o for o in n.output]
                n.input[:] = [inner if o == out.name else o for o in n.input]
            new_nodes.append(helper.make_node("Cast", [inner], [out.name], to=TensorProto.FLOAT, name=f"{out.name}__to_fp32"))
            casts[(inner, TensorProto.FLOAT)] = out.name


def _cast_to(node) -> int:
    return next(a.i for a in node.attribute if a.name == "to")


def _set_cast_to(node, to: int) -> None:
    next(a for a in node.attribute if a.name == "to").i = to


def _float_tensors(model) -> set[str]:
    """Names of every float32 tensor (inputs, intermediates, outputs) after shape inference."""
    import onnx
    from onnx import TensorProto

    inferred = onnx.shape_inference.infer_shapes(model)
    g = inferred.graph
    return {v.name for v in [*g.input, *g.value_info, *g.output] if v.type.tensor_type.elem_type == TensorProto.FLOAT}

