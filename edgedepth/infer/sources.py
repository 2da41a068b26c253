"""Frame sources for `edgedepth infer`: cameras (V4L2, Jetson CSI), RTSP streams, video files, image folders.

``open_source(spec)`` opens the source at once, so a bad source fails before any work starts with
a SourceError. Live sources (cameras, streams) reconnect with exponential back-off when frames
stop, then give up with a SourceError; files end with ``read() -> None``.
"""
from __future__ import annotations

import contextlib
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from edgedepth.errors import SourceError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
STREAM_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://")


@dataclass
class Frame:
    """One captured frame: ``image`` [H,W,3] uint8 RGB; ``time`` from ``time.perf_counter()``."""

    index: int
    image: np.ndarray
    time: float
    name: str | None = None  # file name for image folders


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
        import cv2

        if self.index >= len(self.files):
            return None
        path = self.files[self.index]
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise SourceError(f"cannot read image {path}", fix="remove or replace the broken file")
        frame = Frame(self.index, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), time.perf_counter(), path.name)
        self.index += 1
        return frame

    def close(self) -> None:
        pass


class CaptureSource:
    """An OpenCV VideoCapture: video file (no reconnect) or live camera/stream (reconnect with back-off).

    ``opener`` makes a capture object (``isOpened``, ``read``, ``release``); tests pass fakes.
    ``sleep`` waits between reconnect attempts (tests pass a recorder instead of waiting).
    """

    def __init__(self, target, *, live: bool, description: str, opener: Callable, retries: int = 5,
                 backoff_s: float = 0.5, sleep: Callable[[float], None] = time.sleep):
        self.target, self.live, self.description = target, live, description
        self.opener, self.retries, self.backoff_s, self.sleep = opener, retries, backoff_s, sleep
        self.index = 0
        self.cap = opener(target)
        if not self.cap.isOpened():
            self.cap.release()
            raise SourceError(f"cannot open {description}",
                              why="the file is missing or not a video OpenCV can decode" if not live
                              else "the device is missing, busy or not a camera, or the stream is unreachable",
                              fix="check the path/URL/device (e.g. `ls /dev/video*`) and that nothing else uses it")

    def read(self) -> Frame | None:
        ok, bgr = self.cap.read()
        if not ok and self.live:
            ok, bgr = self._reconnect()
        if not ok:
            return None
        import cv2

        frame = Frame(self.index, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), time.perf_counter())
        self.index += 1
        return frame

    def _reconnect(self):
        """Reopen the live source, waiting backoff, 2*backoff, 4*backoff, ... between attempts."""
        for attempt in range(self.retries):
            self.sleep(self.backoff_s * 2**attempt)
            self.cap.release()
            self.cap = self.opener(self.target)
            if self.cap.isOpened():
                ok, bgr = self.cap.read()
                if ok:
                    return ok, bgr
        raise SourceError(f"lost {self.description}",
                          why=f"no frames after {self.retries} reconnect attempts",
                          fix="check the cable/network and that the camera is powered, then run again")

    def close(self) -> None:
        self.cap.release()


def _opencv_opener(kind: str):
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
    return lambda t: cv2.VideoCapture(str(t))


def open_source(spec: str, *, retries: int = 5, backoff_s: float = 0.5):
    """Open ``spec`` (``0``, ``/dev/video0``, ``csi://0``, a GStreamer pipeline, ``rtsp://...``, a video
    file or an image folder). Raises SourceError naming the source when it cannot be read."""
    kind, target = describe_spec(spec)
    if kind == "images":
        return ImageFolderSource(target)
    if kind == "video" and not Path(target).is_file():
        raise SourceError(f"source not found: {spec}",
                          fix="give a camera index (0), /dev/videoN, csi://0, rtsp://..., a video file or a folder")
    try:
        import cv2  # noqa: F401 - a clear message when the camera extra is missing
    except ImportError as e:
        raise SourceError("OpenCV is needed for cameras and videos", why=str(e),
                          fix="pip install 'edgedepth[camera]'") from e
    live = kind != "video"
    return CaptureSource(target, live=live, description=f"{kind} {spec}", opener=_opencv_opener(kind),
                         retries=retries, backoff_s=backoff_s)
