import io
import zipfile

import numpy as np
import pytest

openvino = pytest.importorskip("openvino", reason="the openvino backend needs `pip install openvino` (the openvino extra)")

from edgedepth.backends import build_engine  # noqa: E402
from edgedepth.backends.container import read_engine  # noqa: E402
from edgedepth.backends.openvino.builder import BF16_FEATURES, IR_FILES, read_onnx, version  # noqa: E402
from edgedepth.device import cpu_features  # noqa: E402
from edgedepth.errors import EngineError  # noqa: E402

from helpers.tiny_onnx import with_unknown_op  # noqa: E402


def ir_files(engine_path):
    with zipfile.ZipFile(io.BytesIO(read_engine(engine_path).payload)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_fp32_and_int8_engines_hold_the_ir_of_their_onnx(onnx_files, tmp_path):
    headers, files = {}, {}
    for precision in ("fp32", "int8"):
        out = tmp_path / f"{precision}.engine"
        headers[precision] = build_engine(onnx_files[precision], out, precision=precision, backend="openvino")
        files[precision] = ir_files(out)
    for precision, h in headers.items():
        assert (h["backend"], h["backend_version"], h["precision"], h["onnx_precision"]) == ("openvino", version(), precision, precision)
        assert h["options"]["inference_precision"] == "f32" and h["batch_range"] == [1, None]
        assert h["device"]["cpu_features"] == list(cpu_features()) and h["device"]["compute_capability"] is None
        assert f"--precision {precision} --backend openvino" in h["rebuild_command"]
        assert sorted(files[precision]) == sorted(IR_FILES) and b"<net " in files[precision]["model.xml"]
    assert b"FakeQuantize" in files["int8"]["model.xml"] and b"FakeQuantize" not in files["fp32"]["model.xml"]
    # The Q/DQ weights are stored as int8 (8 of the tiny net's 8x3x3x3 + 1x8x3x3 weights are biases).
    assert len(files["int8"]["model.bin"]) < 0.7 * len(files["fp32"]["model.bin"])


def test_static_batch_is_kept(onnx_files, tmp_path):
    h = build_engine(onnx_files["fp32_static"], tmp_path / "m.engine", precision="fp32", backend="openvino")
    assert h["batch_range"] == [2, 2] and h["input_shape"] == [2, 3, 32, 64]


def test_bf16_only_where_the_cpu_has_it(onnx_files, tmp_path):
    out = tmp_path / "m.engine"
    if set(cpu_features()) & set(BF16_FEATURES):
        assert build_engine(onnx_files["fp32"], out, precision="bf16", backend="openvino")["options"]["inference_precision"] == "bf16"
        return
    with pytest.raises(EngineError, match="has no BF16 instructions") as e:
        build_engine(onnx_files["fp32"], out, precision="bf16", backend="openvino")
    assert "amx_bf16" in e.value.why and "--precision fp32 or int8" in e.value.fix
    assert not out.exists()


@pytest.mark.parametrize("kind, precision, message", [
    ("fp16", "fp32", "is an FP16 ONNX; OpenVINO builds from the FP32 ONNX"),
    ("int8", "fp32", "cannot convert the int8 ONNX"),
    ("int8", "bf16", "cannot convert the int8 ONNX"),
    ("fp32", "fp16", "the openvino backend does not build fp16 engines"),
])
def test_precisions_it_cannot_build(onnx_files, tmp_path, kind, precision, message):
    with pytest.raises(EngineError, match=message):
        build_engine(onnx_files[kind], tmp_path / "m.engine", precision=precision, backend="openvino")


def test_fp32_onnx_with_calib_is_quantised_first(onnx_files, tmp_path, monkeypatch):
    import shutil
    import sys
    from types import ModuleType

    quantize, calibration = ModuleType("edgedepth.export.quantize"), ModuleType("edgedepth.export.calibration")
    quantize.quantize_int8 = lambda onnx_in, onnx_out, *, calibration_images: shutil.copy(onnx_files["int8"], onnx_out)
    calibration.load_calibration_set = lambda source, *, size, n: (np.zeros((n, 3, *size), np.float32), None)
    for module in (quantize, calibration):
        monkeypatch.setitem(sys.modules, module.__name__, module)
    h = build_engine(onnx_files["fp32"], tmp_path / "m.engine", precision="int8", backend="openvino", calib="synthetic")
    assert (h["precision"], h["onnx_precision"]) == ("int8", "fp32")
    assert b"FakeQuantize" in ir_files(tmp_path / "m.engine")["model.xml"]


def test_unreadable_model_is_an_engine_error(onnx_files, tmp_path):
    path = with_unknown_op(onnx_files["fp32"], tmp_path / "bad.onnx")
    with pytest.raises(EngineError, match="OpenVINO cannot read") as e:
        read_onnx(path)
    assert "NoSuchOp" in e.value.why and not e.value.why.startswith("Exception from")
