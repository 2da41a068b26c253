"""Frame sources for `edgedepth infer`: cameras (V4L2, Jetson CSI), RTSP streams, video files, image folders.

``open_source(spec)`` opens the source at once, so a bad source fails before any work starts with
a SourceError. A stream (rtsp://, http://, ...) retries its first connection with exponential
back-off for ``connect_timeout_s``: a camera server that is still booting or a network that drops a
packet is the normal case there; a missing local camera or file fails at once. Live sources
(cameras, streams) that stop delivering frames reconnect the same way, then give up with a
SourceError. A stream's open and each of its reads wait at most ``read_timeout_s`` (a silent server
counts as lost instead of hanging for FFmpeg's 30 s). Files end with ``read() -> None``. An image of a
folder that cannot be decoded completely raises :class:`UnreadableFrame`: the pipeline skips it.
"""
from __future__ import annotations

import contextlib
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TypeVar

import numpy as np

from edgedepth.errors import SourceError
from edgedepth.imaging import IMAGE_SUFFIXES, read_rgb

STREAM_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://")


@dataclass
class Frame:
    """One captured frame: ``image`` [H,W,3] uint8 RGB; ``time`` from ``time.perf_counter()``."""

    index: int
    image: np.ndarray
    time: float
    name: str | None = None  # file name for image folders


class UnreadableFrame(SourceError):
    """One input frame cannot be decoded (the source itself is fine): ``index`` and ``name`` say which."""

    def __init__(self, index: int, name: str, what: str, *, why: str):
        super().__init__(what, why=why, fix="replace or remove the broken file (without --strict it is skipped)")
        self.index, self.name = index, name


def csi_pipeline(sensor_id: int = 0, *, width: int = 1280, height: int = 720, fps: int = 30) -> str:
    """GStreamer pipeline for a Jetson CSI camera (nvarguscamerasrc) ending in a BGR appsink for OpenCV."""
    return (
        f"nvarguscamerasrc sensor-id={sensor_id} ! "
        f"video/x-raw(memory:NVMM), width={width}, height={height}, framerate={fps}/1, format=NV12 ! "
        f"nvvidconv ! video/x-raw, format=BGRx ! videoconvert ! video/x-raw, format=BGR ! "
        f"appsink drop=true max-buffers=1 sync=false"
    )


def describe_spec(spec: str) -> tuple[str, object]:
    """``(kind, target)``: kind is camera, v4l2, csi, gstreamer, stream, images or video."""
    s = str(spec).strip()
    if s.isdigit():
        return "camera", int(s)
    if re.fullmatch(r"/dev/video\d+", s):
        return "v4l2", s
    if m := re.fullmatch(r"csi(?::/?/?)?(\d*)", s):
        return "csi", csi_pipeline(int(m.group(1) or 0))
    if " ! " in s:
        return "gstreamer", s
    if s.lower().startswith(STREAM_SCHEMES):
        return "stream", s
    if Path(s).is_dir():
        return "images", Path(s)
    return "video", Path(s)


class ImageFolderSource:
    """Images of a folder in name order (png, jpg, ...)."""

    live = False

    def __init__(self, folder: Path):
        self.files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.files:
            raise SourceError(f"no images in {folder}", why=f"looked for {', '.join(IMAGE_SUFFIXES)}",
                              fix="point --source at a folder of images, a video file or a camera")
        self.index = 0
        self.description = f"image folder {folder} ({len(self.files)} images)"

    def read(self) -> Frame | None:
        """The next image, numbered by its place in the folder; UnreadableFrame if it cannot be decoded
        completely (a truncated JPEG is never half an image)."""
        if self.index >= len(self.files):
            return None
        index, path = self.index, self.files[self.index]
        self.index += 1
        try:
            image = read_rgb(path)
        except OSError as e:
            raise UnreadableFrame(index, path.name, f"cannot read image {path}", why=str(e)) from None
        return Frame(index, image, time.perf_counter(), path.name)

    def close(self) -> None:
        pass


T = TypeVar("T")


