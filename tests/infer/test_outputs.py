import json

import cv2
import numpy as np
import pytest

from edgedepth.errors import EdgedepthError
from edgedepth.imaging import colorize_depth as colorize
from edgedepth.infer.outputs import Intrinsics, OutputWriter, depth_to_png16, point_cloud_ply
from edgedepth.infer.sources import Frame


def test_png16_is_millimetres():
    depth = np.array([[0.0, 1.2345], [70.0, 100.0]], np.float32)
    mm = cv2.imdecode(np.frombuffer(depth_to_png16(depth), np.uint8), cv2.IMREAD_UNCHANGED)
    assert mm.dtype == np.uint16
    assert mm.tolist() == [[0, 1234], [65535, 65535]] or mm.tolist() == [[0, 1235], [65535, 65535]]


def test_colorize_near_is_brighter():
    depth = np.array([[1.0, 50.0]], np.float32)
    rgb = colorize(depth, min_depth=0.5, max_depth=80.0)
    assert rgb.shape == (1, 2, 3) and rgb.dtype == np.uint8
    assert rgb[0, 0].astype(int).sum() > rgb[0, 1].astype(int).sum()


def test_point_cloud_backprojects():
    depth = np.zeros((2, 3), np.float32)
    depth[1, 2] = 4.0
    rgb = np.full((2, 3, 3), 7, np.uint8)
    data = point_cloud_ply(depth, rgb, Intrinsics(fx=2.0, fy=4.0, cx=1.0, cy=0.0))
    header, body = data.split(b"end_header\n")
    assert b"element vertex 1" in header
    pts = np.frombuffer(body, dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("r", "u1"), ("g", "u1"), ("b", "u1")])
    assert pts["x"][0] == pytest.approx((2 - 1.0) * 4 / 2.0) and pts["y"][0] == pytest.approx(1 * 4 / 4.0)
    assert pts["z"][0] == 4.0 and pts["r"][0] == 7


def test_writer_layout_and_summary(tmp_path):
    w = OutputWriter(tmp_path / "out", min_depth=0.5, max_depth=80.0, video=True, side_by_side=True, ply=True, color_format="png")
    image = np.zeros((48, 80, 3), np.uint8)
    for i in range(3):
        w.write(Frame(i, image, 0.0), np.full((32, 64), 2.0 + i, np.float32), overlay="10.0 FPS  50 ms")
    summary = w.close({"frames": 3})
    out = tmp_path / "out"
    assert sorted(p.name for p in (out / "depth").iterdir()) == ["000000.png", "000001.png", "000002.png"]
    mm = cv2.imread(str(out / "depth/000002.png"), cv2.IMREAD_UNCHANGED)
    assert mm.shape == (32, 64) and mm.dtype == np.uint16 and int(mm[0, 0]) == 4000
    color = cv2.imread(str(out / "color/000000.png"))
    assert color.shape == (48, 160, 3)  # input | depth
    assert (out / "ply/000001.ply").read_bytes().startswith(b"ply\n")
    cap = cv2.VideoCapture(str(out / "depth.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 3
    cap.release()
    assert not list(out.glob(".*"))  # no temporary files left behind
    saved = json.loads((out / "summary.json").read_text())
    assert saved == summary and saved["frames_written"] == 3 and "assumed" in saved["intrinsics"]


def test_writer_refuses_unwritable_folder(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(EdgedepthError, match="cannot write to the output folder"):
        OutputWriter(tmp_path / "afile" / "out", min_depth=0.5, max_depth=80.0)


def test_each_output_is_optional_and_previews_can_be_jpeg(tmp_path):
    image = np.zeros((32, 64, 3), np.uint8)
    w = OutputWriter(tmp_path / "jpg", min_depth=0.5, max_depth=80.0, depth=False)  # previews are JPEG by default
    w.write(Frame(5, image, 0.0), np.full((32, 64), 3.0, np.float32))
    summary = w.close({"frames": 1})
    assert sorted(p.name for p in (tmp_path / "jpg").iterdir()) == ["color", "summary.json"]
    assert cv2.imread(str(tmp_path / "jpg/color/000005.jpg")).shape == (32, 64, 3)
    assert summary["outputs"] == {"color_jpg": str(tmp_path / "jpg/color")}
    nothing = OutputWriter(tmp_path / "none", min_depth=0.5, max_depth=80.0, depth=False, color=False)
    nothing.write(Frame(0, image, 0.0), np.full((32, 64), 3.0, np.float32))
    assert nothing.close({"frames": 1})["frames_written"] == 1
    assert sorted(p.name for p in (tmp_path / "none").iterdir()) == ["summary.json"]
    with pytest.raises(ValueError, match="color_format"):
        OutputWriter(tmp_path / "bad", min_depth=0.5, max_depth=80.0, color_format="bmp")


def test_lookup_colouring_matches_the_ramp():
    from edgedepth.imaging import _MAGMA, colorize

    values = np.linspace(0.0, 1.0, 9)[None]
    assert np.abs(colorize(values, 0.0, 1.0)[0].astype(int) - _MAGMA).max() <= 1  # the ramp's stops, to one level of 256
    assert (colorize(np.array([[np.nan, -5.0, 7.0]]), 0.0, 1.0)[0] == _MAGMA[[0, 0, -1]]).all()
