"""Ctrl+C and SIGTERM for long-running commands: they end the run the way the command chooses, never mid-write.

Python turns SIGINT into KeyboardInterrupt at whatever line the main thread runs. Inside threading's own
lock code that can leave a Condition half-released, and during a drain it skips finalising the outputs.
:func:`interrupts_as_requests` counts the signals instead and lets the caller poll and stop its workers.
"""
from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator

INTERRUPT_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While the block runs, `kill` (a service stop, a cluster pre-emption) ends it like Ctrl+C does.

    Only where SIGTERM still has its default action (which kills at once, with no output finalised)
    and in the main thread; the previous handler comes back afterwards."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) != signal.SIG_DFL:
        yield
        return
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


class InterruptRequests:
    """How many interrupt signals arrived; the handler only counts (it takes no lock, so it cannot deadlock)."""

    def __init__(self) -> None:
        self.count = 0

    def handle(self, signum, frame) -> None:  # noqa: ARG002 - the signal handler signature
        self.count += 1


@contextlib.contextmanager
def interrupts_as_requests() -> Iterator[InterruptRequests]:
    """While the block runs, each signal that would raise KeyboardInterrupt is counted instead.

    Only handlers that raise KeyboardInterrupt are replaced (Python's default for SIGINT, and SIGTERM
    after :func:`sigterm_as_interrupt`): an ignored signal (a background job's SIGINT) stays ignored,
    and another program's own handler stays its own. Outside the main thread nothing changes (Python
    runs signal handlers in the main thread only); the caller's stop event is the way to end the run there.
    """
    requests = InterruptRequests()
    replaced = {}
    if threading.current_thread() is threading.main_thread():
        for sig in INTERRUPT_SIGNALS:
            if signal.getsignal(sig) is signal.default_int_handler:
                replaced[sig] = signal.signal(sig, requests.handle)
    try:
        yield requests
    finally:
        for sig, handler in replaced.items():
            signal.signal(sig, handler)
