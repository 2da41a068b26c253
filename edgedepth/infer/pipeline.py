"""The inference pipeline: capture -> preprocess -> infer -> write, one thread each, bounded queues.

Stages overlap, so throughput is set by the slowest stage (usually inference) rather than the sum.
Live sources must stay current: when the capture queue is full the OLDEST frame is dropped (and
counted). Files must be complete: capture waits instead. Ctrl+C stops the capture; the frames
already queued are finished and the outputs finalised before KeyboardInterrupt propagates.
"""
from __future__ import annotations

import os
import queue
import threading
import time
from typing import Any, Callable

import numpy as np
from tqdm import tqdm

from edgedepth.bench.timing import latency_stats

_END = object()  # end-of-stream marker passed down the queues


def preprocess(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """[H,W,3] uint8 RGB -> [1,3,height,width] float32 in [0,1] (area resize when shrinking)."""
    import cv2

    if image.shape[:2] != (height, width):
        shrink = image.shape[0] > height or image.shape[1] > width
        image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return np.ascontiguousarray(image.transpose(2, 0, 1)[None], dtype=np.float32) / np.float32(255.0)


class _Stages:
    """Shared state of the stage threads: the abort flag, the first error and counters."""

    def __init__(self, stop: threading.Event | None):
        self.stop = stop or threading.Event()  # Ctrl+C or the caller: capture stops, the rest drains
        self.abort = threading.Event()   # a stage failed: everyone stops now
        self.error: BaseException | None = None
        self.dropped = 0
        self.finished = threading.Event()  # every stage has returned
        self._running = 0
        self._lock = threading.Lock()

    def put(self, q: queue.Queue, item) -> bool:
        while not self.abort.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def put_drop_oldest(self, q: queue.Queue, item) -> None:
        while True:
            try:
                q.put_nowait(item)
                return
            except queue.Full:
                try:
                    q.get_nowait()
                    self.dropped += 1
                except queue.Empty:
                    pass

    def get(self, q: queue.Queue):
        while not self.abort.is_set():
            try:
                return q.get(timeout=0.1)
            except queue.Empty:
                continue
        return _END

    def run(self, name: str, body: Callable[[], None]) -> threading.Thread:
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


def run_pipeline(source, runner, writer, *, max_frames: int | None = None, queue_size: int = 4,
                 overlay: bool = False, stop: threading.Event | None = None) -> dict[str, Any]:
    """Run ``source`` through ``runner`` into ``writer`` (an OutputWriter); returns the summary.

    Setting ``stop`` (e.g. from a UI) ends the run like Ctrl+C does, without the KeyboardInterrupt.

    The summary (also written to summary.json by ``writer.close``) has frames, dropped, fps,
    wall_s, latency_ms (capture -> written, per frame) and infer_ms percentiles, and interrupted.
    """
    spec = runner.input_spec
    st = _Stages(stop)
    captured, preprocessed, inferred = (queue.Queue(maxsize=queue_size) for _ in range(3))
    infer_ms: list[float] = []
    latency_ms: list[float] = []
    times: list[float] = []

    def capture():
        n = 0
        while not st.stop.is_set() and not st.abort.is_set() and (max_frames is None or n < max_frames):
            frame = source.read()
            if frame is None:
                break
            if source.live:
                st.put_drop_oldest(captured, frame)
            elif not st.put(captured, frame):
                return
            n += 1
        st.put(captured, _END)

    def prepare():
        while (frame := st.get(captured)) is not _END:
            if not st.put(preprocessed, (frame, preprocess(frame.image, spec.height, spec.width))):
                return
        st.put(preprocessed, _END)

    def infer():
        while (item := st.get(preprocessed)) is not _END:
            frame, x = item
            t0 = time.perf_counter()
            depth = runner.infer(x)[0, 0]
            infer_ms.append((time.perf_counter() - t0) * 1000.0)
            if not st.put(inferred, (frame, depth)):
                return
        st.put(inferred, _END)

    def write():
        bar = tqdm(total=max_frames, desc="infer", unit="frame",
                   disable=os.environ.get("EDGEDEPTH_NO_PROGRESS") == "1")
        while (item := st.get(inferred)) is not _END:
            frame, depth = item
            text = None
            if overlay and times:
                fps = len(times[-30:]) / max(time.perf_counter() - times[-30:][0], 1e-9)
                text = f"{fps:.1f} FPS  {latency_ms[-1]:.0f} ms"
            writer.write(len(times), frame.image, depth, overlay=text)
            now = time.perf_counter()
            latency_ms.append((now - frame.time) * 1000.0)
            times.append(now)
            bar.update(1)
        bar.close()

    start = time.perf_counter()
    threads = [st.run(n, f) for n, f in (("capture", capture), ("preprocess", prepare), ("infer", infer),
                                         ("write", write))]
    interrupted = False
    try:
        for t in threads:
            t.start()
        # Waiting on an Event (not Thread.join) because a Ctrl+C inside join can leave it hanging.
        while not st.finished.wait(timeout=0.2):
            pass
    except KeyboardInterrupt:
        interrupted = True
        st.stop.set()
        for t in threads:
            if t.ident is None:  # Ctrl+C came while starting: every stage must run to drain the queues
                t.start()
        st.finished.wait()
    wall = (times[-1] if times else time.perf_counter()) - start
    summary = {
        "source": getattr(source, "description", str(source)),
        "live": bool(source.live),
        "backend": runner.backend,
        "precision": runner.precision,
        "input_size": [spec.height, spec.width],
        "frames": len(times),
        "dropped": st.dropped,
        "fps": len(times) / wall if wall > 0 and times else 0.0,
        # Between the first and last written frame: the rate once the pipeline is full, comparable
        # to an engine-only FPS measured after warm-up.
        "steady_fps": (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else 0.0,
        "wall_s": wall,
        "latency_ms": latency_stats(latency_ms),
        "infer_ms": latency_stats(infer_ms),
        "infer_only_fps": 1000.0 / float(np.mean(infer_ms)) if infer_ms else 0.0,
        "interrupted": interrupted,
        "error": None if st.error is None else str(st.error),
    }
    summary = writer.close(summary)
    if interrupted:
        raise KeyboardInterrupt
    if st.error is not None:
        raise st.error
    return summary
