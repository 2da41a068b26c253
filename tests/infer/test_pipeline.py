import json
import os
import signal
import threading

import numpy as np
import pytest

from edgedepth.errors import EngineError
from edgedepth.infer.outputs import OutputWriter
from edgedepth.infer.pipeline import preprocess, run_pipeline
from edgedepth.infer.sources import Frame, open_source


def _writer(tmp_path, **kw):
    return OutputWriter(tmp_path / "out", min_depth=0.5, max_depth=80.0, **kw)


def test_preprocess_shape_and_range():
    x = preprocess(np.full((48, 80, 3), 255, np.uint8), 32, 64)
    assert x.shape == (1, 3, 32, 64) and x.dtype == np.float32 and x.max() == pytest.approx(1.0)


def test_file_source_keeps_every_frame_in_order(tmp_path, make_video, mean_runner):
    src = open_source(str(make_video(n=8)))
    summary = run_pipeline(src, mean_runner(), _writer(tmp_path, color=False), queue_size=1)
    assert summary["frames"] == 8 and summary["dropped"] == 0 and not summary["live"]
    assert summary["fps"] > 0 and set(summary["latency_ms"]) >= {"p50", "p95", "p99"}
    import cv2

    depths = [cv2.imread(str(tmp_path / f"out/depth/{i:06d}.png"), cv2.IMREAD_UNCHANGED)[0, 0] for i in range(8)]
    assert depths == sorted(depths) and depths[0] < depths[-1]  # brighter frames later: order kept
    assert json.loads((tmp_path / "out/summary.json").read_text())["frames"] == 8


def test_max_frames(tmp_path, make_images, mean_runner):
    summary = run_pipeline(open_source(str(make_images(n=4))), mean_runner(), _writer(tmp_path), max_frames=2)
    assert summary["frames"] == 2


class BurstCamera:
    """A live source that delivers ``n`` frames at once, faster than inference, then ends."""

    live = True
    description = "burst camera"

    def __init__(self, n):
        self.n, self.i, self.done = n, 0, threading.Event()

    def read(self):
        if self.i == self.n:
            self.done.set()
            return None
        self.i += 1
        return Frame(self.i - 1, np.full((48, 80, 3), self.i, np.uint8), 0.0)


def test_live_source_drops_oldest(tmp_path, mean_runner):
    cam = BurstCamera(20)
    # Inference is held until the camera has delivered everything, so the capture queue overflows.
    runner = mean_runner(on_infer=lambda calls: cam.done.wait(timeout=30) if calls == 1 else None)
    summary = run_pipeline(cam, runner, _writer(tmp_path, color=False), queue_size=2)
    assert summary["dropped"] > 0
    assert summary["frames"] + summary["dropped"] == 20
    import cv2

    last = cv2.imread(str(tmp_path / f"out/depth/{summary['frames'] - 1:06d}.png"), cv2.IMREAD_UNCHANGED)
    newest = 1 + 10 * 20 / 255  # the newest frame (brightness 20) was kept, not an old one
    assert last[0, 0] == pytest.approx(newest * 1000, abs=2)


def test_ctrl_c_finalises_outputs(tmp_path, make_video, mean_runner):
    stop = threading.Event()

    def ctrl_c_once_then_wait(calls):
        if calls == 2:
            os.kill(os.getpid(), signal.SIGINT)
            assert stop.wait(timeout=30)  # the main thread has handled it: capture is stopping

    with pytest.raises(KeyboardInterrupt):
        run_pipeline(open_source(str(make_video(n=30))), mean_runner(on_infer=ctrl_c_once_then_wait),
                     _writer(tmp_path, video=True), queue_size=2, stop=stop)
    summary = json.loads((tmp_path / "out/summary.json").read_text())
    assert summary["interrupted"] is True and 2 <= summary["frames"] < 30
    assert (tmp_path / "out/depth.mp4").is_file()


def test_runner_error_propagates_after_finalising(tmp_path, make_video, mean_runner):
    def fail(calls):
        if calls == 3:
            raise EngineError("GPU fell off the bus")

    with pytest.raises(EngineError, match="fell off"):
        run_pipeline(open_source(str(make_video(n=10))), mean_runner(on_infer=fail), _writer(tmp_path))
    summary = json.loads((tmp_path / "out/summary.json").read_text())
    assert summary["frames"] <= 2 and "fell off" in summary["error"]
