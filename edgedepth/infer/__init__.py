"""Live and offline inference: frame sources, the threaded pipeline, the files it writes, and the in-memory API."""
from edgedepth.infer.outputs import Intrinsics, OutputWriter
from edgedepth.infer.pipeline import run_pipeline
from edgedepth.infer.sources import Frame, open_source
from edgedepth.infer.stream import DepthFrame, DepthStream, MemorySink, run_depth

__all__ = ["DepthFrame", "DepthStream", "Frame", "Intrinsics", "MemorySink", "OutputWriter", "open_source", "run_depth", "run_pipeline"]
