import sys
from types import SimpleNamespace

import numpy as np
import pytest

from edgedepth.bench.timing import latency_stats, peak_rss_mb, time_runner


def test_latency_stats_known_values():
    s = latency_stats(list(range(1, 101)))  # 1..100 ms
    assert s["min"] == 1 and s["max"] == 100
    assert s["mean"] == pytest.approx(50.5)
    assert s["p50"] == pytest.approx(50.5)
    assert s["p90"] == pytest.approx(90.1)
    assert s["p99"] == pytest.approx(99.01)
    assert s["std"] == pytest.approx(np.std(np.arange(1, 101)))
    assert list(s) == ["mean", "std", "min", "p50", "p90", "p95", "p99", "max"]


def test_latency_stats_empty_is_nan():
    assert all(np.isnan(v) for v in latency_stats([]).values())


def test_time_runner_iterations(tiny_runner):
    t = time_runner(tiny_runner, batch=2, warmup=1, iterations=5)
    assert len(t.host_ms) == 5 and all(v > 0 for v in t.host_ms)
    assert t.device_ms is None  # CPU runner: no CUDA events
    assert t.throughput_fps == pytest.approx(2 / (np.mean(t.host_ms) / 1000))
    assert t.peak_host_memory_mb > 10


def test_time_runner_duration_stops(tiny_runner):
    t = time_runner(tiny_runner, batch=1, warmup=0, iterations=None, duration=0.05)
    assert len(t.host_ms) >= 1
    assert sum(t.host_ms) < 5000


class CountingRunner:
    """Records the batches it is given, to check the loop feeds the right shapes."""

    def __init__(self, spec):
        self.input_spec, self.shapes = spec, []

    def infer(self, images):
        self.shapes.append(images.shape)
        assert images.dtype == np.float32 and 0 <= images.min() and images.max() <= 1
        return np.ones((images.shape[0], 1, *images.shape[2:]), np.float32)


def test_time_runner_counts_warmup_and_shapes(tiny_runner):
    r = CountingRunner(tiny_runner.input_spec)
    time_runner(r, batch=4, warmup=3, iterations=7)
    assert len(r.shapes) == 10
    assert set(r.shapes) == {(4, 3, tiny_runner.input_spec.height, tiny_runner.input_spec.width)}


def test_time_runner_needs_a_stop(tiny_runner):
    with pytest.raises(ValueError):
        time_runner(tiny_runner, iterations=None, duration=None)


def test_peak_rss_positive():
    assert peak_rss_mb() > 1


class FakeCuda:
    """Just enough of torch.cuda for the device-timing path: events that report 2 ms each."""

    def __init__(self):
        self.synced = 0

    def is_available(self):
        return True

    def is_initialized(self):
        return True

    def reset_peak_memory_stats(self):
        pass

    def max_memory_reserved(self):
        return 64 * 2**20

    def synchronize(self):
        self.synced += 1

    class Event:
        def __init__(self, enable_timing):
            assert enable_timing

        def record(self):
            pass

        def synchronize(self):
            pass

        def elapsed_time(self, end):
            return 2.0


class FakeTorch:
    def __init__(self):
        self.cuda = FakeCuda()

    def from_numpy(self, a):
        return SimpleNamespace(cuda=lambda: ("on-device", a.shape))


def test_gpu_runner_gets_cuda_event_timing(tiny_runner, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", FakeTorch())

    class GpuRunner(CountingRunner):
        def __init__(self, spec):
            super().__init__(spec)
            self.device_calls = []

        def infer_device(self, x):
            self.device_calls.append(x)

    r = GpuRunner(tiny_runner.input_spec)
    t = time_runner(r, batch=2, warmup=2, iterations=4)
    assert t.device_ms == [2.0] * 4 and len(t.device_host_ms) == 4
    assert r.device_calls[0][0] == "on-device" and r.device_calls[0][1][0] == 2
    assert t.peak_device_memory_mb == 64
