"""Metric depth in memory, frame by frame: the camera pipeline as a Python iterator, nothing written to disk.

    from edgedepth.infer import DepthStream

    with DepthStream("model.engine", source=0) as stream:      # camera 0, a video, rtsp://..., a folder
        for frame in stream:
            frame.depth        # [h, w] float32 metres at the model's resolution
            frame.image        # [H, W, 3] uint8 RGB, the captured frame
            frame.latency_ms   # capture -> delivered to this loop
    print(stream.summary["fps"])

Capture, preprocessing and inference run in their own threads (:mod:`edgedepth.infer.pipeline`), so
the loop body overlaps with the next frames' inference. A live source stays current when the loop
is slower than the camera: the oldest undelivered frame is dropped (``summary["dropped"]``) and at
most ``queue_size`` frames wait. Files deliver every frame. Leaving the loop early (``break``, an
exception) stops the pipeline and closes the source and the engine. ``on_frame`` is the callback form:
it runs in the pipeline's delivery thread instead of a ``for`` loop (:func:`run_depth`).
"""
from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from edgedepth.infer.pipeline import POLL_S, run_pipeline
from edgedepth.infer.sources import Frame, open_source


@dataclass
class DepthFrame:
    """One frame's result: ``depth`` [h,w] float32 metres (model resolution), ``image`` [H,W,3] uint8 RGB."""

    index: int
    image: np.ndarray
    depth: np.ndarray
    time: float  # capture time, time.perf_counter()
    latency_ms: float  # capture -> handed to the caller
    name: str | None = None


class MemorySink:
    """The pipeline's last stage for in-memory use (``run_pipeline(source, runner, MemorySink(...))``): hands
    each result to ``on_frame`` or to a bounded queue that :class:`DepthStream` reads; nothing is written."""

    def __init__(self, *, on_frame: Callable[[DepthFrame], None] | None, queue_size: int, live: bool):
        self.on_frame, self.live = on_frame, live
        self.results: queue.Queue = queue.Queue(maxsize=queue_size)
        self.dropped = 0
        self.cancelled = threading.Event()
        self.summary: dict[str, Any] | None = None

    def write(self, frame: Frame, depth: np.ndarray, overlay: str | None = None) -> None:  # noqa: ARG002
        result = DepthFrame(frame.index, frame.image, depth, frame.time, (time.perf_counter() - frame.time) * 1000.0, frame.name)
        if self.on_frame is not None:
            self.on_frame(result)
            return
        if self.live:  # the caller is slower than the camera: keep the newest, drop the oldest
            while True:
                try:
                    self.results.put_nowait(result)
                    return
                except queue.Full:
                    try:
                        self.results.get_nowait()
                        self.dropped += 1
                    except queue.Empty:
                        pass
        while not self.cancelled.is_set():  # a file: wait for the caller, unless it has left
            try:
                self.results.put(result, timeout=POLL_S)
                return
            except queue.Full:
                continue

    def close(self, summary: dict[str, Any]) -> dict[str, Any]:
        self.summary = {**summary, "dropped_by_caller": self.dropped, "dropped": summary["dropped"] + self.dropped}
        return self.summary


class DepthStream:
    """Iterate :class:`DepthFrame` results of ``model`` (.engine, .onnx or .pt) on ``source``.

    ``source`` is what ``edgedepth infer --source`` takes (camera index, /dev/videoN, a video, rtsp://...,
    a folder of images) or an opened source. ``backend``, ``device`` and ``threads`` are those of
    :func:`edgedepth.backends.open_runner`; ``max_frames`` stops after that many frames; ``strict`` stops at
    an image that cannot be decoded instead of skipping it. ``summary`` (frames, fps, latency, drops) is
    set once the stream has ended.
    """

    def __init__(self, model: str | Path, source: Any, *, backend: str = "auto", device: str = "auto",
                 threads: int | None = None, max_frames: int | None = None, queue_size: int = 4,
                 strict: bool = False, on_frame: Callable[[DepthFrame], None] | None = None,
                 connect_timeout_s: float = 15.0, read_timeout_s: float = 5.0):
        from edgedepth.backends import open_runner

        self._source = open_source(str(source), connect_timeout_s=connect_timeout_s, read_timeout_s=read_timeout_s) \
            if isinstance(source, (str, int, Path)) else source
        try:
            self._runner = open_runner(model, backend=backend, device=device, threads=threads)
        except BaseException:
            self._source.close()
            raise
        self.input_spec = self._runner.input_spec
        self._delivery = MemorySink(on_frame=on_frame, queue_size=queue_size, live=bool(self._source.live))
        self._options = dict(max_frames=max_frames, queue_size=queue_size, strict=strict)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._closed = False

    @property
    def summary(self) -> dict[str, Any] | None:
        return self._delivery.summary

    def _run(self) -> None:
        try:
            run_pipeline(self._source, self._runner, self._delivery, stop=self._stop, **self._options)
        except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread
            self._error = e

    def start(self) -> "DepthStream":
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="depth-stream", daemon=True)
            self._thread.start()
        return self

    def __iter__(self) -> Iterator[DepthFrame]:
        self.start()
        try:
            while True:
                try:
                    yield self._delivery.results.get(timeout=POLL_S)
                except queue.Empty:
                    if not self._thread.is_alive() and self._delivery.results.empty():
                        break
        finally:
            self.close()

    def run(self) -> dict[str, Any]:
        """Run to the end with ``on_frame`` as the consumer (or discarding results); returns the summary."""
        for _ in self:
            pass
        return self.summary

    def close(self) -> None:
        """Stop the pipeline (if running), wait for its threads, close the source and the engine; re-raise
        the pipeline's error, if any. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._delivery.cancelled.set()
        try:
            if self._thread is not None:
                self._thread.join()
        finally:
            self._source.close()
            self._runner.close()
        if self._error is not None and not isinstance(self._error, KeyboardInterrupt):
            raise self._error

    def __enter__(self) -> "DepthStream":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def run_depth(model: str | Path, source: Any, on_frame: Callable[[DepthFrame], None], **options) -> dict[str, Any]:
    """Call ``on_frame(DepthFrame)`` for every frame (in the pipeline's delivery thread); returns the summary."""
    with DepthStream(model, source, on_frame=on_frame, **options) as stream:
        return stream.run()
