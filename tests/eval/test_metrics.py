import numpy as np
import pytest
import torch

from edgedepth.errors import ConfigError, DataError
from edgedepth.eval import boundary_mask, confusion_matrix, crop_mask, depth_metrics, miou_from_confusion
from edgedepth.eval.metrics import dilate


def _gt(shape=(2, 1, 8, 12), seed=0):
    return np.random.default_rng(seed).uniform(2.0, 70.0, size=shape)


def test_perfect_prediction():
    gt = _gt()
    m = depth_metrics(gt.copy(), gt)
    assert set(m) == {"abs_rel", "sq_rel", "rmse", "rmse_log", "a1", "a2", "a3"}
    assert m["abs_rel"] == 0 and m["rmse"] == 0 and m["rmse_log"] == 0
    assert m["a1"] == m["a2"] == m["a3"] == 1.0


def test_known_values_by_hand():
    gt = np.array([[10.0, 20.0], [40.0, 5.0]])
    pred = np.array([[12.0, 20.0], [40.0, 5.0]])
    m = depth_metrics(pred, gt)
    assert m["abs_rel"] == pytest.approx(0.2 / 4)
    assert m["sq_rel"] == pytest.approx(4 / 10 / 4)
    assert m["rmse"] == pytest.approx(np.sqrt(4 / 4))
    assert m["rmse_log"] == pytest.approx(np.sqrt(np.log(10 / 12) ** 2 / 4))
    assert m["a1"] == 1.0  # 12/10 = 1.2 < 1.25
    m = depth_metrics(np.array([[13.0, 20.0], [40.0, 5.0]]), gt)
    assert m["a1"] == 0.75 and m["a2"] == 1.0


def test_constant_scale_fixed_by_median_scaling():
    gt = _gt()
    unscaled = depth_metrics(0.5 * gt, gt)
    assert unscaled["abs_rel"] == pytest.approx(0.5)
    assert unscaled["a1"] == 0.0
    m = depth_metrics(0.5 * gt, gt, median_scaling=True)
    assert m["abs_rel"] == pytest.approx(0.0, abs=1e-12)
    assert m["a1"] == 1.0


def test_prediction_clamped_to_range():
    gt = np.full((4, 4), 50.0)
    m = depth_metrics(np.full((4, 4), 500.0), gt, max_depth=80.0)
    assert m["abs_rel"] == pytest.approx(30 / 50)  # 500 clamped to 80


def test_out_of_range_gt_ignored():
    gt = np.array([[10.0, 0.0, 100.0, 60.0]])
    pred = np.array([[10.0, 7.0, 3.0, 1.0]])  # only the 10 m pixel is valid with the 50 m cap
    m = depth_metrics(pred, gt, max_depth=50.0)
    assert m["abs_rel"] == 0.0 and m["a1"] == 1.0
    m80 = depth_metrics(pred, gt, max_depth=80.0)  # 60 m now counts, predicted 1 m
    assert m80["abs_rel"] == pytest.approx((0 + 59 / 60) / 2)


def test_batch_is_mean_of_per_image_metrics():
    gt = _gt((3, 1, 6, 6))
    pred = gt * np.array([1.0, 1.1, 1.5])[:, None, None, None]
    per = [depth_metrics(pred[i], gt[i]) for i in range(3)]
    batch = depth_metrics(pred, gt)
    for k in batch:
        assert batch[k] == pytest.approx(np.mean([p[k] for p in per]))
    # images without valid pixels do not count
    gt[2] = 0
    assert depth_metrics(pred, gt)["abs_rel"] == pytest.approx((per[0]["abs_rel"] + per[1]["abs_rel"]) / 2)


def test_numpy_and_torch_identical():
    gt = _gt((2, 1, 10, 14)).astype(np.float32)
    pred = (gt * np.random.default_rng(1).uniform(0.7, 1.3, gt.shape)).astype(np.float32)
    a = depth_metrics(pred, gt, crop="garg", median_scaling=True)
    b = depth_metrics(torch.from_numpy(pred), torch.from_numpy(gt), crop="garg", median_scaling=True)
    assert a == b
    # leading shapes only need to describe the same images
    c = depth_metrics(torch.from_numpy(pred)[:, 0], torch.from_numpy(gt), crop="garg", median_scaling=True)
    assert a == c


def test_garg_crop_indices_on_kitti_size():
    mask = crop_mask(375, 1242, "garg")
    rows, cols = np.where(mask.any(1))[0], np.where(mask.any(0))[0]
    assert (rows[0], rows[-1] + 1, cols[0], cols[-1] + 1) == (153, 371, 44, 1197)
    assert mask.sum() == (371 - 153) * (1197 - 44)
    assert np.array_equal(crop_mask(375, 1242, (0.40810811, 0.99189189, 0.03594771, 0.96405229)), mask)
    assert np.array_equal(crop_mask(375, 1242, (153, 371, 44, 1197)), mask)


