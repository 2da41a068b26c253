import numpy as np
import pytest

from edgedepth.errors import ExportError
from edgedepth.export import verify_onnx
from edgedepth.export.verify import format_precision_table, precision_table, read_onnx_metadata

SIZE = (64, 128)  # as in conftest.py


def test_verify_refuses_missing_and_corrupt(tmp_path, fp32_onnx):
    with pytest.raises(ExportError, match="does not exist"):
        verify_onnx(tmp_path / "nope.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(fp32_onnx[0].read_bytes()[:1000])
    with pytest.raises(ExportError, match="bad.onnx"):
        verify_onnx(bad)


def test_verify_reports_difference(fp32_onnx, depth_net, random_images):
    result = verify_onnx(fp32_onnx[0], depth_net=depth_net, images=random_images)
    assert result["missing_metadata"] == [] and result["finite"]
    assert result["output_shape"] == [2, 1, *SIZE]  # static batch-1 graph fed in chunks
    assert 0 <= result["max_abs_diff"] < 1e-3


def test_verify_flags_missing_metadata(fp32_onnx, tmp_path):
    import onnx

    model = onnx.load(str(fp32_onnx[0]))
    del model.metadata_props[:]
    onnx.save(model, str(tmp_path / "bare.onnx"))
    result = verify_onnx(tmp_path / "bare.onnx")  # size from the input shape instead
    assert "height" in result["missing_metadata"] and result["output_shape"] == [1, 1, *SIZE]
    assert read_onnx_metadata(tmp_path / "bare.onnx") == {}


def test_precision_table(fp32_onnx, synthetic_set):
    images, depth = synthetic_set
    rows = precision_table({"fp32": fp32_onnx[0], "again": fp32_onnx[0]}, images[:2], depth[:2])
    assert [r["precision"] for r in rows] == ["fp32", "again"]
    assert rows[0]["abs_rel"] > 0 and rows[1]["abs_rel_vs_fp32"] == pytest.approx(0.0, abs=1e-9)
    text = format_precision_table(rows)
    assert text.startswith("| precision | abs_rel") and "| again |" in text and np.isfinite(rows[0]["rmse"])
