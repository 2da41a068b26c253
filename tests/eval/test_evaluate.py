import numpy as np
import pytest
import torch

from edgedepth.data import Sample
from edgedepth.errors import DataError
from edgedepth.eval import depth_metrics, evaluate

H, W = 16, 24


def make_samples(n=5, *, with_depth=True, with_semantics=True):
    """Road (class 0, 60 m at the top to 30 m at the bottom) with a car (class 13, 8 m) in the middle."""
    rows = torch.linspace(60.0, 30.0, H)[:, None].expand(H, W).clone()
    samples = []
    for i in range(n):
        depth = rows.clone()
        sem = torch.zeros(H, W, dtype=torch.int64)
        c0 = 4 + i
        depth[6:12, c0:c0 + 8] = 8.0
        sem[6:12, c0:c0 + 8] = 13
        sem[0, :] = 255
        samples.append(Sample(
            image=torch.rand(3, H, W, generator=torch.Generator().manual_seed(i)),
            K=torch.eye(3),
            depth=depth[None] if with_depth else None,
            semantics=sem if with_semantics else None,
            name=f"s{i}",
        ))  # fmt: skip
    return samples


class Lookup:
    """predict_fn that returns the gt depth of the batch (the dataset order is fixed), times a factor."""

    def __init__(self, samples, factor=1.0):
        self.depth = torch.stack([s.depth for s in samples])
        self.sem = torch.stack([s.semantics for s in samples]).clamp(max=18)
        self.factor, self.seen = factor, 0

    def __call__(self, images):
        out = self.depth[self.seen:self.seen + len(images)] * self.factor
        self.seen += len(images)
        return out

    def logits(self, images):
        lab = self.sem[self.seen - len(images):self.seen]
        return torch.nn.functional.one_hot(lab, 19).permute(0, 3, 1, 2).float()


def test_perfect_prediction_and_miou():
    samples = make_samples()
    fn = Lookup(samples)
    result = evaluate(fn, samples, batch_size=2, semantic_fn=fn.logits, progress=False, grid_samples=3)
    assert result["num_images"] == 5
    assert result["metrics"]["abs_rel"] == 0.0 and result["metrics"]["a1"] == 1.0
    assert result["miou"] == pytest.approx(1.0)
    assert result["per_class_iou"]["car"] == 1.0 and result["per_class_iou"]["sky"] is None
    assert result["boundary"]["num_pixels"] > 0 and result["interior"]["num_pixels"] > result["boundary"]["num_pixels"]
    assert result["boundary"]["num_pixels"] + result["interior"]["num_pixels"] == 5 * H * W
    assert result["bins"]["10-20"] is None  # nothing between the car (8 m) and the road (30-60 m)
    assert sum(b["num_pixels"] for b in result["bins"].values() if b) == 5 * H * W
    assert result["grid"]["image"].shape == (3, 3, H, W) and result["grid"]["pred"].shape == (3, H, W)


def test_biased_prediction_matches_depth_metrics():
    samples = make_samples()
    result = evaluate(Lookup(samples, 1.2), samples, batch_size=3, progress=False)
    assert result["miou"] is None  # no semantic_fn
    gt = torch.stack([s.depth for s in samples])
    assert result["metrics"] == pytest.approx(depth_metrics(gt * 1.2, gt))
    assert result["metrics"]["abs_rel"] == pytest.approx(0.2)
    for b in result["bins"].values():
        assert b is None or b["abs_rel"] == pytest.approx(0.2)
    scaled = evaluate(Lookup(samples, 1.2), samples, median_scaling=True, progress=False)
    assert scaled["metrics"]["abs_rel"] == pytest.approx(0.0, abs=1e-6)  # float32 inputs
    assert scaled["median_scaling"]["ratio_mean"] == pytest.approx(1 / 1.2)


def test_bins_and_boundary_separate_errors():
    """An error only near the car's outline shows up in 'boundary', not 'interior', and in the car's bin."""
    samples = make_samples(2)
    gt = torch.stack([s.depth for s in samples])

    def edge_wrong(images):
        pred = gt.clone()
        for i in range(len(pred)):
            c0 = 4 + i
            pred[i, 0, 6:12, c0] = 16.0  # left column of the car: 2x too far
        return pred

    result = evaluate(edge_wrong, samples, batch_size=2, progress=False, boundary_px=1)
    assert result["interior"]["abs_rel"] == 0.0
    assert result["boundary"]["abs_rel"] > 0.0
    assert result["bins"]["0-10"]["abs_rel"] > 0.0
    assert result["bins"]["20-40"]["abs_rel"] == 0.0


def test_max_depth_cap_drops_far_bin_and_crop():
    samples = make_samples(2)
    result = evaluate(Lookup(samples), samples, max_depth=50.0, crop=(0.75, 1.0, 0.0, 1.0), progress=False)
    assert result["bins"]["40-80"] is None  # the bottom quarter is closer than 40 m
    assert result["settings"]["crop"] == [0.75, 1.0, 0.0, 1.0]


def test_prediction_resized_to_gt():
    samples = make_samples(2)
    result = evaluate(lambda x: torch.full((len(x), 1, H // 2, W // 2), 10.0), samples, progress=False)
    assert result["metrics"] == pytest.approx(depth_metrics(torch.full((2, 1, H, W), 10.0), torch.stack([s.depth for s in samples])))


def test_no_depth_labels_is_refused():
    samples = make_samples(2, with_depth=False)
    with pytest.raises(DataError, match="no image of the dataset"):
        evaluate(lambda x: torch.ones(len(x), 1, H, W), samples, progress=False)


def test_semantics_only_when_labelled():
    samples = make_samples(2, with_semantics=False)
    gt = torch.stack([s.depth for s in samples])
    result = evaluate(lambda x: gt, samples, batch_size=2, semantic_fn=lambda x: torch.zeros(len(x), 19, H, W), progress=False)
    assert result["miou"] is None and result["per_class_iou"] == {}
    assert np.isfinite(result["boundary"]["abs_rel"])  # depth discontinuities still define boundaries
