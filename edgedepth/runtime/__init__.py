"""Run a depth model from an .engine, .onnx or .pt file through one interface (see base.Runner).

Backends are imported only when opened: a Jetson runs TensorRT engines without onnxruntime or
torch installed, and a CPU machine runs ONNX files without TensorRT.
"""
from edgedepth.runtime.base import InputSpec, Runner, open_runner

__all__ = ["InputSpec", "Runner", "open_runner"]
