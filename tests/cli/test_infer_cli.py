import json

import cv2
import numpy as np
import pytest

from edgedepth.cli import main as cli

from helpers.engines import write_foreign_engine
from helpers.tiny_onnx import export_tiny


@pytest.fixture(scope="module")
def onnx_file(tmp_path_factory):
    return export_tiny(tmp_path_factory.mktemp("m") / "tiny.onnx")


@pytest.fixture(autouse=True)
def only_infer(monkeypatch):
    monkeypatch.setattr(cli, "COMMAND_MODULES", ["infer"])


@pytest.fixture
def video(tmp_path):
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (96, 48))
    rng = np.random.default_rng(0)
    for _ in range(5):
        writer.write(rng.integers(0, 255, (48, 96, 3), dtype=np.uint8))
    writer.release()
    return path


def test_infer_video_all_outputs(onnx_file, video, tmp_path, capsys):
    out = tmp_path / "out"
    code = cli.main(["infer", "--engine", str(onnx_file), "--source", str(video), "--out", str(out), "--video",
                     "--side-by-side", "--ply", "--fx", "50", "--fy", "50", "--cx", "48", "--cy", "24",
                     "--threads", "1"])
    assert code == 0
    assert sorted(p.name for p in (out / "depth").iterdir()) == [f"{i:06d}.png" for i in range(5)]
    depth = cv2.imread(str(out / "depth/000000.png"), cv2.IMREAD_UNCHANGED)
    assert depth.dtype == np.uint16 and depth.shape == (32, 64) and 500 <= depth.min() <= depth.max() <= 80000
    assert cv2.imread(str(out / "color/000004.png")).shape == (48, 192, 3)
    assert (out / "depth.mp4").is_file() and len(list((out / "ply").iterdir())) == 5
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames"] == 5 and summary["dropped"] == 0 and summary["fps"] > 0
    assert summary["intrinsics"] == {"fx": 50.0, "fy": 50.0, "cx": 48.0, "cy": 24.0}
    assert json.loads(capsys.readouterr().out)["frames"] == 5


def test_infer_image_folder_max_frames(onnx_file, tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"{i}.jpg"), np.full((40, 70, 3), 60 * i, np.uint8))
    out = tmp_path / "out"
    assert cli.main(["infer", "--engine", str(onnx_file), "--source", str(folder), "--out", str(out),
                     "--max-frames", "2", "--no-color"]) == 0
    assert len(list((out / "depth").iterdir())) == 2 and not (out / "color").exists()


@pytest.mark.parametrize("case", ["missing_source", "bad_video", "no_camera", "unwritable_out", "foreign_engine",
                                  "half_k"])
def test_bad_input_fails_before_work(case, onnx_file, video, tmp_path, capsys):
    args = {"engine": str(onnx_file), "source": str(video), "out": str(tmp_path / "out")}
    extra = []
    if case == "missing_source":
        args["source"] = str(tmp_path / "nope.mp4")
    elif case == "bad_video":
        (tmp_path / "bad.mp4").write_text("not a video")
        args["source"] = str(tmp_path / "bad.mp4")
    elif case == "no_camera":
        args["source"] = "63"  # /dev/video63 does not exist on a CI machine
    elif case == "unwritable_out":
        (tmp_path / "afile").write_text("x")
        args["out"] = str(tmp_path / "afile" / "out")
    elif case == "foreign_engine":
        args["engine"] = str(write_foreign_engine(tmp_path / "orin.engine", onnx_file))
    else:
        extra = ["--fx", "100"]
    code = cli.main(["infer", *[f"--{k}={v}" for k, v in args.items()], *extra])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("edgedepth infer: error:") and "Traceback" not in err
    expected = {"missing_source": "source not found", "bad_video": "cannot open", "no_camera": "cannot open camera 63",
                "unwritable_out": "cannot write",
                "foreign_engine": "built for Orin", "half_k": "go together"}[case]
    assert expected in err
    assert not (tmp_path / "out" / "depth").exists() or not list((tmp_path / "out" / "depth").iterdir())
