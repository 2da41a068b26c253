import numpy as np
import pytest
import torch
from helpers.realdata import CX, CY, FX, FY, KITTI_DATE, KITTI_DRIVE, write_kitti

from edgedepth.data.kitti import KittiRaw, project_velodyne
from edgedepth.errors import DataError


def _rot(axis: int, angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    i, j = [a for a in range(3) if a != axis]
    R = np.eye(3)
    R[i, i], R[i, j], R[j, i], R[j, j] = c, -s, s, c
    return R


def test_intrinsics_and_stereo_pose_from_calibration(kitti):
    ds = KittiRaw(kitti.root, split_file=kitti.split, views="stereo", gt="none")
    assert len(ds) == 2
    left, right = ds[0], ds[1]
    expected_K = torch.tensor([[FX, 0, CX], [0, FY, CY], [0, 0, 1]])
    assert torch.allclose(left.K, expected_K)
    assert left.image.shape == (3, 24, 80) and left.image.dtype == torch.float32
    assert left.depth is None and left.views[0].kind == "stereo"
    # left target: the right camera is 0.54 m to the right -> points move by t3 - t2 (x = -0.54)
    T = left.views[0].T
    assert torch.allclose(T[:3, :3], torch.eye(3), atol=1e-6)
    assert np.allclose(T[:3, 3].numpy(), kitti.t3 - kitti.t2, atol=1e-5)
    assert T[0, 3] == pytest.approx(-0.54, abs=1e-5)
    assert np.allclose(right.views[0].T[:3, 3].numpy(), kitti.t2 - kitti.t3, atol=1e-5)
    # the 'r' entry's target is image_03, its partner image_02
    assert torch.equal(right.image, left.views[0].image) and torch.equal(right.views[0].image, left.image)


@pytest.mark.parametrize("yaw", [0.0, 0.7, -2.5])
@pytest.mark.parametrize("tilted_rect", [False, True])
def test_oxts_constant_forward_motion_gives_forward_translation(tmp_path, yaw, tilted_rect):
    R_rect = _rot(0, 0.02) @ _rot(1, -0.01) if tilted_rect else np.eye(3)
    ns = write_kitti(tmp_path / "k", yaw=yaw, step=1.5, R_rect=R_rect)
    split = tmp_path / "split.txt"
    split.write_text(f"{KITTI_DRIVE} 0000000001 l\n")
    sample = KittiRaw(ns.root, split_file=split, views="temporal", gt="none")[0]
    assert [v.kind for v in sample.views] == ["temporal", "temporal"]
    prev, nxt = (v.T.double().numpy() for v in sample.views)
    # the IMU x axis (forward) in camera coordinates
    forward = R_rect @ ns.R_velo @ np.array([1.0, 0.0, 0.0])
    assert np.allclose(prev[:3, :3], np.eye(3), atol=1e-6) and np.allclose(nxt[:3, :3], np.eye(3), atol=1e-6)
    # the next camera is 1.5 m ahead: the scene moves 1.5 m towards us in its frame
    assert np.allclose(nxt[:3, 3], -1.5 * forward, atol=2e-3)
    assert np.allclose(prev[:3, 3], 1.5 * forward, atol=2e-3)
    if not tilted_rect:
        assert np.allclose(nxt[:3, 3], [0, 0, -1.5], atol=2e-3)


def test_both_views_order_is_stereo_then_prev_next(kitti):
    sample = KittiRaw(kitti.root, split_file=kitti.split, views="both", gt="none")[0]
    assert [v.kind for v in sample.views] == ["stereo", "temporal", "temporal"]


def test_velodyne_projection_keeps_nearest_point_at_the_right_pixel(kitti):
    sample = KittiRaw(kitti.root, split_file=kitti.split, views="stereo", gt="velodyne")[0]
    depth = sample.depth[0].numpy()
    near, far, behind, other = kitti.cam2_points
    for point in (near, other):
        u, v = FX * point[0] / point[2] + CX, FY * point[1] / point[2] + CY
        assert depth[int(round(v)), int(round(u))] == pytest.approx(point[2], abs=1e-4)
    assert np.count_nonzero(depth) == 2  # the far point is hidden, the point behind is dropped
    # the same pixels as monodepth2's P_rect @ R_rect @ Tr_velo_to_cam
    homog = np.hstack([kitti.velo[:, :3], np.ones((4, 1))]).astype(np.float64)
    projected = (kitti.P2 @ kitti.velo_to_rect @ homog.T).T
    u = np.round(projected[0, 0] / projected[0, 2]).astype(int)
    v = np.round(projected[0, 1] / projected[0, 2]).astype(int)
    assert depth[v, u] == pytest.approx(projected[0, 2], abs=1e-4)


def test_project_velodyne_ignores_points_outside_the_image():
    T = np.eye(4)
    K = np.array([[10.0, 0, 4], [0, 10, 3], [0, 0, 1]])
    points = np.array([[0.0, 0.0, 5.0], [100.0, 0.0, 5.0], [0.0, 0.0, 3.0]])
    depth = project_velodyne(points, T, K, (7, 9))
    assert depth[3, 4] == pytest.approx(3.0) and np.count_nonzero(depth) == 1


def test_annotated_depth_png_is_value_over_256(kitti, tmp_path):
    split = tmp_path / "left_only.txt"
    split.write_text(f"{KITTI_DRIVE} 0000000001 l\n")
    ds = KittiRaw(kitti.root, split_file=split)  # auto -> annotated, since the PNG exists
    assert ds.gt == "annotated"
    depth = ds[0].depth[0].numpy()
    assert depth[5, 7] == pytest.approx(12.5) and depth[20, 60] == pytest.approx(1.0)
    assert np.count_nonzero(depth) == 2


def test_auto_falls_back_to_velodyne_and_jpg_images_are_read(kitti):
    drive = kitti.root / KITTI_DRIVE
    for png in (drive / "image_02" / "data").glob("*.png"):
        from PIL import Image

        Image.open(png).save(png.with_suffix(".jpg"))
        png.unlink()
    ds = KittiRaw(kitti.root, split_file=kitti.split, depth_root=kitti.root / "elsewhere")
    assert ds.gt == "velodyne"
    assert ds[0].image.shape == (3, 24, 80)


def test_all_frames_without_split_file(kitti):
    assert len(KittiRaw(kitti.root, views="stereo")) == 3
    assert len(KittiRaw(kitti.root, views="temporal")) == 1  # only frame 1 has both neighbours


def _message(fn) -> str:
    with pytest.raises(DataError) as info:
        fn()
    return info.value.message()


def test_missing_image_is_named(kitti):
    (kitti.root / KITTI_DRIVE / "image_03" / "data" / "0000000001.png").unlink()
    msg = _message(lambda: KittiRaw(kitti.root, split_file=kitti.split, gt="none")[0])
    assert "image_03/data/0000000001.png" in msg and "missing" in msg and "fix:" in msg


def test_corrupt_neighbour_image_is_named(kitti):
    (kitti.root / KITTI_DRIVE / "image_02" / "data" / "0000000002.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    msg = _message(lambda: KittiRaw(kitti.root, split_file=kitti.split, views="temporal", gt="none")[0])
    assert "image_02/data/0000000002.png" in msg and "cannot read" in msg


def test_bad_oxts_and_missing_imu_calibration_are_named(kitti):
    ds = KittiRaw(kitti.root, split_file=kitti.split, views="temporal", gt="none")
    oxts = kitti.root / KITTI_DRIVE / "oxts" / "data" / "0000000000.txt"
    oxts.write_text("1.0 2.0\n")
    assert "oxts/data/0000000000.txt" in _message(lambda: ds[0])
    oxts.unlink()
    assert "oxts/data/0000000000.txt" in _message(lambda: ds[0])
    (kitti.root / KITTI_DATE / "calib_imu_to_velo.txt").unlink()
    msg = _message(lambda: KittiRaw(kitti.root, split_file=kitti.split, views="temporal", gt="none")[0])
    assert "calib_imu_to_velo.txt" in msg


def test_truncated_velodyne_scan_and_missing_calibration_are_named(kitti):
    (kitti.root / KITTI_DRIVE / "velodyne_points" / "data" / "0000000001.bin").write_bytes(b"0123456789")
    msg = _message(lambda: KittiRaw(kitti.root, split_file=kitti.split, gt="velodyne")[0])
    assert "velodyne_points/data/0000000001.bin" in msg and "multiple of 16" in msg
    (kitti.root / KITTI_DATE / "calib_cam_to_cam.txt").unlink()
    msg = _message(lambda: KittiRaw(kitti.root, split_file=kitti.split, gt="none")[0])
    assert "calib_cam_to_cam.txt" in msg and "calib.zip" in msg


def test_calibration_with_a_missing_entry_is_named(kitti):
    path = kitti.root / KITTI_DATE / "calib_cam_to_cam.txt"
    path.write_text("\n".join(line for line in path.read_text().splitlines() if not line.startswith("P_rect_03")))
    msg = _message(lambda: KittiRaw(kitti.root, split_file=kitti.split, gt="none")[0])
    assert "P_rect_03" in msg and "calib_cam_to_cam.txt" in msg


def test_bad_split_line_and_size_mismatch(kitti, tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text(f"{KITTI_DRIVE} 0000000001 l\n{KITTI_DRIVE} frame_one l\n")
    assert "line 2" in _message(lambda: KittiRaw(kitti.root, split_file=bad))
    assert "split file" in _message(lambda: KittiRaw(kitti.root, split_file=tmp_path / "nope.txt"))

    from PIL import Image

    gt = (kitti.root / "data_depth_annotated" / "train" / "2011_09_26_drive_0001_sync" / "proj_depth" / "groundtruth"
          / "image_02" / "0000000001.png")
    Image.fromarray(np.zeros((10, 10), dtype=np.uint16)).save(gt)
    split = tmp_path / "left_only.txt"
    split.write_text(f"{KITTI_DRIVE} 0000000001 l\n")
    msg = _message(lambda: KittiRaw(kitti.root, split_file=split, gt="annotated")[0])
    assert "10x10" in msg and "80x24" in msg
    Image.fromarray(np.zeros((24, 80), dtype=np.uint8)).save(gt)
    assert "16-bit" in _message(lambda: KittiRaw(kitti.root, split_file=split, gt="annotated")[0])


def test_oxts_mercator_positions_are_metric():
    """Independent of the fixtures: small latitude/longitude steps give the spherical-earth distances."""
    from edgedepth.data.geometry import mercator_scale, oxts_pose

    lat, lon, radius = 49.0, 8.4, 6378137.0
    scale = mercator_scale(lat)
    base = oxts_pose(np.array([lat, lon, 100.0, 0, 0, 0]), mercator_scale=scale)
    north = oxts_pose(np.array([lat + 1e-5, lon, 100.0, 0, 0, 0]), mercator_scale=scale)
    east = oxts_pose(np.array([lat, lon + 1e-5, 101.0, 0, 0, 0]), mercator_scale=scale)
    step = radius * np.radians(1e-5)
    assert np.allclose(north[:3, 3] - base[:3, 3], [0, step, 0], rtol=1e-4, atol=1e-6)
    assert np.allclose(east[:3, 3] - base[:3, 3], [step * np.cos(np.radians(lat)), 0, 1.0], rtol=1e-4, atol=1e-6)
    # yaw 90 degrees: the IMU's forward axis (x) points north
    turned = oxts_pose(np.array([lat, lon, 100.0, 0, 0, np.pi / 2]), mercator_scale=scale)
    assert np.allclose(turned[:3, :3] @ [1, 0, 0], [0, 1, 0], atol=1e-12)


def test_split_line_without_its_date_folder_is_a_bad_line_not_a_missing_calibration(kitti, tmp_path):
    split = tmp_path / "split.txt"
    split.write_text(f"{KITTI_DRIVE} 0000000001 l\n{KITTI_DRIVE.split('/')[1]} 0000000001 l\n")
    with pytest.raises(DataError) as err:
        KittiRaw(kitti.root, split_file=split)
    msg = err.value.message()
    assert "split.txt, line 2" in msg and "not a KITTI split entry" in msg and "calib" not in msg
