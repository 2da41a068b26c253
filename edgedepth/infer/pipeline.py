"""The inference pipeline: capture -> preprocess -> infer -> write, one thread each, bounded queues.

Stages overlap, so throughput is set by the slowest stage (usually inference) rather than the sum.
Live sources must stay current: at EVERY stage, when the next queue is full the OLDEST frame waiting
there is dropped (and counted), and the queues in front of preprocessing and inference hold one frame,
so inference always gets the newest frame and the capture-to-output latency stays bounded (about two
inference times plus writing) however slow inference is. Files must be complete: every stage waits
instead, with ``queue_size`` frames between stages. An input frame that cannot be decoded (a corrupt image in a folder) is skipped
with a warning and listed in the summary, or stops the run when ``strict``. Outputs are numbered by
the input frame's index, so a skipped or dropped frame leaves a gap and names stay tied to inputs.

Ctrl+C (and SIGTERM where the CLI maps it to Ctrl+C) stops the capture; the frames already queued
are finished and the outputs finalised before KeyboardInterrupt propagates. A second one stops every
stage at once, and the outputs are still finalised. The signals are counted, never raised inside the
pipeline (see edgedepth.utils.interrupts), so the main thread reacts within one poll interval.
"""
from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time
from typing import Any, Callable

import numpy as np
from tqdm import tqdm

from edgedepth.bench.timing import latency_stats
from edgedepth.infer.sources import UnreadableFrame
from edgedepth.utils.interrupts import interrupts_as_requests

log = logging.getLogger("edgedepth.infer")

_END = object()  # end-of-stream marker passed down the queues
POLL_S = 0.1  # how often the main thread looks at interrupt requests; waits in stages wake this often too


