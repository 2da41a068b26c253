"""Export the depth network: ONNX (FP32), FP16 and INT8 Q/DQ files, each verified after writing.

Imports are lazy so that ``import edgedepth.export`` costs nothing until a function is used.
"""
from __future__ import annotations

from importlib import import_module

_EXPORTS = {
    "ExportReport": "onnx_export",
    "export_onnx": "onnx_export",
    "export_from_checkpoint": "onnx_export",
    "convert_fp16": "fp16",
    "convert_qdq_fp16": "fp16",
    "QuantReport": "quantize",
    "quantize_int8": "quantize",
    "load_calibration_set": "calibration",
    "activation_ranges": "calibration",
    "verify_onnx": "verify",
    "read_onnx_metadata": "verify",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(f"edgedepth.export.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'edgedepth.export' has no attribute {name!r}")
