"""The in-memory API: DepthStream / run_depth deliver metric depth frame by frame, write nothing, stop cleanly."""
import threading

import numpy as np
import pytest
from helpers.tiny_onnx import export_tiny, reference_depth

from edgedepth.infer import DepthFrame, DepthStream, Frame, run_depth

pytest.importorskip("onnxruntime")
cv2 = pytest.importorskip("cv2")


@pytest.fixture
def model(tmp_path):
    return export_tiny(tmp_path / "tiny.onnx", height=32, width=64)


def test_iterates_every_frame_of_a_video_in_order_with_metric_depth(tmp_path, make_video, model):
    video = make_video(n=7, size=(32, 64))
    with DepthStream(model, video, backend="onnxruntime") as stream:
        frames = list(stream)
    assert [f.index for f in frames] == list(range(7))
    assert all(isinstance(f, DepthFrame) and f.depth.shape == (32, 64) and f.depth.dtype == np.float32 for f in frames)
    assert all(f.image.shape == (32, 64, 3) and f.image.dtype == np.uint8 and f.latency_ms > 0 for f in frames)
    x = np.ascontiguousarray(frames[3].image.transpose(2, 0, 1)[None], np.float32) / 255.0
    np.testing.assert_allclose(frames[3].depth, reference_depth(x)[0, 0], rtol=1e-4)  # the engine's metres
    assert stream.summary["frames"] == 7 and stream.summary["dropped"] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.avi", "tiny.onnx"]  # nothing written


def test_leaving_the_loop_early_stops_the_pipeline_and_closes_the_source(make_video, model):
    video = make_video(n=30, size=(32, 64))
    stream = DepthStream(model, video, backend="onnxruntime", queue_size=1)
    for frame in stream:
        if frame.index == 2:
            break
    assert stream._thread is not None and not stream._thread.is_alive()
    assert stream.summary["frames"] < 30


def test_callback_form_sees_each_frame(make_images, model):
    seen = []
    summary = run_depth(model, make_images(n=4), lambda f: seen.append((f.index, float(f.depth.mean()))), backend="onnxruntime")
    assert [i for i, _ in seen] == [0, 1, 2, 3] and summary["frames"] == 4


class LockstepCamera:
    """A live source that delivers its next frame once the previous one reached the stream's delivery stage
    (so no pipeline stage drops: only a slow caller can)."""

    live = True
    description = "lockstep camera"

    def __init__(self, n):
        self.n, self.i, self.closed, self.delivered = n, 0, False, threading.Semaphore(0)

    def read(self):
        if self.i and not self.delivered.acquire(timeout=30):
            raise AssertionError("the previous frame never reached the delivery stage")
        if self.i == self.n:
            return None
        self.i += 1
        return Frame(self.i - 1, np.full((32, 64, 3), self.i, np.uint8), 0.0)

    def close(self):
        self.closed = True


def test_a_slow_caller_of_a_live_source_gets_the_newest_frames(model):
    camera = LockstepCamera(12)
    stream = DepthStream(model, camera, backend="onnxruntime", queue_size=2)
    write = stream._delivery.write

    def write_then_release(*args, **kwargs):
        write(*args, **kwargs)
        camera.delivered.release()

    stream._delivery.write = write_then_release
    frames = []
    for frame in stream:
        frames.append(frame.index)
        if len(frames) == 1:
            stream._thread.join(timeout=30)  # this caller is busy while the camera delivers all the rest
    assert frames[-2:] == [10, 11] and len(frames) == 3  # one frame, then only the newest that the queue holds
    assert stream.summary["dropped_by_caller"] == 9 and stream.summary["dropped"] == 9 and camera.closed


def test_an_engine_error_reaches_the_caller(make_video, model, monkeypatch):
    from edgedepth.backends.onnxruntime import runner as ort_runner

    def broken(self, x):
        raise RuntimeError("engine fell over")

    monkeypatch.setattr(ort_runner.OnnxRuntimeRunner, "infer", broken)
    with pytest.raises(RuntimeError, match="engine fell over"):
        with DepthStream(model, make_video(n=3, size=(32, 64)), backend="onnxruntime") as stream:
            list(stream)
