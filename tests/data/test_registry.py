import numpy as np
import pytest
import torch
from helpers.realdata import CX, FX, KITTI_DATE, KITTI_DRIVE

from edgedepth.data.registry import build_dataset, check_dataset, detect_format
from edgedepth.data.sample import Sample, View
from edgedepth.data.transforms import RandomHorizontalFlip
from edgedepth.errors import DataError


def _message(fn) -> str:
    with pytest.raises(DataError) as info:
        fn()
    return info.value.message()


def test_detect_format(kitti, vkitti2, cityscapes, tmp_path):
    assert detect_format(kitti.root) == "kitti"
    assert detect_format(vkitti2.root) == "vkitti2"
    assert detect_format(cityscapes.root) == "cityscapes"
    (tmp_path / "synth").mkdir()
    (tmp_path / "synth" / "meta.yaml").write_text("format: edgedepth-synth\n")
    assert detect_format(tmp_path / "synth") == "folder"
    (tmp_path / "empty").mkdir()
    msg = _message(lambda: detect_format(tmp_path / "empty"))
    assert "empty" in msg and "docs/datasets.md" in msg
    assert "does not exist" in _message(lambda: detect_format(tmp_path / "nope"))


def test_real_datasets_are_resized_with_exact_intrinsics(kitti, vkitti2, cityscapes):
    ds = build_dataset("kitti", root=kitti.root, split_file=kitti.split, size=(12, 40), views="both")
    assert len(ds) == 2
    sample = ds[0]
    assert isinstance(sample, Sample) and sample.image.shape == (3, 12, 40)
    assert len(sample.views) == 3 and all(v.image.shape == (3, 12, 40) for v in sample.views)
    assert sample.depth.shape == (1, 12, 40)  # annotated PNG for frame 1 left
    assert sample.K[0, 0].item() == pytest.approx(FX / 2) and sample.K[0, 2].item() == pytest.approx((CX + 0.5) / 2 - 0.5)
    vk = build_dataset("vkitti2", root=vkitti2.root, size=(16, 32))  # 24x80 -> cover 16x53 -> crop 16x32
    sample = vk[0]
    assert sample.image.shape == (3, 16, 32) and sample.semantics.shape == (16, 32)
    cs = build_dataset("cityscapes", root=cityscapes.root, split="test", size=(24, 80))
    assert cs[0].name.startswith("val/") and cs[0].image.shape == (3, 24, 80)
    # a dataset folder given as the name is recognised by its layout
    assert len(build_dataset(str(vkitti2.root), size=(24, 80))) == 3


def test_user_transforms_run_after_resizing(vkitti2):
    ds = build_dataset("vkitti2", root=vkitti2.root, size=(24, 80), transforms=[RandomHorizontalFlip(1.0)])
    plain = build_dataset("vkitti2", root=vkitti2.root, size=(24, 80))
    assert torch.equal(ds[0].image, torch.flip(plain[0].image, dims=[-1]))
    assert ds[0].views[0].T[0, 3].item() == pytest.approx(-plain[0].views[0].T[0, 3].item())


def test_synthetic_names():
    ds = build_dataset("synthetic-target", size=(32, 64), length=2, seed=1, views="stereo")
    assert len(ds) == 2
    sample = ds[1]
    assert sample.image.shape == (3, 32, 64) and len(sample.views) == 1


def test_bad_arguments_are_errors(kitti, tmp_path):
    assert "split file" in _message(lambda: build_dataset("kitti", root=kitti.root))
    assert "root" in _message(lambda: build_dataset("cityscapes"))
    assert "unknown dataset" in _message(lambda: build_dataset("imagenet"))
    assert "unknown split" in _message(lambda: build_dataset("kitti", root=kitti.root, split="val"))
    assert "views" in _message(lambda: build_dataset("vkitti2", root=kitti.root, views="all"))
    assert "does not exist" in _message(lambda: build_dataset(str(tmp_path / "missing" / "data")))


def test_synth_folder_is_read_back(tmp_path):
    folder = pytest.importorskip("edgedepth.data.folder")
    image = torch.rand(3, 16, 32)
    sample = Sample(image=image, K=torch.eye(3), views=[View(image.clone(), torch.eye(4))],
                    depth=torch.full((1, 16, 32), 5.0), semantics=torch.zeros(16, 32, dtype=torch.int64), domain="source")
    root = folder.write_dataset(tmp_path / "synth", [sample, sample], progress=False)
    ds = build_dataset(str(root), size=(16, 32))
    assert len(ds) == 2 and ds[1].image.shape == (3, 16, 32)
    assert check_dataset(root, progress=False) == []


def test_check_clean_datasets_finds_nothing(kitti, vkitti2, cityscapes):
    assert check_dataset(kitti.root, split_file=kitti.split, progress=False) == []
    assert check_dataset(kitti.root, progress=False) == []  # every frame of every drive
    assert check_dataset(vkitti2.root, progress=False) == []
    assert check_dataset(cityscapes.root, progress=False) == []


def test_check_names_every_bad_file(kitti, vkitti2, cityscapes):
    drive = kitti.root / KITTI_DRIVE
    (drive / "image_03" / "data" / "0000000001.png").unlink()
    (drive / "oxts" / "data" / "0000000002.txt").write_text("garbage\n")
    problems = check_dataset(kitti.root, split_file=kitti.split, progress=False)
    assert any("image_03/data/0000000001.png" in p for p in problems)
    assert any("oxts/data/0000000002.txt" in p for p in problems)
    assert all("fix:" in p for p in problems)
    (kitti.root / KITTI_DATE / "calib_velo_to_cam.txt").unlink()
    assert any("calib_velo_to_cam.txt" in p for p in check_dataset(kitti.root, progress=False))

    depth = vkitti2.root / "vkitti_2.0.3_depth/Scene01/clone/frames/depth/Camera_0/depth_00002.png"
    depth.write_bytes(depth.read_bytes()[:40])  # truncated PNG
    problems = check_dataset(vkitti2.root, progress=False)
    assert len(problems) == 1 and "depth_00002.png" in problems[0] and "cannot read" in problems[0]

    from PIL import Image

    Image.fromarray(np.zeros((10, 10), dtype=np.uint16)).save(
        cityscapes.root / "disparity/val/lindau/lindau_000001_000019_disparity.png")
    (cityscapes.root / "camera/train/aachen/aachen_000000_000019_camera.json").unlink()
    problems = check_dataset(cityscapes.root, progress=False)
    assert len(problems) == 2
    assert any("aachen_000000_000019_camera.json" in p for p in problems)
    assert any("lindau_000001_000019_disparity.png" in p and "10x10" in p for p in problems)
    assert "does not exist" in check_dataset(kitti.root / "nope", progress=False)[0]
