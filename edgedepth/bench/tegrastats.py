"""Jetson power from ``tegrastats``: a line parser (Orin, Xavier, Nano/TX2 formats) and a sampler.

Line formats (one line per interval):
- Orin, JetPack 5/6: ``... GR3D_FREQ 0%@[0,0] ... tj@42.593C VDD_GPU_SOC 2399mW/2399mW VIN_SYS_5V0 4032mW/4032mW``
- Xavier AGX, JetPack 4/5: ``... GR3D_FREQ 0% ... GPU@38.5C ... GPU 0/0 CPU 311/311 SOC 1555/1555 SYS5V 1205/1205``
- Nano/TX2, JetPack 4: ``... GR3D_FREQ 0%@76 ... POM_5V_IN 4520/4680 POM_5V_GPU 0/0 POM_5V_CPU 1078/1205``
A rail reads ``NAME current/average`` in milliwatts, with or without an ``mW`` suffix.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field

# Rails that measure the whole module's input; when one is present it is the total power.
# Otherwise (Orin AGX, Xavier AGX) the rails are disjoint and their sum is the total.
INPUT_RAILS = ("VDD_IN", "POM_5V_IN")

_RAIL = re.compile(r"(?<![\w@])([A-Za-z][A-Za-z0-9_]*) (\d+)(?:mW)?/(\d+)(?:mW)?(?![\w/])")
_TEMP = re.compile(r"(?<![\w@])([A-Za-z][A-Za-z0-9_]*)@(-?\d+(?:\.\d+)?)C\b")
_RAM = re.compile(r"\bRAM (\d+)/(\d+)MB")
_CPU = re.compile(r"\bCPU \[([^\]]*)\]")
_GPU = re.compile(r"\bGR3D_FREQ (\d+)%")


@dataclass
class TegraSample:
    """One parsed tegrastats line. Power in milliwatts: rail name -> (current, average)."""

    rails_mw: dict[str, tuple[int, int]] = field(default_factory=dict)
    temps_c: dict[str, float] = field(default_factory=dict)
    ram_used_mb: int | None = None
    ram_total_mb: int | None = None
    cpu_load_pct: list[int | None] = field(default_factory=list)  # None = core off
    gpu_load_pct: int | None = None

    @property
    def total_power_mw(self) -> int | None:
        """Module power now: the input rail if the board has one, else the sum of all rails."""
        for name in INPUT_RAILS:
            if name in self.rails_mw:
                return self.rails_mw[name][0]
        if not self.rails_mw:
            return None
        return sum(current for current, _ in self.rails_mw.values())


def parse_line(line: str) -> TegraSample:
    """Parse one tegrastats line; fields the line lacks stay empty/None."""
    s = TegraSample()
    if m := _RAM.search(line):
        s.ram_used_mb, s.ram_total_mb = int(m.group(1)), int(m.group(2))
    if m := _CPU.search(line):
        for core in m.group(1).split(","):
            core = core.strip()
            s.cpu_load_pct.append(int(core.split("%")[0]) if "%" in core else None)
    if m := _GPU.search(line):
        s.gpu_load_pct = int(m.group(1))
    s.temps_c = {name: float(v) for name, v in _TEMP.findall(line)}
    # RAM/SWAP/IRAM read "used/total" followed by a unit; the lookahead excludes them.
    s.rails_mw = {name: (int(cur), int(avg)) for name, cur, avg in _RAIL.findall(line)}
    return s


def tegrastats_available() -> bool:
    return shutil.which("tegrastats") is not None


class TegrastatsSampler:
    """Run ``tegrastats --interval N`` in the background and integrate power over time windows.

    Use as a context manager around the work; then ``energy_j(t0, t1)`` and ``mean_power_w(t0, t1)``
    for windows given in ``time.perf_counter()`` seconds. ``command`` replaces the tool (tests).
    """

    def __init__(self, *, interval_ms: int = 100, command: list[str] | None = None):
        self.command = command or ["tegrastats", "--interval", str(int(interval_ms))]
        self.samples: list[tuple[float, TegraSample]] = []
        self._proc: subprocess.Popen | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> "TegrastatsSampler":
        self._proc = subprocess.Popen(self.command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                      text=True, bufsize=1)
        self._thread = threading.Thread(target=self._read, name="tegrastats", daemon=True)
        self._thread.start()
        return self

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            sample = parse_line(line)
            if sample.total_power_mw is not None:
                self.samples.append((time.perf_counter(), sample))

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "TegrastatsSampler":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def power_series(self, t0: float, t1: float) -> list[tuple[float, float]]:
        """(perf_counter time, total watts) of the samples taken in [t0, t1]."""
        return [(t, s.total_power_mw / 1000.0) for t, s in self.samples if t0 <= t <= t1]

    def mean_power_w(self, t0: float = float("-inf"), t1: float = float("inf")) -> float | None:
        """Mean module power in watts over samples taken in [t0, t1]; None without samples."""
        pts = self.power_series(t0, t1)
        return sum(p for _, p in pts) / len(pts) if pts else None

    def energy_j(self, t0: float, t1: float) -> float | None:
        """Energy in joules over [t0, t1]: mean sampled power times the window length."""
        mean = self.mean_power_w(t0, t1)
        return None if mean is None else mean * (t1 - t0)


def power_summary(sampler: TegrastatsSampler, t0: float, t1: float, frames: int) -> dict | None:
    """``{"mean_power_w", "energy_per_frame_mj", "samples"}`` for a window that processed ``frames``."""
    energy = sampler.energy_j(t0, t1)
    if energy is None or frames <= 0:
        return None
    return {
        "mean_power_w": sampler.mean_power_w(t0, t1),
        "energy_per_frame_mj": 1000.0 * energy / frames,
        "samples": len(sampler.power_series(t0, t1)),
    }
