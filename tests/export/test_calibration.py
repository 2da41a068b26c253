import numpy as np
import pytest

from edgedepth.errors import ExportError
from edgedepth.export.calibration import (
    EntropyObserver,
    HistogramObserver,
    MinMaxObserver,
    PercentileObserver,
    activation_ranges,
    as_image_array,
    load_calibration_set,
    make_observer,
)

SIZE = (64, 128)  # as in conftest.py


def test_minmax_is_the_largest_magnitude():
    obs = MinMaxObserver()
    obs.observe(np.array([0.5, -3.0, 1.0]))
    obs.observe(np.array([2.0]))
    assert obs.amax() == 3.0


def test_histogram_growth_keeps_every_count():
    rng = np.random.default_rng(0)
    a, b = rng.uniform(-1, 1, 10_000), rng.uniform(-8, 8, 10_000)
    obs = HistogramObserver(bins=256)
    obs.observe(a)
    obs.observe(b)  # the range doubles three times, merging bin pairs
    assert obs.hist.sum() == 20_000
    assert obs.range >= 8.0
    # same counts as one histogram over the final range
    ref = np.histogram(np.abs(np.concatenate([a, b])), bins=256, range=(0, obs.range))[0]
    assert np.abs(obs.hist - ref).sum() <= 0.01 * 20_000  # differ only by float edge rounding


def test_percentile_of_uniform():
    obs = PercentileObserver(99.0)
    obs.observe(np.random.default_rng(0).uniform(-1, 1, 200_000))
    assert obs.amax() == pytest.approx(0.99, abs=0.01)


def test_entropy_clips_outliers_but_not_the_bulk():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 1, 200_000), [60.0]])  # one huge outlier
    ent, mm = EntropyObserver(), MinMaxObserver()
    for o in (ent, mm):
        o.observe(x)
    assert mm.amax() == 60.0
    assert 2.5 < ent.amax() < 20.0  # keeps the Gaussian bulk, drops the outlier


def test_entropy_keeps_a_bounded_distribution_whole():
    obs = EntropyObserver()
    obs.observe(np.random.default_rng(0).uniform(0, 1, 100_000))
    assert obs.amax() > 0.9


def test_entropy_ignores_the_zeros_of_a_relu():
    """After a ReLU most values are exact zeros; that spike must not pull the threshold down."""
    rng = np.random.default_rng(0)
    x = np.maximum(rng.normal(0, 1, 200_000), 0.0)
    x[rng.random(x.size) < 0.2] = 0.0  # 60 % zeros, as after the demo network's ReLUs
    obs = EntropyObserver()
    obs.observe(x)
    assert obs.amax() > 2.5  # the spike alone chose 0.58 (11 % of the values clipped)
    assert (x > obs.amax()).mean() < 1e-3


def test_unknown_method_and_bad_percentile():
    with pytest.raises(ExportError, match="unknown calibration method"):
        make_observer("kl")
    with pytest.raises(ExportError, match="percentile"):
        make_observer("percentile", percentile=120)


def test_activation_ranges_cover_every_tensor(fp32_onnx, random_images):
    import onnx

    model = onnx.load(str(fp32_onnx[0]))
    mm = activation_ranges(model, random_images, method="minmax")
    pct = activation_ranges(model, random_images, method="percentile", percentile=99.0)
    assert "image" in mm and "depth" in mm and len(mm) > 50
    assert mm["image"] == pytest.approx(float(random_images.max()))
    assert all(pct[k] <= mm[k] * 1.001 + 1e-6 for k in mm if mm[k] > 0)  # percentile never exceeds the max
    assert sum(pct[k] < 0.99 * mm[k] for k in mm) > 10


def test_synthetic_calibration_set(synthetic_set):
    images, depth = synthetic_set
    assert images.shape == (4, 3, *SIZE) and images.dtype == np.float32
    assert 0.0 <= images.min() and images.max() <= 1.0
    assert depth.shape == (4, 1, *SIZE) and (depth > 0).any()


def test_folder_calibration_set(tmp_path):
    from edgedepth.data import SyntheticWorld
    from edgedepth.data.folder import write_dataset

    write_dataset(tmp_path / "synth", SyntheticWorld(domain="target", size=SIZE, length=2, seed=3), progress=False)
    images, _ = load_calibration_set(tmp_path / "synth", size=SIZE, n=8)
    assert images.shape == (2, 3, *SIZE)  # n is capped by what the folder holds


def test_missing_calibration_data(tmp_path):
    with pytest.raises(ExportError, match="does not exist"):
        load_calibration_set(tmp_path / "missing", size=SIZE)
    with pytest.raises(ExportError, match="at least one"):
        as_image_array(np.zeros((0, 3, *SIZE), np.float32))
    with pytest.raises(ExportError, match="at least one"):
        as_image_array([])


def test_iterable_of_images_is_stacked():
    import torch

    out = as_image_array([torch.rand(3, 8, 8), np.random.rand(2, 3, 8, 8)])
    assert out.shape == (3, 3, 8, 8) and out.dtype == np.float32
