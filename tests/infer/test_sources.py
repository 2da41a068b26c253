import numpy as np
import pytest

from edgedepth.errors import SourceError
from edgedepth.infer.sources import CaptureSource, describe_spec, open_source


def test_describe_spec_kinds(tmp_path):
    assert describe_spec("0") == ("camera", 0)
    assert describe_spec("/dev/video2") == ("v4l2", "/dev/video2")
    assert describe_spec("rtsp://cam.local:554/stream")[0] == "stream"
    kind, pipeline = describe_spec("csi://1")
    assert kind == "csi" and "nvarguscamerasrc sensor-id=1" in pipeline and pipeline.endswith("sync=false")
    assert describe_spec("videotestsrc ! videoconvert ! appsink")[0] == "gstreamer"
    assert describe_spec(str(tmp_path)) == ("images", tmp_path)
    assert describe_spec("clip.mp4")[0] == "video"


def test_video_file_frames_in_order(make_video):
    src = open_source(str(make_video(n=5)))
    frames = []
    while (f := src.read()) is not None:
        frames.append(f)
    src.close()
    assert [f.index for f in frames] == [0, 1, 2, 3, 4] and not src.live
    means = [f.image.mean() for f in frames]
    assert means == sorted(means) and abs(means[0] - 20) < 4 and frames[0].image.shape == (48, 80, 3)


def test_mp4_video(make_video):
    src = open_source(str(make_video(n=3, name="clip.mp4", fourcc="mp4v")))
    assert sum(1 for _ in iter(src.read, None)) == 3


def test_image_folder_sorted_and_skips_non_images(make_images):
    src = open_source(str(make_images(n=3)))
    frames = list(iter(src.read, None))
    assert [f.name for f in frames] == ["img_000.png", "img_001.png", "img_002.png"]
    assert frames[0].image.dtype == np.uint8 and frames[0].image.shape == (48, 80, 3)


def test_bad_sources_fail_at_open(tmp_path):
    with pytest.raises(SourceError, match="not found"):
        open_source(str(tmp_path / "missing.mp4"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match="no images"):
        open_source(str(tmp_path / "empty"))
    bad = tmp_path / "bad.mp4"
    bad.write_text("this is not a video")
    with pytest.raises(SourceError, match="cannot open"):
        open_source(str(bad))


class FakeCapture:
    """A camera that delivers ``frames`` frames and then fails, like an unplugged USB camera."""

    def __init__(self, frames: int, opened: bool = True):
        self.frames, self.opened = frames, opened

    def isOpened(self):
        return self.opened

    def read(self):
        if self.frames <= 0:
            return False, None
        self.frames -= 1
        return True, np.zeros((4, 6, 3), np.uint8)

    def release(self):
        pass


def test_live_source_reconnects_with_backoff():
    captures = iter([FakeCapture(1), FakeCapture(0, opened=False), FakeCapture(2)])
    waits = []
    src = CaptureSource(0, live=True, description="camera 0", opener=lambda t: next(captures),
                        backoff_s=0.5, sleep=waits.append)
    assert [src.read().index for _ in range(3)] == [0, 1, 2]
    assert waits == [0.5, 1.0]  # first reopen failed, the second worked


def test_live_source_gives_up_with_clear_error():
    waits = []
    src = CaptureSource(0, live=True, description="camera 0", opener=lambda t: FakeCapture(0), retries=3,
                        backoff_s=0.1, sleep=waits.append)
    with pytest.raises(SourceError, match="lost camera 0") as e:
        src.read()
    assert "3 reconnect attempts" in e.value.message()
    assert waits == pytest.approx([0.1, 0.2, 0.4])


def test_file_source_does_not_reconnect():
    src = CaptureSource("x.mp4", live=False, description="video", opener=lambda t: FakeCapture(1),
                        sleep=lambda s: pytest.fail("files must not wait for reconnects"))
    assert src.read() is not None and src.read() is None


def test_camera_that_does_not_open():
    with pytest.raises(SourceError, match="cannot open camera 7"):
        CaptureSource(7, live=True, description="camera 7", opener=lambda t: FakeCapture(0, opened=False))
