from types import SimpleNamespace

import numpy as np
import pytest

from edgedepth.bench import run_bench
from edgedepth.errors import EdgedepthError
from edgedepth.backends import open_runner

STATS = {"mean", "std", "min", "p50", "p90", "p95", "p99", "max"}


def test_run_bench_schema(tiny_runner):
    report = run_bench([tiny_runner], batches=[1, 2], warmup=1, iterations=3, power=False)
    assert set(report) >= {"device", "results"}
    assert [r["batch"] for r in report["results"]] == [1, 2]
    for r in report["results"]:
        assert {"name", "backend", "precision", "batch", "latency_ms", "throughput_fps", "peak_memory_mb"} <= set(r)
        assert set(r["latency_ms"]) == STATS
        assert r["latency_ms"]["min"] <= r["latency_ms"]["p50"] <= r["latency_ms"]["max"]
        assert r["throughput_fps"] > 0 and len(r["_samples_ms"]) == 3
        assert "speedup_vs_first" not in r  # one target: no compare


def test_compare_mode_ratios(tiny_runner, tiny_onnx):
    with open_runner(tiny_onnx, device="cpu", threads=1) as second:
        report = run_bench([tiny_runner, second], batches=[1], warmup=1, iterations=3, power=False)
    first, other = report["results"]
    assert first["name"] != other["name"]
    assert first["speedup_vs_first"] == pytest.approx(1.0)
    assert other["speedup_vs_first"] == pytest.approx(first["latency_ms"]["mean"] / other["latency_ms"]["mean"])


class FixedBatch:
    """A runner whose input batch is fixed at 2."""

    backend, precision = "fake", "fp32"

    def __init__(self, spec):
        self.input_spec = SimpleNamespace(name="image", shape=(2, 3, spec.height, spec.width), dtype="float32",
                                          height=spec.height, width=spec.width, min_depth=0.5, max_depth=80.0)

    def infer(self, images):
        assert images.shape[0] == 2
        return np.zeros((2, 1, *images.shape[2:]), np.float32)


def test_fixed_batch_skips_and_errors(tiny_runner):
    runner = FixedBatch(tiny_runner.input_spec)
    report = run_bench([runner], batches=[1, 2], warmup=0, iterations=2, power=False)
    assert [r["batch"] for r in report["results"]] == [2]
    assert report["skipped"][0]["batch"] == 1
    with pytest.raises(EdgedepthError, match="fixed batch of 2"):
        run_bench([runner], batches=[1, 4], warmup=0, iterations=1, power=False)


def test_nothing_to_bench():
    with pytest.raises(EdgedepthError):
        run_bench([], batches=[1])


def test_accuracy_on_synthetic(tiny_runner):
    report = run_bench([tiny_runner], batches=[1], warmup=0, iterations=1, power=False,
                       accuracy_data="synthetic-target", accuracy_samples=2)
    acc = report["results"][0]["accuracy"]
    assert {"abs_rel", "rmse", "a1"} <= set(acc) and acc["abs_rel"] > 0


def test_accuracy_on_the_numpy_world_equals_the_dataset(tiny_runner):
    """bench reads the synthetic world with numpy; the images and depths are those of SyntheticWorld."""
    from edgedepth.bench.run import accuracy_on
    from edgedepth.data import SyntheticWorld
    from edgedepth.eval import depth_metrics

    spec = tiny_runner.input_spec
    world = SyntheticWorld("target", size=(spec.height, spec.width), length=2, seed=3)
    preds = np.stack([tiny_runner.infer(world[i].image.numpy()[None])[0] for i in range(2)])
    expected = depth_metrics(preds, np.stack([world[i].depth.numpy() for i in range(2)]), median_scaling=False)
    assert accuracy_on(tiny_runner, "synthetic-target", samples=2, seed=3) == {k: float(v) for k, v in expected.items()}
    assert accuracy_on(tiny_runner, "synthetic", samples=2, seed=3) == accuracy_on(tiny_runner, "synthetic-target", samples=2, seed=3)


def test_accuracy_on_a_synth_folder(tiny_runner, tmp_path):
    from edgedepth.bench.run import accuracy_on
    from edgedepth.data import SyntheticWorld
    from edgedepth.data.folder import FolderDataset, write_dataset, write_domain_index

    spec = tiny_runner.input_spec
    size = (spec.height, spec.width)
    for domain in ("source", "target"):
        write_dataset(tmp_path / domain, SyntheticWorld(domain, size=size, length=2, seed=1, views="none"), progress=False)
    write_domain_index(tmp_path, ["source", "target"])
    folder = FolderDataset(tmp_path / "target")
    from edgedepth.eval import depth_metrics

    preds = np.stack([tiny_runner.infer(folder[i].image.numpy()[None])[0] for i in range(2)])
    expected = depth_metrics(preds, np.stack([folder[i].depth.numpy() for i in range(2)]), median_scaling=False)
    assert accuracy_on(tiny_runner, str(tmp_path), samples=5) == {k: float(v) for k, v in expected.items()}
    larger = tmp_path / "larger"  # another size than the model's: scaled to cover it
    write_dataset(larger, SyntheticWorld("target", size=(2 * size[0], 2 * size[1]), length=1, views="none"), progress=False)
    assert accuracy_on(tiny_runner, str(larger), samples=1)["abs_rel"] > 0


@pytest.mark.parametrize("data", ["kitti", "cityscapes", "no-such-folder"])
def test_accuracy_on_a_real_dataset_says_what_to_do(tiny_runner, data):
    from edgedepth.bench.run import accuracy_on

    with pytest.raises(EdgedepthError) as info:
        accuracy_on(tiny_runner, data, samples=1)
    assert "edgedepth eval" in info.value.fix and "data synth" in info.value.fix