def test_crop_excludes_pixels_outside():
    gt = np.full((10, 10), 10.0)
    pred = gt.copy()
    pred[:5] = 1.0  # wrong only in the top half
    assert depth_metrics(pred, gt, crop=(5, 10, 0, 10))["abs_rel"] == 0.0
    assert depth_metrics(pred, gt)["abs_rel"] > 0


def test_errors():
    gt = _gt((1, 4, 4))
    with pytest.raises(DataError, match="does not match"):
        depth_metrics(np.ones((1, 4, 5)), gt)
    with pytest.raises(DataError, match="no ground-truth pixel"):
        depth_metrics(gt, np.zeros_like(gt))
    with pytest.raises(ConfigError, match="unknown crop"):
        depth_metrics(gt, gt, crop="kitti")
    with pytest.raises(ConfigError, match="invalid"):
        depth_metrics(gt, gt, min_depth=0.0)
    with pytest.raises(ConfigError, match="selects no pixels"):
        crop_mask(4, 4, (3, 2, 0, 4))


def test_miou_hand_made_confusion():
    gt = np.array([[0, 0, 1, 1], [2, 2, 255, 255]])
    pred = np.array([[0, 1, 1, 1], [2, 0, 3, 3]])
    conf = confusion_matrix(pred, gt, num_classes=4)
    expected = np.zeros((4, 4), dtype=np.int64)  # rows gt, columns prediction; gt 255 skipped
    expected[0, 0] = expected[0, 1] = expected[2, 2] = expected[2, 0] = 1
    expected[1, 1] = 2
    assert np.array_equal(conf, expected)
    miou, per_class = miou_from_confusion(conf)
    # class 0: TP 1, FP 1 (gt 2 -> 0), FN 1 -> 1/3; class 1: TP 2, FP 1 -> 2/3; class 2: 1/2; class 3 absent -> excluded
    assert per_class == {"0": pytest.approx(1 / 3), "1": pytest.approx(2 / 3), "2": pytest.approx(0.5), "3": None}
    assert miou == pytest.approx((1 / 3 + 2 / 3 + 0.5) / 3)


def test_miou_cityscapes_names_and_accumulation():
    gt = torch.tensor([[0, 13], [13, 255]])
    conf = confusion_matrix(gt.clone(), gt) + confusion_matrix(torch.tensor([[0, 0], [13, 0]]), gt)
    miou, per_class = miou_from_confusion(conf)
    assert per_class["road"] == pytest.approx(2 / 3) and per_class["car"] == pytest.approx(3 / 4)
    assert per_class["sky"] is None and miou == pytest.approx((2 / 3 + 3 / 4) / 2)
    with pytest.raises(DataError, match="outside"):
        confusion_matrix(np.array([19]), np.array([0]))


def test_boundary_mask_semantic_and_depth():
    sem = np.zeros((6, 8), dtype=np.int64)
    sem[:, 4:] = 1
    sem[0, :] = 255  # ignore pixels never form a boundary
    m0 = boundary_mask(semantics=sem, k=0)
    assert m0[1:, 3:5].all() and m0.sum() == 5 * 2
    m1 = boundary_mask(semantics=sem, k=1)
    assert m1[:, 2:6].all() and m1.sum() == 6 * 4  # dilation reaches row 0 too
    depth = np.full((6, 8), 10.0)
    depth[3:, :] = 10.5  # 5 % jump: below the 10 % threshold
    assert not boundary_mask(depth=depth, k=1).any()
    depth[3:, :] = 20.0
    md = boundary_mask(depth=depth, k=0)
    assert md[2:4].all() and md.sum() == 2 * 8
    depth[3:, 0] = 0.0  # unknown depth is no discontinuity
    assert not boundary_mask(depth=depth, k=0)[2:4, 0].any()
    both = boundary_mask(semantics=sem, depth=depth, k=0)
    assert np.array_equal(both, m0 | boundary_mask(depth=depth, k=0))


def test_dilate_is_chebyshev():
    m = np.zeros((7, 7), dtype=bool)
    m[3, 3] = True
    assert np.array_equal(np.argwhere(dilate(m, 2)).min(0), [1, 1]) and dilate(m, 2).sum() == 25
    assert np.array_equal(dilate(m, 0), m)


def test_metrics_import_without_torch():
    """The deploy half (bench) computes metrics on numpy outputs; importing edgedepth.eval must not pull in torch."""
    import subprocess
    import sys
    from pathlib import Path

    code = "import sys, edgedepth.eval; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])
