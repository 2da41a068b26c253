"""The ONNX contract between export, build-engine and every backend, in one place.

A depth model has one input ``image`` [N,3,H,W] float32 RGB in [0,1] (N may be symbolic; the
ImageNet normalisation is inside the graph), one output ``depth`` [N,1,H,W] in metres, and
metadata_props ``height``, ``width``, ``min_depth``, ``max_depth``, ``preprocessing`` and
``precision``. :func:`inspect_onnx` reads a file once and refuses anything else with the fix,
before a builder spends minutes on it. Needs only the ``onnx`` package (no torch).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from edgedepth.errors import ExportError

INPUT_NAME = "image"
OUTPUT_NAME = "depth"
PREPROCESSING = "rgb01"  # RGB scaled to [0,1]; nothing else (normalisation lives in the graph)
REQUIRED_METADATA = ("height", "width", "min_depth", "max_depth", "preprocessing", "precision")
# Optional metadata: which checkpoint the graph came from (the torch backend finds its weights by it).
CHECKPOINT_KEY, CHECKPOINT_SHA256_KEY = "checkpoint", "checkpoint_sha256"
PRECISIONS = ("fp32", "fp16", "int8")
_REEXPORT = "re-export it with `edgedepth export --checkpoint CKPT --out model.onnx` (add --fp16 / --int8 options there)"


@dataclass(frozen=True)
class OnnxModelInfo:
    """Facts about one ONNX file. ``input_shape`` uses -1 for a symbolic (dynamic) dimension."""

    path: Path
    sha256: str
    input_name: str
    input_shape: tuple[int, int, int, int]
    output_name: str
    precision: str  # what the graph holds: "int8" (Q/DQ nodes), "fp16" (FP16 weights/casts) or "fp32"
    height: int
    width: int
    min_depth: float
    max_depth: float
    preprocessing: str
    metadata: dict

    @property
    def dynamic_batch(self) -> bool:
        return self.input_shape[0] == -1


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def graph_precision(model) -> str:
    """``int8`` if the graph has QuantizeLinear/DequantizeLinear, ``fp16`` if it computes in float16, else ``fp32``."""
    import onnx

    ops = {node.op_type for node in model.graph.node}
    if {"QuantizeLinear", "DequantizeLinear"} & ops:
        return "int8"
    if any(init.data_type == onnx.TensorProto.FLOAT16 for init in model.graph.initializer):
        return "fp16"
    for node in model.graph.node:
        if node.op_type == "Cast" and any(a.name == "to" and a.i == onnx.TensorProto.FLOAT16 for a in node.attribute):
            return "fp16"
    return "fp32"


def _dims(value_info) -> tuple[int, ...]:
    # dim_value 0 means "not set" in ONNX: a symbolic dimension such as "batch".
    return tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else -1 for d in value_info.type.tensor_type.shape.dim)


def inspect_onnx(path: str | Path) -> OnnxModelInfo:
    """Read and check ``path``; raises ExportError naming the file, what is wrong and how to fix it."""
    import onnx

    path = Path(path)
    if not path.is_file():
        raise ExportError(f"ONNX file '{path}' does not exist", fix="pass the file written by `edgedepth export`")
    try:
        # Weights are not needed to inspect the graph interface; load_external_data=False keeps it cheap.
        model = onnx.load(str(path), load_external_data=False)
    except Exception as e:  # onnx raises DecodeError / ValueError / OSError depending on the damage
        raise ExportError(f"'{path}' is not a readable ONNX model", why=str(e).splitlines()[0] if str(e) else type(e).__name__, fix=_REEXPORT) from None

    initializers = {init.name for init in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    if len(inputs) != 1 or len(model.graph.output) != 1:
        raise ExportError(
            f"'{path}' has {len(inputs)} inputs and {len(model.graph.output)} outputs; a depth model has one of each",
            why="build-engine expects input 'image' [N,3,H,W] and output 'depth' [N,1,H,W]",
            fix=_REEXPORT,
        )
    inp, out = inputs[0], model.graph.output[0]
    shape = _dims(inp)
    if inp.type.tensor_type.elem_type != onnx.TensorProto.FLOAT or len(shape) != 4 or shape[1] != 3 or -1 in shape[2:]:
        raise ExportError(
            f"'{path}' input '{inp.name}' has shape {list(shape)} (elem type {inp.type.tensor_type.elem_type})",
            why="a depth model takes float32 RGB images [N,3,H,W] with a fixed H and W (N may be dynamic)",
            fix=_REEXPORT,
        )

    meta = {p.key: p.value for p in model.metadata_props}
    missing = [k for k in REQUIRED_METADATA if k not in meta]
    if missing:
        raise ExportError(
            f"'{path}' lacks the metadata {', '.join(missing)}",
            why="the engine header records the input size, depth range and preprocessing from the ONNX metadata",
            fix=_REEXPORT,
        )
    try:
        height, width = int(meta["height"]), int(meta["width"])
        min_depth, max_depth = float(meta["min_depth"]), float(meta["max_depth"])
    except ValueError:
        raise ExportError(f"'{path}' has unreadable metadata {meta}", fix=_REEXPORT) from None
    if (height, width) != shape[2:]:
        raise ExportError(
            f"'{path}' input is {shape[2]}x{shape[3]} but its metadata says {height}x{width}",
            fix=_REEXPORT,
        )

    precision = graph_precision(model)
    if meta["precision"] in PRECISIONS and meta["precision"] != precision:
        raise ExportError(
            f"'{path}' metadata says precision {meta['precision']} but the graph holds {precision}",
            why="the file was edited after export, or written by another tool",
            fix=_REEXPORT,
        )
    return OnnxModelInfo(
        path=path,
        sha256=file_sha256(path),
        input_name=inp.name,
        input_shape=shape,  # type: ignore[arg-type]
        output_name=out.name,
        precision=precision,
        height=height,
        width=width,
        min_depth=min_depth,
        max_depth=max_depth,
        preprocessing=meta["preprocessing"],
        metadata=meta,
    )


def set_metadata(model, metadata: dict) -> None:
    """Replace ``model.metadata_props`` entries with ``metadata`` (values stored as strings)."""
    keep = [p for p in model.metadata_props if p.key not in metadata]
    del model.metadata_props[:]
    for p in keep:
        model.metadata_props.add(key=p.key, value=p.value)
    for key, value in metadata.items():
        model.metadata_props.add(key=str(key), value=str(value))