def preprocess(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """[H,W,3] uint8 RGB -> [1,3,height,width] float32 in [0,1] (area resize when shrinking)."""
    import cv2

    if image.shape[:2] != (height, width):
        shrink = image.shape[0] > height or image.shape[1] > width
        image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return np.ascontiguousarray(image.transpose(2, 0, 1)[None], dtype=np.float32) / np.float32(255.0)


class _Stages:
    """Shared state of the stage threads: stop and abort flags, the first error, drop counters."""

    def __init__(self, stop: threading.Event | None, *, live: bool):
        self.stop = stop or threading.Event()  # Ctrl+C or the caller: capture stops, the rest drains
        self.abort = threading.Event()   # a stage failed, or a second Ctrl+C: everyone stops now
        self.live = live
        self.error: BaseException | None = None
        # Frames dropped by each stage when its output queue was full; each counter has one writer thread.
        self.dropped = {"capture": 0, "preprocess": 0, "infer": 0}
        self.finished = threading.Event()  # every stage has returned
        self._running = 0
        self._lock = threading.Lock()

    def send(self, q: queue.Queue, item, stage: str) -> bool:
        """Hand ``item`` to the next stage; False when the run was aborted.

        A live source drops the oldest frame waiting in a full queue and never waits: a frame that
        waits behind inference is a stale frame. A file waits for room, as does the end marker."""
        if self.live and item is not _END:
            while True:
                try:
                    q.put_nowait(item)
                    return True
                except queue.Full:
                    try:
                        q.get_nowait()
                        self.dropped[stage] += 1
                    except queue.Empty:
                        pass
        while not self.abort.is_set():
            try:
                q.put(item, timeout=POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def get(self, q: queue.Queue):
        while not self.abort.is_set():
            try:
                return q.get(timeout=POLL_S)
            except queue.Empty:
                continue
        return _END

    def thread(self, name: str, body: Callable[[], None]) -> threading.Thread:
        with self._lock:
            self._running += 1

        def guarded():
            try:
                body()
            except BaseException as e:  # noqa: BLE001 - handed to the main thread, which re-raises it
                if self.error is None:
                    self.error = e
                self.abort.set()
            finally:
                with self._lock:
                    self._running -= 1
                    if self._running == 0:
                        self.finished.set()

        return threading.Thread(target=guarded, name=f"infer-{name}", daemon=True)

    def wait(self, requests) -> None:
        """Wait for every stage to return, turning interrupt requests into stop (first) and abort (second)."""
        while True:
            try:
                if self.finished.wait(timeout=POLL_S):
                    return
            except KeyboardInterrupt:  # a handler we did not replace raised it: still a request
                requests.count += 1
            if requests.count:
                self.stop.set()
            if requests.count > 1:
                self.abort.set()


class _Run:
    """One run: the four stage bodies, their queues and what they measured."""

    def __init__(self, source, runner, writer, *, max_frames, queue_size, overlay, strict, stop):
        self.source, self.runner, self.writer = source, runner, writer
        self.max_frames, self.overlay, self.strict = max_frames, overlay, strict
        self.spec = runner.input_spec
        self.st = _Stages(stop, live=bool(source.live))
        # A live source keeps only its newest frame in front of preprocessing and inference: any older one
        # waiting there would only be older when its turn came. Written frames may queue (inference is spent).
        fresh = 1 if self.st.live else queue_size
        self.captured, self.prepared = queue.Queue(maxsize=fresh), queue.Queue(maxsize=fresh)
        self.inferred = queue.Queue(maxsize=queue_size)
        self.infer_ms: list[float] = []
        # per-frame busy time of the other stages (each list has one writer thread)
        self.stage_ms: dict[str, list[float]] = {"capture": [], "preprocess": [], "write": []}
        self.latency_ms: list[float] = []
        self.times: list[float] = []
        self.skipped: list[dict[str, Any]] = []

    def _read(self):
        """The next frame, skipping (and listing) frames that cannot be decoded unless strict."""
        while True:
            try:
                return self.source.read()
            except UnreadableFrame as e:
                if self.strict:
                    raise
                self.skipped.append({"index": e.index, "name": e.name, "why": e.why})
                log.warning("warning: skipped frame %d (%s): %s", e.index, e.name, e.why)

    def capture(self):
        st, n, busy = self.st, 0, self.stage_ms["capture"]
        while not st.stop.is_set() and not st.abort.is_set() and (self.max_frames is None or n < self.max_frames):
            t0 = time.perf_counter()
            frame = self._read()
            busy.append((time.perf_counter() - t0) * 1000.0)
            if frame is None:
                break
            if not st.send(self.captured, frame, "capture"):
                return
            n += 1
        st.send(self.captured, _END, "capture")

    def prepare(self):
        st, spec, busy = self.st, self.spec, self.stage_ms["preprocess"]
        while (frame := st.get(self.captured)) is not _END:
            t0 = time.perf_counter()
            x = preprocess(frame.image, spec.height, spec.width)
            busy.append((time.perf_counter() - t0) * 1000.0)
            if not st.send(self.prepared, (frame, x), "preprocess"):
                return
        st.send(self.prepared, _END, "preprocess")

    def infer(self):
        st = self.st
        while (item := st.get(self.prepared)) is not _END:
            frame, x = item
            t0 = time.perf_counter()
            depth = self.runner.infer(x)[0, 0]
            self.infer_ms.append((time.perf_counter() - t0) * 1000.0)
            if not st.send(self.inferred, (frame, depth), "infer"):
                return
        st.send(self.inferred, _END, "infer")

    def write(self):
        times, latency_ms = self.times, self.latency_ms
        bar = tqdm(total=self.max_frames, desc="infer", unit="frame",
                   disable=os.environ.get("EDGEDEPTH_NO_PROGRESS") == "1")
        while (item := self.st.get(self.inferred)) is not _END:
            frame, depth = item
            text = None
            if self.overlay and times:
                fps = len(times[-30:]) / max(time.perf_counter() - times[-30:][0], 1e-9)
                text = f"{fps:.1f} FPS  {latency_ms[-1]:.0f} ms"
            t0 = time.perf_counter()
            self.writer.write(frame, depth, overlay=text)
            now = time.perf_counter()
            self.stage_ms["write"].append((now - t0) * 1000.0)
            latency_ms.append((now - frame.time) * 1000.0)
            times.append(now)
            bar.update(1)
        bar.close()

    def run(self) -> tuple[float, bool]:
        """Start the stages and wait for them; (start time, interrupted)."""
        stages = [self.st.thread(name, body) for name, body in (
            ("capture", self.capture), ("preprocess", self.prepare), ("infer", self.infer), ("write", self.write))]
        start = time.perf_counter()
        with interrupts_as_requests() as requests:
            for t in stages:
                t.start()
            self.st.wait(requests)
        return start, requests.count > 0  # counted until our handler was removed: no Ctrl+C is lost

    def summary(self, start: float, interrupted: bool) -> dict[str, Any]:
        times, spec, st = self.times, self.spec, self.st
        wall = (times[-1] if times else time.perf_counter()) - start
        return {
            "source": getattr(self.source, "description", str(self.source)),
            "live": st.live,
            "backend": self.runner.backend,
            "precision": self.runner.precision,
            "input_size": [spec.height, spec.width],
            "frames": len(times),
            "dropped": sum(st.dropped.values()),
            "dropped_by_stage": dict(st.dropped),
            "skipped": len(self.skipped),
            "skipped_frames": self.skipped,
            "fps": len(times) / wall if wall > 0 and times else 0.0,
            # Between the first and last written frame: the rate once the pipeline is full, comparable
            # to an engine-only FPS measured after warm-up.
            "steady_fps": (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else 0.0,
            "wall_s": wall,
            "latency_ms": latency_stats(self.latency_ms),
            "infer_ms": latency_stats(self.infer_ms),
            # median busy ms per frame of each stage (capture includes waiting for a live camera's next frame)
            "stage_ms": {k: float(np.median(v)) if v else 0.0 for k, v in (("infer", self.infer_ms), *self.stage_ms.items())},
            "infer_only_fps": 1000.0 / float(np.mean(self.infer_ms)) if self.infer_ms else 0.0,
            "interrupted": interrupted,
            "error": None if st.error is None else str(st.error),
        }


@contextlib.contextmanager
def _opencv_single_threaded():
    """OpenCV's own worker pool off while the stages run: each stage already has its thread, and OpenCV's
    workers (one per core) competed with the engine's threads for the same cores."""
    try:
        import cv2
    except ImportError:
        yield
        return
    before = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(before)


def run_pipeline(source, runner, writer, *, max_frames: int | None = None, queue_size: int = 4,
                 overlay: bool = False, stop: threading.Event | None = None, strict: bool = False) -> dict[str, Any]:
    """Run ``source`` through ``runner`` into ``writer`` (an OutputWriter, or any object with
    ``write(frame, depth, overlay=None)`` and ``close(summary) -> summary``); returns the summary.

    Setting ``stop`` (e.g. from a UI) ends the run like Ctrl+C does, without the KeyboardInterrupt.
    ``strict``: an input frame that cannot be decoded stops the run (its UnreadableFrame is raised
    after the outputs are finalised) instead of being skipped.

    The summary (also written to summary.json by ``writer.close``) has frames, dropped (with
    dropped_by_stage), skipped (with skipped_frames: index, name, why), fps, wall_s, latency_ms
    (capture -> written, per frame) and infer_ms percentiles, interrupted and error.
    """
    run = _Run(source, runner, writer, max_frames=max_frames, queue_size=queue_size, overlay=overlay,
               strict=strict, stop=stop)
    with _opencv_single_threaded():
        start, interrupted = run.run()
    summary = writer.close(run.summary(start, interrupted))
    if interrupted:
        raise KeyboardInterrupt
    if run.st.error is not None:
        raise run.st.error
    return summary
