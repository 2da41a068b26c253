import sys

import pytest

from edgedepth.bench.tegrastats import TegrastatsSampler, parse_line, power_summary

# Recorded formats (jetson_stats tests and public logs; see docs/benchmarks.md).
ORIN_JP6 = ("11-24-2026 21:00:00 RAM 1282/62795MB (lfb 15152x4MB) SWAP 0/31398MB (cached 0MB) "
            "CPU [0%@729,3%@729,0%@729,0%@729,off,off,off,off,off,off,off,off] EMC_FREQ 0%@2133 "
            "GR3D_FREQ 12%@[0,0] VIC_FREQ 729 APE 174 CV0@-256C CPU@43.5C SOC2@41.781C SOC0@42.593C "
            "CV1@-256C GPU@-256C tj@43.5C SOC1@41.5C CV2@-256C VDD_GPU_SOC 2399mW/2399mW "
            "VDD_CPU_CV 400mW/400mW VIN_SYS_5V0 4032mW/4032mW VDDQ_VDD2_1V8AO 503mW/503mW")
XAVIER = ("RAM 2036/31919MB (lfb 6404x4MB) SWAP 0/15959MB (cached 0MB) "
          "CPU [1%@1190,0%@1190,0%@1190,0%@1190,off,off,off,off] EMC_FREQ 0% GR3D_FREQ 0% AO@38C "
          "GPU@38.5C Tdiode@40.25C AUX@37.5C CPU@39.5C thermal@38.85C Tboard@38C GPU 0/0 CPU 311/311 "
          "SOC 1555/1555 CV 0/0 VDDRQ 155/155 SYS5V 1205/1205")
NANO = ("RAM 1550/3964MB (lfb 97x4MB) SWAP 0/1982MB (cached 0MB) IRAM 0/252kB(lfb 252kB) "
        "CPU [12%@1479,7%@1479,8%@1479,5%@1479] EMC_FREQ 3%@1600 GR3D_FREQ 0%@76 APE 25 PLL@24C "
        "CPU@27C PMIC@100C GPU@25.5C AO@33.5C thermal@26.25C POM_5V_IN 4520/4680 POM_5V_GPU 0/0 "
        "POM_5V_CPU 1078/1205")


def test_orin_jetpack6_line():
    s = parse_line(ORIN_JP6)
    assert s.rails_mw == {"VDD_GPU_SOC": (2399, 2399), "VDD_CPU_CV": (400, 400),
                          "VIN_SYS_5V0": (4032, 4032), "VDDQ_VDD2_1V8AO": (503, 503)}
    assert s.total_power_mw == 2399 + 400 + 4032 + 503  # no input rail: sum of rails
    assert (s.ram_used_mb, s.ram_total_mb) == (1282, 62795)
    assert s.cpu_load_pct[:4] == [0, 3, 0, 0] and s.cpu_load_pct[4] is None and len(s.cpu_load_pct) == 12
    assert s.gpu_load_pct == 12
    assert s.temps_c["tj"] == pytest.approx(43.5) and s.temps_c["CV0"] == -256


def test_xavier_line():
    s = parse_line(XAVIER)
    assert s.rails_mw == {"GPU": (0, 0), "CPU": (311, 311), "SOC": (1555, 1555), "CV": (0, 0),
                          "VDDRQ": (155, 155), "SYS5V": (1205, 1205)}
    assert s.total_power_mw == 311 + 1555 + 155 + 1205
    assert s.gpu_load_pct == 0 and s.temps_c["GPU"] == pytest.approx(38.5)


def test_nano_line_uses_input_rail():
    s = parse_line(NANO)
    assert s.rails_mw == {"POM_5V_IN": (4520, 4680), "POM_5V_GPU": (0, 0), "POM_5V_CPU": (1078, 1205)}
    assert s.total_power_mw == 4520  # the input rail already contains GPU and CPU
    assert "IRAM" not in s.rails_mw and "RAM" not in s.rails_mw and "SWAP" not in s.rails_mw
    assert s.cpu_load_pct == [12, 7, 8, 5]


def test_line_without_rails():
    s = parse_line("RAM 1/2MB SWAP 0/1MB")
    assert s.rails_mw == {} and s.total_power_mw is None


def test_sampler_reads_a_fake_tegrastats():
    lines = [NANO.replace("4520/", f"{p}/") for p in (4000, 5000, 6000)]
    script = "import sys\nfor l in %r: print(l, flush=True)" % (lines,)
    with TegrastatsSampler(command=[sys.executable, "-c", script]) as sampler:
        sampler._thread.join(timeout=30)  # the fake exits after three lines
    assert [s.total_power_mw for _, s in sampler.samples] == [4000, 5000, 6000]
    assert sampler.mean_power_w() == pytest.approx(5.0)
    t0, t1 = sampler.samples[0][0], sampler.samples[-1][0]
    summary = power_summary(sampler, t0, t1 + 1.0, frames=10)
    assert summary["mean_power_w"] == pytest.approx(5.0)
    assert summary["energy_per_frame_mj"] == pytest.approx(1000 * 5.0 * (t1 + 1.0 - t0) / 10)
    assert power_summary(sampler, t1 + 10, t1 + 11, frames=10) is None
