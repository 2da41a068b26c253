import shutil

import numpy as np
import pytest
import torch
from helpers.realdata import CX, CY, FX, FY, VK_BASELINE, VK_STEP, write_vkitti2
from PIL import Image

from edgedepth.data.vkitti2 import VirtualKitti2, colors_to_train_ids, load_colors
from edgedepth.errors import DataError


def _message(fn) -> str:
    with pytest.raises(DataError) as info:
        fn()
    return info.value.message()


def test_every_frame_with_intrinsics_depth_and_stereo(vkitti2):
    ds = VirtualKitti2(vkitti2.root, views="stereo")
    assert len(ds) == 3
    sample = ds[1]
    assert sample.name == "Scene01/clone 00001 l" and sample.domain == "vkitti2"
    assert torch.allclose(sample.K, torch.tensor([[FX, 0, CX], [0, FY, CY], [0, 0, 1]]))
    assert sample.image.shape == (3, 24, 80)
    # depth: uint16 centimetres -> metres; the far plane (sky) is unknown
    assert sample.depth.shape == (1, 24, 80)
    assert sample.depth[0, 10, 10].item() == pytest.approx(12.34)
    assert sample.depth[0, 0, 0].item() == 0.0
    (view,) = sample.views
    assert view.kind == "stereo"
    expected = torch.eye(4)
    expected[0, 3] = -VK_BASELINE
    assert torch.allclose(view.T, expected, atol=1e-6)


def test_temporal_poses_from_consecutive_extrinsics(vkitti2):
    ds = VirtualKitti2(vkitti2.root, views="both")
    assert len(ds) == 1  # only frame 1 has a previous and a next frame
    stereo, prev, nxt = ds[0].views
    assert [v.kind for v in (stereo, prev, nxt)] == ["stereo", "temporal", "temporal"]
    assert np.allclose(prev.T[:3, 3].numpy(), [0, 0, VK_STEP], atol=1e-6)
    assert np.allclose(nxt.T[:3, 3].numpy(), [0, 0, -VK_STEP], atol=1e-6)


def test_right_camera_target_and_merged_layout(vkitti2, tmp_path):
    merged = tmp_path / "merged"
    for archive in vkitti2.root.iterdir():
        shutil.copytree(archive, merged, dirs_exist_ok=True)
    split = tmp_path / "split.txt"
    split.write_text("Scene01/clone 00002 r\n")
    sample = VirtualKitti2(merged, split_file=split)[0]
    assert sample.views[0].T[0, 3].item() == pytest.approx(VK_BASELINE)
    assert sample.semantics is not None and sample.depth is not None


def test_class_colours_map_to_cityscapes_train_ids(vkitti2):
    sem = VirtualKitti2(vkitti2.root)[0].semantics
    assert sem.dtype == torch.int64 and sem.shape == (24, 80)
    assert (sem[:4] == 10).all()  # Sky
    assert (sem[4:12, :40] == 0).all()  # Road
    assert (sem[4:12, 40:] == 13).all()  # Van -> car
    assert (sem[12:] == 255).all()  # GuardRail and Undefined -> ignore


def test_colour_table_parsing(tmp_path):
    path = tmp_path / "colors.txt"
    path.write_text("Category r g b\nCar 255 127 80\nPole 255 130 0\n")
    lut = load_colors(path)
    rgb = np.array([[[255, 127, 80], [255, 130, 0]]], dtype=np.uint8)
    assert colors_to_train_ids(rgb, lut).tolist() == [[13, 5]]
    path.write_text("Category r g b\nCar 255 127\n")
    assert "line 2" in _message(lambda: load_colors(path))


def test_a_class_colour_missing_from_the_table_is_an_error_naming_the_png(vkitti2):
    dataset = VirtualKitti2(vkitti2.root, views="stereo")
    record = dataset.records[0]
    class_png = (vkitti2.root / "vkitti_2.0.3_classSegmentation" / record.sequence / "frames" / "classSegmentation"
                 / "Camera_0" / f"classgt_{record.frame:05d}.png")
    classes = np.asarray(Image.open(class_png)).copy()
    classes[0, 0] = (1, 2, 3)
    Image.fromarray(classes).save(class_png)
    msg = _message(lambda: dataset[0])
    assert str(class_png) in msg and "(1, 2, 3)" in msg and "colors.txt" in msg
    assert any(str(class_png) in problem for problem in dataset.problems(progress=False))


def test_depth_and_class_folders_are_optional(vkitti2):
    shutil.rmtree(vkitti2.root / "vkitti_2.0.3_depth")
    shutil.rmtree(vkitti2.root / "vkitti_2.0.3_classSegmentation")
    sample = VirtualKitti2(vkitti2.root)[0]
    assert sample.depth is None and sample.semantics is None


def test_missing_corrupt_and_inconsistent_files_are_named(vkitti2):
    base = vkitti2.root
    ds = VirtualKitti2(base, views="both")
    (base / "vkitti_2.0.3_rgb/Scene01/clone/frames/rgb/Camera_1/rgb_00001.jpg").unlink()
    assert "Camera_1/rgb_00001.jpg" in _message(lambda: ds[0])

    ds = VirtualKitti2(base, views="temporal")
    depth = base / "vkitti_2.0.3_depth/Scene01/clone/frames/depth/Camera_0/depth_00001.png"
    Image.fromarray(np.zeros((12, 40), dtype=np.uint16)).save(depth)
    msg = _message(lambda: ds[0])
    assert "depth_00001.png" in msg and "40x12" in msg
    depth.write_bytes(b"not a png")
    assert "cannot read" in _message(lambda: ds[0])

    extrinsic = base / "vkitti_2.0.3_textgt/Scene01/clone/extrinsic.txt"
    lines = extrinsic.read_text().splitlines()
    extrinsic.write_text("\n".join(line for line in lines if not line.startswith("2 0 ")) + "\n")
    msg = _message(lambda: VirtualKitti2(base, views="temporal")[0])
    assert "extrinsic.txt" in msg and "frame 2" in msg
    extrinsic.write_text(lines[0] + "\n0 0 1 2 3\n")
    assert "line 2" in _message(lambda: VirtualKitti2(base, views="temporal")[0])
    (base / "vkitti_2.0.3_textgt/Scene01/clone/intrinsic.txt").unlink()
    assert "intrinsic.txt" in _message(lambda: VirtualKitti2(base)[0])


def test_empty_root_is_an_error(tmp_path):
    assert "no Virtual KITTI 2 frames" in _message(lambda: VirtualKitti2(tmp_path))
    ns = write_vkitti2(tmp_path / "v", frames=2)
    assert "no Virtual KITTI 2 frames" in _message(lambda: VirtualKitti2(ns.root, views="temporal"))
