"""Live and offline inference: frame sources, the threaded pipeline and the files it writes."""
from edgedepth.infer.outputs import Intrinsics, OutputWriter
from edgedepth.infer.pipeline import run_pipeline
from edgedepth.infer.sources import Frame, open_source

__all__ = ["Frame", "Intrinsics", "OutputWriter", "open_source", "run_pipeline"]
