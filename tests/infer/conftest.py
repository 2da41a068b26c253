from types import SimpleNamespace

import cv2
import numpy as np
import pytest


def frame_image(i: int, h: int = 48, w: int = 80) -> np.ndarray:
    """A BGR frame whose brightness encodes its index (10 * i + 20, wrapping after 23 frames), so order can be checked."""
    return np.full((h, w, 3), (20 + 10 * i) % 250, np.uint8)


@pytest.fixture
def make_video(tmp_path):
    def make(n=6, name="clip.avi", fourcc="MJPG", size=(48, 80)):
        path = tmp_path / name
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 10.0, (size[1], size[0]))
        assert writer.isOpened()
        for i in range(n):
            writer.write(frame_image(i, *size))
        writer.release()
        return path
    return make


@pytest.fixture
def make_images(tmp_path):
    def make(n=4, folder="frames"):
        d = tmp_path / folder
        d.mkdir()
        for i in range(n):
            cv2.imwrite(str(d / f"img_{i:03d}.png"), frame_image(i))
        (d / "notes.txt").write_text("not an image")
        return d
    return make


class MeanRunner:
    """Fake runner: depth (metres) = 1 + mean brightness of the input in [0,1] * 10, at 32x64."""

    backend, precision = "fake", "fp32"
    input_spec = SimpleNamespace(name="image", shape=(-1, 3, 32, 64), dtype="float32", height=32, width=64,
                                 min_depth=0.5, max_depth=80.0)

    def __init__(self, on_infer=None):
        self.calls, self.on_infer = 0, on_infer

    def infer(self, x):
        assert x.shape == (1, 3, 32, 64) and x.dtype == np.float32
        self.calls += 1
        if self.on_infer:
            self.on_infer(self.calls)
        return np.full((1, 1, 32, 64), 1.0 + 10.0 * float(x.mean()), np.float32)

    def close(self):
        pass


@pytest.fixture
def mean_runner():
    return MeanRunner
