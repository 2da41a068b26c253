"""What `edgedepth infer` writes: 16-bit depth PNGs (millimetres), colourised JPEGs (or PNGs) and MP4, PLY, summary.json.

Layout of ``--out DIR``::

    DIR/depth/000000.png   uint16 depth in millimetres at the model's resolution (0 = no depth); the number
                           is the input frame's (its place in an image folder, its frame number in a video
                           or from a camera), so a skipped or dropped frame leaves a gap (--no-depth: none)
    DIR/color/000000.jpg   colourised inverse depth (or input | depth side by side); .png with --color-format png
    DIR/depth.mp4          the colourised frames as a video (--video)
    DIR/ply/000000.ply     coloured point cloud from the intrinsics (--ply)
    DIR/summary.json       frames, drops, FPS, latency percentiles
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from edgedepth.imaging import colorize_depth
from edgedepth.utils.io import atomic_write_bytes, ensure_writable_dir, write_json

# Everything an OutputWriter may leave in its folder (glob patterns): `infer --overwrite` removes these, nothing else.
OUTPUT_NAMES = ("depth", "color", "ply", "summary.json", "depth.mp4", ".depth.partial.mp4", ".*.tmp")
MAX_MM = 65535  # uint16: depths beyond 65.535 m saturate
# Writing must not slow inference (measured at 192x640 on a 2-core CPU, edge_l's predictions):
# - 16-bit depth in millimetres is noise in its low bits: zlib level 1 (OpenCV's default filters) took 4.8 ms to
#   save 27 % (177 KB of 241 KB); stored (level 0, no row filter) takes 0.26 ms and any PNG reader reads it.
#   [cv2.IMWRITE_PNG_COMPRESSION, 0, cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_NONE]
# - colour previews are for people: JPEG at quality 90 by default, 0.2 ms and 5 KB; as PNG (--color-format png) level 1
#   with the "up" filter for every row, 1.1 ms and 23 KB (OpenCV's adaptive default: 2.4 ms).
#   [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_UP]
# (numbers, without importing cv2 at module import)
PNG_DEPTH = [16, 0, 19, 8]
PNG_FAST = [16, 1, 19, 32]
JPEG_QUALITY = [1, 90]  # [cv2.IMWRITE_JPEG_QUALITY, 90]
COLOR_FORMATS = ("png", "jpg")


@dataclass
class Intrinsics:
    """Pinhole intrinsics in pixels of the *input* frames."""

    fx: float
    fy: float
    cx: float
    cy: float

    @classmethod
    def kitti_like(cls, width: int, height: int) -> "Intrinsics":
        """The normalised KITTI camera (monodepth2's K) scaled to this frame size, for when none is given."""
        return cls(0.58 * width, 1.92 * height, 0.5 * width, 0.5 * height)

    def scaled(self, sx: float, sy: float) -> "Intrinsics":
        return Intrinsics(self.fx * sx, self.fy * sy, self.cx * sx, self.cy * sy)


def depth_to_png16(depth_m: np.ndarray) -> bytes:
    """[H,W] metres -> 16-bit PNG bytes in millimetres (rounded, clipped to 0..65535)."""
    import cv2

    mm = np.clip(np.rint(depth_m * 1000.0), 0, MAX_MM).astype(np.uint16)
    ok, buf = cv2.imencode(".png", mm, PNG_DEPTH)
    assert ok, "PNG encoding of a uint16 array cannot fail"
    return buf.tobytes()


def point_cloud_ply(depth_m: np.ndarray, rgb: np.ndarray, k: Intrinsics) -> bytes:
    """Binary little-endian PLY with x y z (metres, camera frame: x right, y down, z forward) and colour.

    ``depth_m`` [H,W], ``rgb`` [H,W,3] uint8 at the same size, ``k`` for that size. Pixels with depth 0 are left out.
    """
    h, w = depth_m.shape
    v, u = np.mgrid[0:h, 0:w].astype(np.float32)
    z = depth_m.astype(np.float32)
    keep = z > 0
    pts = np.empty(int(keep.sum()), dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4"),
                                           ("red", "u1"), ("green", "u1"), ("blue", "u1")])
    pts["x"] = ((u - k.cx) * z / k.fx)[keep]
    pts["y"] = ((v - k.cy) * z / k.fy)[keep]
    pts["z"] = z[keep]
    pts["red"], pts["green"], pts["blue"] = (rgb[..., c][keep] for c in range(3))
    header = ("ply\nformat binary_little_endian 1.0\n"
              f"element vertex {len(pts)}\n"
              "property float x\nproperty float y\nproperty float z\n"
              "property uchar red\nproperty uchar green\nproperty uchar blue\nend_header\n")
    return header.encode("ascii") + pts.tobytes()


