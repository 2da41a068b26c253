"""`edgedepth build-engine` through the real entry point: what it prints, and clean errors."""
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.fake_tensorrt import FakeTensorRT
from helpers.tiny_onnx import export_tiny

from edgedepth import device
from edgedepth.cli import main as cli_main


@pytest.fixture(scope="module")
def onnx_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    make = export_tiny
    make(root / "fp32.onnx")
    make(root / "int8.onnx", precision="int8")
    make(root / "nometa.onnx", drop=("height", "width"))
    return root


@pytest.fixture
def cli(monkeypatch, capsys):
    # Only this command is registered, so the test does not depend on the other commands' modules.
    monkeypatch.setattr(cli_main, "COMMAND_MODULES", ["engine"])

    def run(*argv):
        code = cli_main.main(["build-engine", *map(str, argv)])
        out, err = capsys.readouterr()
        assert "Traceback" not in out + err
        return code, out, err
    return run


def test_builds_and_says_what_it_built(cli, onnx_dir, tmp_path):
    import onnxruntime as ort

    out = tmp_path / "model.engine"
    code, stdout, _ = cli("--onnx", onnx_dir / "int8.onnx", "--precision", "int8", "--backend", "onnxruntime", "--out", out)
    assert code == 0 and out.is_file()
    assert f"backend     onnxruntime {ort.__version__}" in stdout
    assert "precision   int8 (from the int8 ONNX)" in stdout
    assert "CPUExecutionProvider" in stdout and "input       image [-1, 3, 32, 64]" in stdout
    assert f"{out.stat().st_size / 1e6:.2f} MB" in stdout and "replaced" not in stdout


def test_replacing_an_engine_says_so_and_a_second_writer_is_refused(cli, onnx_dir, tmp_path):
    from edgedepth.utils.io import exclusive_output

    out = tmp_path / "model.engine"
    out.write_bytes(b"an older engine")
    args = ("--onnx", onnx_dir / "fp32.onnx", "--precision", "fp32", "--backend", "onnxruntime", "--out", out)
    code, stdout, _ = cli(*args)
    assert code == 0 and f"built {out} (replaced the previous engine there)" in stdout
    before = out.read_bytes()
    with exclusive_output(out):  # another build-engine of the same file is running
        code, _, stderr = cli(*args)
    assert code == 2 and "another process is writing the engine file" in stderr and out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.engine"]


def test_read_only_output_folder_fails_before_the_build(cli, onnx_dir, tmp_path, monkeypatch):
    from helpers.readonly import make_read_only

    import edgedepth.backends

    monkeypatch.setattr(edgedepth.backends, "build_engine", lambda *a, **k: pytest.fail("build started"))
    folder = make_read_only(monkeypatch, tmp_path / "ro")
    code, _, stderr = cli("--onnx", onnx_dir / "fp32.onnx", "--precision", "fp32", "--out", folder / "m.engine")
    assert code == 2 and "cannot write" in stderr and str(folder) in stderr


def test_tensorrt_build_prints_flags_and_cache(cli, onnx_dir, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", FakeTensorRT("10.3.0"))
    monkeypatch.setattr(device, "cuda_device", lambda: {"name": "Orin", "compute_capability": "8.7"})
    cache = tmp_path / "timing.cache"
    code, stdout, _ = cli("--onnx", onnx_dir / "int8.onnx", "--precision", "int8", "--dla-core", "0", "--batch", "2",
                          "--timing-cache", cache, "--out", tmp_path / "m.engine")
    assert code == 0 and cache.is_file()
    assert "backend     tensorrt 10.3.0" in stdout and "device      Orin (compute capability 8.7)" in stdout
    assert "flags ['INT8', 'FP16', 'GPU_FALLBACK'] strongly typed False dla core 0 opt level 3" in stdout
    assert "batch 2..2" in stdout and f"timing      {cache}" in stdout


def test_auto_says_which_cpu_features_it_saw_and_ranks_openvino(cli, onnx_dir, tmp_path, monkeypatch):
    pytest.importorskip("openvino", reason="the openvino backend needs `pip install openvino` (the openvino extra)")
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # OpenVINO caches the model it compiles
    monkeypatch.setattr(device, "cuda_device", lambda: None)
    monkeypatch.setattr(device, "cpu_model", lambda: "Intel Xeon Test")
    monkeypatch.setattr(device, "cpu_features", lambda: ("avx2", "avx512_vnni", "amx_int8"))
    code, stdout, _ = cli("--onnx", onnx_dir / "int8.onnx", "--precision", "int8", "--out", tmp_path / "m.engine")
    assert code == 0 and "backend     openvino" in stdout and "device      Intel Xeon Test\n" in stdout
    assert ("chosen by   --backend auto on no CUDA GPU; CPU Intel Xeon Test (features: avx2, avx512_vnni, amx_int8); "
            "ranking: openvino 30, onnxruntime 20") in stdout
    assert "openvino    float layers in f32; IR compiled when opened; built on a CPU with avx2, avx512_vnni, amx_int8" in stdout


@pytest.mark.parametrize("args, message", [
    (["--onnx", "fp32.onnx", "--precision", "int4"], "unknown precision 'int4'"),
    (["--onnx", "fp32.onnx", "--precision", "int8"], "needs calibration data"),
    (["--onnx", "nometa.onnx", "--precision", "fp32"], "lacks the metadata height, width"),
    (["--onnx", "missing.onnx", "--precision", "fp32"], "does not exist"),
    (["--onnx", "fp32.onnx", "--precision", "fp32", "--backend", "cuda"], "unknown backend 'cuda'"),
    (["--onnx", "int8.onnx", "--precision", "fp16", "--backend", "onnxruntime"], "cannot convert the int8 ONNX"),
    (["--onnx", "fp32.onnx", "--precision", "fp16", "--backend", "onnxruntime", "--dla-core", "0"], "--dla-core is not an option of the onnxruntime backend"),
    (["--onnx", "fp32.onnx", "--precision", "bf16", "--backend", "onnxruntime"], "bf16 is built by: openvino"),
])
def test_errors_are_messages_with_nonzero_exit(cli, onnx_dir, tmp_path, args, message):
    args = [str(onnx_dir / a) if a.endswith(".onnx") else a for a in args]
    code, stdout, stderr = cli(*args, "--out", tmp_path / "m.engine")
    assert code == 2 and message in stderr and stderr.startswith("edgedepth build-engine: error:")
    assert "fix:" in stderr
    assert not (tmp_path / "m.engine").exists()


def test_subprocess_exit_code_and_no_traceback(onnx_dir, tmp_path):
    code = "import sys; from edgedepth.cli import main as m; m.COMMAND_MODULES[:] = ['engine']; sys.exit(m.main(sys.argv[1:]))"
    result = subprocess.run(
        [sys.executable, "-c", code, "build-engine", "--onnx", str(onnx_dir / "nometa.onnx"), "--precision", "fp32", "--out", str(tmp_path / "m.engine")],
        capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 2
    assert "lacks the metadata" in result.stderr and "Traceback" not in result.stderr


def test_help_lists_every_option(cli, capsys):
    with pytest.raises(SystemExit) as e:
        cli("--help")
    assert e.value.code == 0
    text = capsys.readouterr().out
    for option in ("--onnx", "--precision", "--calib", "--backend", "--dla-core", "--workspace-mb", "--opt-level", "--timing-cache", "--out"):
        assert option in text
