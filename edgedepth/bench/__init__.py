"""Benchmarks of deployed models: latency, throughput, memory and (on Jetson) power."""
from edgedepth.bench.device import describe_device
from edgedepth.bench.report import save_all, to_csv, to_markdown
from edgedepth.bench.run import run_bench
from edgedepth.bench.timing import latency_stats, time_runner

__all__ = ["describe_device", "latency_stats", "run_bench", "save_all", "time_runner", "to_csv", "to_markdown"]
