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
