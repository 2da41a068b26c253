import socket

import numpy as np
import pytest

from edgedepth.errors import SourceError
from edgedepth.infer.sources import CaptureSource, UnreadableFrame, describe_spec, open_source, opencv_opener

from helpers.images import folder_with_a_truncated_jpeg


class FakeClock:
    """time.monotonic and time.sleep for the back-off: waiting advances the clock, nothing sleeps."""

    def __init__(self):
        self.now, self.waits = 0.0, []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.waits.append(seconds)
        self.now += seconds


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


def test_a_truncated_jpeg_is_unreadable_not_half_an_image(tmp_path):
    import cv2

    cut = folder_with_a_truncated_jpeg(tmp_path / "frames", size=(64, 96)) / "1.jpg"
    folder = cut.parent
    assert cv2.imread(str(cut)) is not None  # OpenCV would have used the half-decoded frame
    src = open_source(str(folder))
    assert src.read().name == "0.jpg"
    with pytest.raises(UnreadableFrame) as e:
        src.read()
    assert (e.value.index, e.value.name) == (1, "1.jpg") and "1.jpg" in e.value.message()
    assert (src.read().index, src.read()) == (2, None)  # the source goes on after a bad frame


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
    clock = FakeClock()
    src = CaptureSource(0, live=True, description="camera 0", opener=lambda t: next(captures),
                        backoff_s=0.5, sleep=clock.sleep, clock=clock)
    assert [src.read().index for _ in range(3)] == [0, 1, 2]
    assert clock.waits == [0.5, 1.0]  # first reopen failed, the second worked


def test_live_source_gives_up_with_clear_error():
    clock = FakeClock()
    src = CaptureSource(0, live=True, description="camera 0", opener=lambda t: FakeCapture(0), connect_timeout_s=0.75,
                        backoff_s=0.1, sleep=clock.sleep, clock=clock)
    with pytest.raises(SourceError, match="lost camera 0") as e:
        src.read()
    assert "3 reconnect attempts over 0.75 s" in e.value.message()
    assert clock.waits == pytest.approx([0.1, 0.2, 0.4])


def _port_with_nothing_listening() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_stream_retries_its_first_connection_with_backoff_then_says_so():
    url = f"rtsp://127.0.0.1:{_port_with_nothing_listening()}/live"
    clock = FakeClock()
    with pytest.raises(SourceError) as e:
        CaptureSource(url, live=True, description=f"stream {url}", opener=opencv_opener("stream", read_timeout_s=1.0),
                      connect_timeout_s=3.5, retry_first_connect=True, backoff_s=0.5, max_backoff_s=1.5,
                      sleep=clock.sleep, clock=clock)
    assert clock.waits == [0.5, 1.0, 1.5]
    assert f"cannot open stream {url}" in e.value.message() and "4 attempts over 3.5 s" in e.value.message()


def test_a_silent_stream_server_is_given_up_after_the_read_timeout():
    with socket.socket() as server:  # accepts connections (the kernel does) and never answers
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        url = f"rtsp://127.0.0.1:{server.getsockname()[1]}/live"
        with pytest.raises(SourceError, match="cannot open stream"):
            open_source(url, connect_timeout_s=0, read_timeout_s=0.5)
        clock = FakeClock()
        with pytest.raises(SourceError, match="2 attempts"):
            CaptureSource(url, live=True, description="stream", opener=opencv_opener("stream", read_timeout_s=0.5),
                          connect_timeout_s=1.0, retry_first_connect=True, backoff_s=0.5, sleep=clock.sleep, clock=clock)
        server.settimeout(30)  # the connections are already queued: accept returns at once
        assert len([server.accept()[0].close() for _ in range(3)]) == 3  # one per attempt, none answered


def test_camera_and_file_open_once_without_retrying():
    clock = FakeClock()
    with pytest.raises(SourceError, match="cannot open camera 5"):
        CaptureSource(5, live=True, description="camera 5", opener=lambda t: FakeCapture(0, opened=False),
                      sleep=clock.sleep, clock=clock)
    assert clock.waits == []


def test_file_source_does_not_reconnect():
    src = CaptureSource("x.mp4", live=False, description="video", opener=lambda t: FakeCapture(1),
                        sleep=lambda s: pytest.fail("files must not wait for reconnects"))
    assert src.read() is not None and src.read() is None


def test_camera_that_does_not_open():
    with pytest.raises(SourceError, match="cannot open camera 7"):
        CaptureSource(7, live=True, description="camera 7", opener=lambda t: FakeCapture(0, opened=False))