class CaptureSource:
    """An OpenCV VideoCapture: video file (no reconnect) or live camera/stream (reconnect with back-off).

    ``opener`` makes a capture object (``isOpened``, ``read``, ``release``); tests pass fakes.
    ``connect_timeout_s`` bounds each series of connection attempts, with waits of ``backoff_s``,
    2*backoff_s, ... (at most ``max_backoff_s``) between them; ``retry_first_connect`` makes the first
    connection such a series too (streams). ``sleep`` and ``clock`` are time.sleep and time.monotonic
    (tests pass a recorder and a fake clock instead of waiting).
    """

    def __init__(self, target, *, live: bool, description: str, opener: Callable, connect_timeout_s: float = 15.0,
                 retry_first_connect: bool = False, backoff_s: float = 0.5, max_backoff_s: float = 8.0,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic):
        self.target, self.live, self.description = target, live, description
        self.opener, self.connect_timeout_s, self.sleep, self.clock = opener, connect_timeout_s, sleep, clock
        self.backoff_s, self.max_backoff_s = backoff_s, max_backoff_s
        self.index = 0
        self.cap, attempts = self._with_backoff(self._open, wait_first=False) if retry_first_connect else (self._open(), 1)
        if self.cap is None:
            raise SourceError(f"cannot open {description}", why=self._open_failure(attempts),
                              fix="check the path/URL/device (e.g. `ls /dev/video*`), that nothing else uses it, "
                              "and for a stream that the server is up and reachable (--connect-timeout waits longer)")

    def _open_failure(self, attempts: int) -> str:
        if not self.live:
            return "the file is missing or not a video OpenCV can decode"
        if attempts > 1:
            return f"it did not open in {attempts} attempts over {self.connect_timeout_s:g} s"
        return "the device is missing, busy or not a camera, or the stream is unreachable"

    def _open(self):
        """An opened capture, or None."""
        cap = self.opener(self.target)
        if cap.isOpened():
            return cap
        cap.release()
        return None

    def _with_backoff(self, attempt: Callable[[], T | None], *, wait_first: bool) -> tuple[T | None, int]:
        """Call ``attempt`` until it returns something or ``connect_timeout_s`` has passed;
        (its result or None, the number of attempts)."""
        deadline = self.clock() + self.connect_timeout_s
        delay, attempts = self.backoff_s, 0
        while True:
            if wait_first or attempts:
                if self.clock() + delay > deadline:
                    return None, attempts
                self.sleep(delay)
                delay = min(2 * delay, self.max_backoff_s)
            attempts += 1
            result = attempt()
            if result is not None:
                return result, attempts

    def read(self) -> Frame | None:
        ok, bgr = self.cap.read()
        if not ok and self.live:
            bgr = self._reconnect()
        elif not ok:
            return None
        import cv2

        frame = Frame(self.index, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), time.perf_counter())
        self.index += 1
        return frame

    def _reopen_and_read(self):
        """The first frame of a reopened live source, or None (it did not open, or sent nothing)."""
        cap = self._open()
        if cap is None:
            return None
        ok, bgr = cap.read()
        if not ok:
            cap.release()
            return None
        self.cap = cap
        return bgr

    def _reconnect(self):
        """Reopen the live source, waiting backoff, 2*backoff, 4*backoff, ... between attempts."""
        self.cap.release()
        bgr, attempts = self._with_backoff(self._reopen_and_read, wait_first=True)
        if bgr is None:
            raise SourceError(f"lost {self.description}",
                              why=f"no frames after {attempts} reconnect attempts over {self.connect_timeout_s:g} s",
                              fix="check the cable/network and that the camera is powered, then run again "
                              "(--connect-timeout waits longer)")
        return bgr

    def close(self) -> None:
        self.cap.release()


def opencv_opener(kind: str, *, read_timeout_s: float = 5.0) -> Callable:
    """A function target -> cv2.VideoCapture for a source of this kind (streams wait at most read_timeout_s)."""
    import cv2

    # OpenCV prints its own warnings for every failed open; our SourceError says what to do instead.
    with contextlib.suppress(AttributeError):
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    if kind == "camera":
        def open_camera(index):
            cap = cv2.VideoCapture(index, cv2.CAP_V4L2)
            return cap if cap.isOpened() else cv2.VideoCapture(index)  # not Linux: the default backend
        return open_camera
    if kind == "v4l2":
        return lambda t: cv2.VideoCapture(t, cv2.CAP_V4L2)
    if kind in ("csi", "gstreamer"):
        return lambda t: cv2.VideoCapture(t, cv2.CAP_GSTREAMER)
    if kind == "stream":
        ms = int(read_timeout_s * 1000)
        timeouts = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms]
        return lambda t: cv2.VideoCapture(str(t), cv2.CAP_FFMPEG, timeouts)
    return lambda t: cv2.VideoCapture(str(t))


def open_source(spec: str, *, connect_timeout_s: float = 15.0, read_timeout_s: float = 5.0, backoff_s: float = 0.5):
    """Open ``spec`` (``0``, ``/dev/video0``, ``csi://0``, a GStreamer pipeline, ``rtsp://...``, a video
    file or an image folder). Raises SourceError naming the source when it cannot be read."""
    kind, target = describe_spec(spec)
    if kind == "images":
        return ImageFolderSource(target)
    if kind == "video" and not Path(target).is_file():
        raise SourceError(f"source not found: {spec}",
                          fix="give a camera index (0), /dev/videoN, csi://0, rtsp://..., a video file or a folder")
    if connect_timeout_s < 0 or read_timeout_s <= 0:
        raise SourceError(f"unusable timeouts: connect {connect_timeout_s:g} s, read {read_timeout_s:g} s",
                          fix="pass --connect-timeout 0 or more (0: one attempt) and --read-timeout above 0")
    try:
        import cv2  # noqa: F401 - a clear message when the camera extra is missing
    except ImportError as e:
        raise SourceError("OpenCV is needed for cameras and videos", why=str(e),
                          fix="pip install 'edgedepth[camera]'") from e
    return CaptureSource(target, live=kind != "video", description=f"{kind} {spec}",
                         opener=opencv_opener(kind, read_timeout_s=read_timeout_s), connect_timeout_s=connect_timeout_s,
                         retry_first_connect=kind == "stream", backoff_s=backoff_s)
