from pathlib import Path

from edgedepth.bench.device import (clocks_locked, describe_device, describe_jetson, parse_nv_tegra_release,
                                    parse_nvpmodel)


def test_nv_tegra_release_r35():
    text = "# R35 (release), REVISION: 3.1, GCID: 32827747, BOARD: t186ref, EABI: aarch64, DATE: Sun Mar 19"
    assert parse_nv_tegra_release(text) == {"l4t": "35.3.1", "jetpack": "5.1.1"}


def test_nv_tegra_release_r36_and_r32():
    r36 = "# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic, EABI: aarch64\n# KERNEL_VARIANT: oot"
    assert parse_nv_tegra_release(r36) == {"l4t": "36.4.3", "jetpack": "6.2"}
    assert parse_nv_tegra_release("# R32 (release), REVISION: 7.9, GCID: 1")["jetpack"] == "4.6.9"
    assert parse_nv_tegra_release("# R99 (release), REVISION: 1.0")["jetpack"] is None
    assert parse_nv_tegra_release("garbage") is None


def test_nvpmodel_with_warnings():
    text = "NVPM WARN: power mode is not set!\nNV Power Mode: MAXN\n0\n"
    assert parse_nvpmodel(text) == {"mode": "MAXN", "id": 0}
    assert parse_nvpmodel("NV Power Mode: 15W\n") == {"mode": "15W", "id": None}
    assert parse_nvpmodel("") is None


def _fake_board(root: Path, *, locked: bool) -> None:
    (root / "etc").mkdir()
    (root / "etc/nv_tegra_release").write_text("# R36 (release), REVISION: 3.0, GCID: 1, BOARD: generic\n")
    (root / "proc/device-tree").mkdir(parents=True)
    (root / "proc/device-tree/model").write_bytes(b"NVIDIA Jetson AGX Orin Developer Kit\x00")
    for cpu in ("cpu0", "cpu1"):
        d = root / f"sys/devices/system/cpu/{cpu}/cpufreq"
        d.mkdir(parents=True)
        (d / "scaling_min_freq").write_text("2201600\n" if locked else "115200\n")
        (d / "scaling_max_freq").write_text("2201600\n")
    gpu = root / "sys/class/devfreq/17000000.ga10b"
    gpu.mkdir(parents=True)
    (gpu / "min_freq").write_text("1300500000\n")
    (gpu / "max_freq").write_text("1300500000\n")


def test_describe_jetson_fake_board(tmp_path):
    _fake_board(tmp_path, locked=True)
    info = describe_jetson(tmp_path)
    assert info["model"] == "NVIDIA Jetson AGX Orin Developer Kit"
    assert info["l4t"] == "36.3.0" and info["jetpack"] == "6.0"
    assert info["clocks_locked"] is True


def test_clocks_unlocked_and_unknown(tmp_path):
    _fake_board(tmp_path, locked=False)
    assert clocks_locked(tmp_path) is False
    assert clocks_locked(tmp_path / "nothing") is None
    assert describe_jetson(tmp_path / "nothing") is None


def test_describe_device_here():
    d = describe_device()
    assert d["cpu"]["threads"] >= 1 and d["cpu"]["model"]
    assert d["versions"]["numpy"]
    assert d["jetson"] is None  # this CI machine is not a Jetson
