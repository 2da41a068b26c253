import json
import os
import signal
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgedepth.cli import main as cli

from helpers.engines import write_foreign_engine
from helpers.images import folder_with_a_truncated_jpeg
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
    assert cv2.imread(str(out / "color/000004.jpg")).shape == (48, 192, 3)
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
                                  "foreign_onnx", "half_k", "previous_run"])
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
    elif case == "foreign_onnx":  # no depth range in its metadata: its output cannot be written as metres
        args["engine"] = str(export_tiny(tmp_path / "foreign.onnx", drop=("min_depth", "max_depth")))
    elif case == "previous_run":
        (tmp_path / "out" / "depth").mkdir(parents=True)
        (tmp_path / "out" / "summary.json").write_text("{}")
    else:
        extra = ["--fx", "100"]
    code = cli.main(["infer", *[f"--{k}={v}" for k, v in args.items()], *extra])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("edgedepth infer: error:") and "Traceback" not in err
    expected = {"missing_source": "source not found", "bad_video": "cannot open", "no_camera": "cannot open camera 63",
                "unwritable_out": "cannot write",
                "foreign_engine": "built for Orin", "foreign_onnx": "lacks the metadata min_depth, max_depth",
                "half_k": "go together", "previous_run": "--overwrite"}[case]
    assert expected in err
    assert not (tmp_path / "out" / "depth").exists() or not list((tmp_path / "out" / "depth").iterdir())


def test_a_truncated_jpeg_is_skipped_with_a_warning_and_a_count(onnx_file, tmp_path, caplog):
    out = tmp_path / "out"
    code = cli.main(["infer", "--engine", str(onnx_file), "--source", str(folder_with_a_truncated_jpeg(tmp_path / "imgs")),
                     "--out", str(out), "--no-color"])
    assert code == 0 and "skipped frame 1 (1.jpg)" in caplog.text  # logged: stderr unless logging is configured
    assert sorted(p.name for p in (out / "depth").iterdir()) == ["000000.png", "000002.png"]  # named by input
    summary = json.loads((out / "summary.json").read_text())
    assert summary["skipped"] == 1 and summary["skipped_frames"][0]["name"] == "1.jpg" and summary["frames"] == 2


def test_strict_stops_at_a_truncated_jpeg(onnx_file, tmp_path, capsys):
    code = cli.main(["infer", "--engine", str(onnx_file), "--source", str(folder_with_a_truncated_jpeg(tmp_path / "imgs")),
                     "--out", str(tmp_path / "out"), "--strict"])
    err = capsys.readouterr().err
    assert code == 2 and "cannot read image" in err and "1.jpg" in err and "Traceback" not in err


def test_overwrite_replaces_a_previous_run(onnx_file, video, tmp_path):
    out = tmp_path / "out"
    args = ["infer", "--engine", str(onnx_file), "--source", str(video), "--out", str(out), "--no-color"]
    assert cli.main([*args, "--max-frames", "3"]) == 0
    assert cli.main(args) == 2
    assert cli.main([*args, "--max-frames", "2", "--overwrite"]) == 0
    assert sorted(p.name for p in (out / "depth").iterdir()) == ["000000.png", "000001.png"]


class SignalAfter:
    """A live source with endless frames that sends ``signum`` to this process at frame ``at``."""

    live, description = True, "signalling camera"

    def __init__(self, signum, at=3):
        self.signum, self.at, self.i = signum, at, 0

    def read(self):
        from edgedepth.infer.sources import Frame

        self.i += 1
        if self.i == self.at:
            assert signal.getsignal(self.signum) not in (signal.SIG_DFL, signal.SIG_IGN), "the signal would kill or be lost"
            os.kill(os.getpid(), self.signum)
        return Frame(self.i - 1, np.full((48, 96, 3), 90, np.uint8), time.perf_counter())

    def close(self):
        pass


@pytest.mark.timeout(120)  # a backstop: the run ends on the signal, never on time
def test_sigterm_ends_infer_like_ctrl_c_with_outputs_finalised(onnx_file, tmp_path, monkeypatch, capsys):
    import edgedepth.infer

    monkeypatch.setattr(edgedepth.infer, "open_source", lambda spec, **kw: SignalAfter(signal.SIGTERM))
    previous = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        code = cli.main(["infer", "--engine", str(onnx_file), "--source", "0", "--out", str(tmp_path / "out")])
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert code == 130 and "interrupted" in capsys.readouterr().err
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["interrupted"] is True
