import pytest

from helpers.tiny_onnx import export_tiny
from edgedepth.contract import inspect_onnx
from edgedepth.errors import ExportError


@pytest.mark.parametrize("kind, precision, shape", [
    ("fp32", "fp32", (-1, 3, 32, 64)),
    ("fp32_static", "fp32", (2, 3, 32, 64)),
    ("fp16", "fp16", (-1, 3, 32, 64)),
    ("int8", "int8", (-1, 3, 32, 64)),
])
def test_reads_precision_shape_and_metadata(onnx_files, kind, precision, shape):
    info = inspect_onnx(onnx_files[kind])
    assert (info.precision, info.input_shape, info.input_name, info.output_name) == (precision, shape, "image", "depth")
    assert (info.height, info.width, info.min_depth, info.max_depth) == (32, 64, 0.5, 80.0)
    assert info.dynamic_batch == (shape[0] == -1)
    assert len(info.sha256) == 64


def test_missing_metadata_names_the_keys(tmp_path):
    path = export_tiny(tmp_path / "m.onnx", drop=("max_depth", "preprocessing"))
    with pytest.raises(ExportError, match="lacks the metadata max_depth, preprocessing") as e:
        inspect_onnx(path)
    assert "edgedepth export" in e.value.fix


def test_metadata_size_must_match_the_input(tmp_path):
    from helpers.tiny_onnx import add_metadata

    path = export_tiny(tmp_path / "m.onnx")
    add_metadata(path, height=64, width=64)
    with pytest.raises(ExportError, match="input is 32x64 but its metadata says 64x64"):
        inspect_onnx(path)


def test_wrong_input_shape_is_refused(tmp_path):
    import onnx

    path = export_tiny(tmp_path / "m.onnx")
    model = onnx.load(str(path))
    model.graph.input[0].type.tensor_type.shape.dim[1].dim_value = 1  # a grey-scale input
    onnx.save(model, str(path))
    with pytest.raises(ExportError, match=r"input 'image' has shape \[-1, 1, 32, 64\]"):
        inspect_onnx(path)


def test_dynamic_height_is_refused(tmp_path):
    import onnx

    path = export_tiny(tmp_path / "m.onnx")
    model = onnx.load(str(path))
    model.graph.input[0].type.tensor_type.shape.dim[2].dim_param = "height"
    onnx.save(model, str(path))
    with pytest.raises(ExportError, match="fixed H and W"):
        inspect_onnx(path)


def test_precision_metadata_must_match_the_graph(tmp_path):
    from helpers.tiny_onnx import add_metadata

    path = export_tiny(tmp_path / "m.onnx")
    add_metadata(path, precision="int8")
    with pytest.raises(ExportError, match="metadata says precision int8 but the graph holds fp32"):
        inspect_onnx(path)


def test_not_an_onnx_file(tmp_path):
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(ExportError, match="not a readable ONNX model"):
        inspect_onnx(bad)
    with pytest.raises(ExportError, match="does not exist"):
        inspect_onnx(tmp_path / "none.onnx")