def _overlay(rgb: np.ndarray, text: str) -> np.ndarray:
    import cv2

    out = rgb.copy()
    scale = max(0.4, rgb.shape[0] / 480.0)
    cv2.putText(out, text, (8, int(22 * scale)), cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(out, text, (8, int(22 * scale)), cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, (255, 255, 255), 1,
                cv2.LINE_AA)
    return out


class OutputWriter:
    """Writes the outputs of one run into ``out_dir`` (checked writable at construction).

    ``write(frame, depth, overlay=None)`` takes the captured :class:`~edgedepth.infer.sources.Frame`
    (``index``, ``image`` [H,W,3] uint8 RGB) and the depth [h,w] metres at the model's resolution. Each
    output is optional: ``depth`` (16-bit PNGs), ``color`` (colourised PNG or JPEG, ``color_format``),
    ``video``, ``ply``. Per-frame files are renamed into place complete but not fsynced (one fsync per
    frame cost more than a fast engine's inference). ``close(summary)`` finishes the video and writes
    summary.json; call it also after Ctrl+C so the files are complete.
    """

    def __init__(self, out_dir: str | os.PathLike, *, min_depth: float, max_depth: float, depth: bool = True,
                 color: bool = True, color_format: str = "jpg", video: bool = False, side_by_side: bool = False,
                 ply: bool = False, intrinsics: Intrinsics | None = None, fps: float = 30.0):
        self.out = ensure_writable_dir(out_dir)
        if not (0 < min_depth < max_depth < float("inf")):
            # A model file without depth-range metadata: the range build_depth_net uses by default.
            min_depth, max_depth = 0.5, 80.0
        if color_format not in COLOR_FORMATS:
            raise ValueError(f"color_format must be one of {COLOR_FORMATS}, got {color_format!r}")
        self.min_depth, self.max_depth = min_depth, max_depth
        self.depth, self.color, self.color_format = depth, color, color_format
        self.video, self.side_by_side, self.ply = video, side_by_side, ply
        self.intrinsics, self.fps = intrinsics, fps
        self.frames = 0
        self._video_writer = None
        self._video_tmp = self.out / ".depth.partial.mp4"
        for sub, wanted in (("depth", depth), ("color", color), ("ply", ply)):
            if wanted:
                ensure_writable_dir(self.out / sub)

    def _visual(self, image: np.ndarray, depth: np.ndarray, overlay: str | None) -> np.ndarray:
        """The colourised frame in BGR (input | depth when side by side)."""
        import cv2

        h, w = image.shape[:2] if self.side_by_side else depth.shape
        vis = colorize_depth(cv2.resize(depth, (w, h), interpolation=cv2.INTER_LINEAR) if self.side_by_side else depth,
                             min_depth=self.min_depth, max_depth=self.max_depth, bgr=True)
        if self.side_by_side:
            vis = np.concatenate([image[..., ::-1], vis], axis=1)
        return _overlay(vis, overlay) if overlay else vis

    def write(self, frame, depth: np.ndarray, overlay: str | None = None) -> None:
        import cv2

        name, image = f"{frame.index:06d}", frame.image
        if self.depth:
            atomic_write_bytes(self.out / "depth" / f"{name}.png", depth_to_png16(depth), durable=False)
        if self.color or self.video:
            bgr = np.ascontiguousarray(self._visual(image, depth, overlay))
            if self.color:
                ok, buf = cv2.imencode(f".{self.color_format}", bgr, PNG_FAST if self.color_format == "png" else JPEG_QUALITY)
                atomic_write_bytes(self.out / "color" / f"{name}.{self.color_format}", buf.tobytes(), durable=False)
            if self.video:
                self._write_video(bgr)
        if self.ply:
            h, w = depth.shape
            k = (self.intrinsics or Intrinsics.kitti_like(image.shape[1], image.shape[0])).scaled(
                w / image.shape[1], h / image.shape[0])
            rgb = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
            atomic_write_bytes(self.out / "ply" / f"{name}.ply", point_cloud_ply(depth, rgb, k), durable=False)
        self.frames += 1

    def _write_video(self, bgr: np.ndarray) -> None:
        import cv2

        if self._video_writer is None:
            h, w = bgr.shape[:2]
            # Written under a temporary name and renamed at close: a reader never sees half a video.
            self._video_writer = cv2.VideoWriter(str(self._video_tmp), cv2.VideoWriter_fourcc(*"mp4v"),
                                                 self.fps, (w, h))
        self._video_writer.write(bgr)

    def close(self, summary: dict) -> dict:
        """Finish the video, write summary.json (with the list of outputs) and return the summary."""
        outputs = {"depth_png": str(self.out / "depth")} if self.depth else {}
        if self._video_writer is not None:
            self._video_writer.release()
            os.replace(self._video_tmp, self.out / "depth.mp4")
            outputs["video"] = str(self.out / "depth.mp4")
        if self.color:
            outputs[f"color_{self.color_format}"] = str(self.out / "color")
        if self.ply:
            outputs["ply"] = str(self.out / "ply")
        summary = {**summary, "frames_written": self.frames, "outputs": outputs}
        if self.ply:
            summary["intrinsics"] = (vars(self.intrinsics) if self.intrinsics
                                     else "assumed KITTI-like (fx=0.58W, fy=1.92H); pass --fx --fy --cx --cy")
        write_json(self.out / "summary.json", summary)
        return summary

