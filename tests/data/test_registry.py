import numpy as np
import pytest
import torch
from helpers.realdata import CX, FX, KITTI_DATE, KITTI_DRIVE

from edgedepth.data.registry import (
    build_dataset,
    check_dataset,
    check_dataset_name,
    dataset_names,
    detect_format,
    register_dataset,
    resolve_dataset_name,
)
from edgedepth.data.sample import Sample, View
from edgedepth.data.transforms import CenterCrop
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
    ds = build_dataset("vkitti2", root=vkitti2.root, size=(24, 80), transforms=[CenterCrop((20, 40))])
    plain = build_dataset("vkitti2", root=vkitti2.root, size=(24, 80))
    assert torch.equal(ds[0].image, plain[0].image[:, 2:22, 20:60])
    assert ds[0].K[0, 2].item() == pytest.approx(plain[0].K[0, 2].item() - 20)


def test_every_dataset_name_lives_in_the_registry():
    assert set(dataset_names()) == {"synthetic-source", "synthetic-target", "folder", "kitti", "vkitti2", "cityscapes"}
    assert resolve_dataset_name("synthetic", "source") == "synthetic-source"
    assert resolve_dataset_name("synthetic", "target") == "synthetic-target"
    assert resolve_dataset_name("kitti", "target") == "kitti"
    with pytest.raises(ValueError):
        resolve_dataset_name("synthetic", "test")
    with pytest.raises(ValueError, match="twice"):
        register_dataset("kitti", reads_folder=True)(lambda options: None)


def test_a_registered_dataset_is_built_by_name(monkeypatch):
    import edgedepth.data.registry as registry

    made = []
    monkeypatch.setitem(registry._REGISTRY, "toy", registry.DatasetEntry("toy", lambda o: made.append(o) or [o.seed], False))
    assert build_dataset("toy", seed=7) == [7] and made[0].size == (96, 320)
    check_dataset_name("toy", what="data.source")


def test_config_names_are_checked_against_the_registry(tmp_path):
    from edgedepth.config import load_config
    from edgedepth.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        load_config(None, ["data.target=kiti"])
    assert "data.target" in info.value.message() and "kitti" in info.value.fix
    for ok in ("synthetic", "cityscapes", "synthetic-source", str(tmp_path / "my_synth")):
        assert load_config(None, [f"data.source={ok}"]).data.source == ok


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
