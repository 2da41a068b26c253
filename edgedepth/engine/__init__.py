"""Engine building: ONNX in, a self-describing .engine container out (TensorRT 10/11 or ONNX Runtime).

Only the standard library, numpy and onnx are imported here; TensorRT and ONNX Runtime are
imported when a build or load needs them.
"""
from edgedepth.engine.build import build_engine
from edgedepth.engine.container import read_engine, read_engine_header, write_engine
from edgedepth.engine.onnx_info import OnnxModelInfo, inspect_onnx

__all__ = ["build_engine", "read_engine", "read_engine_header", "write_engine", "OnnxModelInfo", "inspect_onnx"]
