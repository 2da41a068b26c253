import numpy as np
import pytest
import torch
from helpers.realdata import CS_BASELINE, CX, CY, FX, FY
from PIL import Image

from edgedepth.data.cityscapes import LABEL_LUT, Cityscapes, disparity_to_depth
from edgedepth.errors import DataError

AACHEN = "train/aachen/aachen_000000_000019"


def _message(fn) -> str:
    with pytest.raises(DataError) as info:
        fn()
    return info.value.message()


def test_sample_has_camera_stereo_depth_and_train_ids(cityscapes):
    ds = Cityscapes(cityscapes.root, split="train")
    assert len(ds) == 1
    sample = ds[0]
    assert sample.name == AACHEN and sample.domain == "cityscapes"
    assert sample.complexity > 0.1  # random-noise fixture images are as cluttered as it gets
    assert torch.allclose(sample.K, torch.tensor([[FX, 0, CX], [0, FY, CY], [0, 0, 1]]))
    (view,) = sample.views
    expected = torch.eye(4)
    expected[0, 3] = -CS_BASELINE
    assert torch.allclose(view.T, expected)
    depth = sample.depth[0]
    assert depth[2, 3].item() == pytest.approx(CS_BASELINE * FX / 10.0, rel=1e-6)
    assert depth[10, 50].item() == pytest.approx(CS_BASELINE * FX / 0.5, rel=1e-6)
    assert depth[11, 50].item() == 0.0 and np.count_nonzero(depth.numpy()) == 2
    sem = sample.semantics
    assert sem.dtype == torch.int64
    assert (sem[:, :20] == 0).all() and (sem[:, 20:40] == 13).all()
    assert (sem[:, 40:60] == 18).all() and (sem[:, 60:] == 255).all()


def test_complexity_proxy_orders_flat_below_busy():
    from edgedepth.data.readers import clutter

    flat, stripes = torch.full((3, 8, 8), 0.5), torch.zeros(3, 8, 8)
    stripes[:, :, ::2] = 1.0
    assert clutter(flat) == 0.0 and clutter(stripes) == pytest.approx(1.0)


def test_disparity_decoding():
    raw = np.array([[0, 1, 257, 1 + 512]], dtype=np.uint16)
    depth = disparity_to_depth(raw, baseline=0.2, fx=1000.0)
    assert depth[0].tolist() == pytest.approx([0.0, 0.0, 200.0, 100.0])


def test_label_table_matches_cityscapes():
    expected = {7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10, 24: 11, 25: 12,
                26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18}
    for label in range(256):
        assert LABEL_LUT[label] == expected.get(label, 255)


def test_split_file_and_val_split(cityscapes, tmp_path):
    assert Cityscapes(cityscapes.root, split="val")[0].name == "val/lindau/lindau_000001_000019"
    split = tmp_path / "split.txt"
    split.write_text(f"{AACHEN}\nval/lindau/lindau_000001_000019\n")
    assert len(Cityscapes(cityscapes.root, split_file=split)) == 2
    split.write_text("aachen_000000_000019\n")
    assert "line 1" in _message(lambda: Cityscapes(cityscapes.root, split_file=split))


def test_temporal_views_are_refused(cityscapes):
    assert "views='stereo'" in _message(lambda: Cityscapes(cityscapes.root, views="temporal"))


def test_bad_camera_file_is_named(cityscapes):
    root = cityscapes.root
    ds = Cityscapes(root)
    camera = root / "camera" / f"{AACHEN}_camera.json"
    camera.write_text('{"intrinsic": {"fx": 1}}')
    msg = _message(lambda: ds[0])
    assert "_camera.json" in msg and "baseline" in msg
    camera.unlink()
    assert "_camera.json" in _message(lambda: ds[0])


def test_bad_maps_are_named(cityscapes):
    root = cityscapes.root
    ds = Cityscapes(root)
    disparity = root / "disparity" / f"{AACHEN}_disparity.png"
    Image.fromarray(np.zeros((24, 81), dtype=np.uint16)).save(disparity)
    msg = _message(lambda: ds[0])
    assert "_disparity.png" in msg and "81x24" in msg
    disparity.unlink()
    assert "_disparity.png" in _message(lambda: ds[0])

    labels = root / "gtFine" / f"{AACHEN}_gtFine_labelIds.png"
    (root / "disparity").rename(root / "disparity_off")
    Image.fromarray(np.zeros((24, 80, 3), dtype=np.uint8)).save(labels)
    msg = _message(lambda: ds[0])
    assert "labelIds" in msg and "single-channel" in msg
    (root / "rightImg8bit" / f"{AACHEN}_rightImg8bit.png").write_bytes(b"")
    assert "_rightImg8bit.png" in _message(lambda: ds[0])


def test_optional_folders_and_bad_root(cityscapes, tmp_path):
    import shutil

    shutil.rmtree(cityscapes.root / "disparity")
    shutil.rmtree(cityscapes.root / "gtFine")
    sample = Cityscapes(cityscapes.root)[0]
    assert sample.depth is None and sample.semantics is None
    assert "leftImg8bit" in _message(lambda: Cityscapes(tmp_path))
