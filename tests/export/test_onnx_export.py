import onnx
import pytest

from edgedepth.errors import ExportError
from edgedepth.export import export_from_checkpoint, export_onnx
from edgedepth.export.onnx_export import FP32_REL_TOLERANCE

SIZE = (64, 128)  # as in conftest.py


def test_graph_io_and_metadata(fp32_onnx, depth_net):
    path, report = fp32_onnx
    model = onnx.load(str(path))
    (inp,), (out,) = model.graph.input, model.graph.output
    assert inp.name == "image" and out.name == "depth"
    assert [d.dim_value for d in inp.type.tensor_type.shape.dim] == [1, 3, *SIZE]
    assert [d.dim_value for d in out.type.tensor_type.shape.dim] == [1, 1, *SIZE]
    assert model.opset_import[0].version >= 17
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["height"] == "64" and meta["width"] == "128" and meta["batch"] == "1"
    assert float(meta["min_depth"]) == depth_net.min_depth and float(meta["max_depth"]) == depth_net.max_depth
    assert meta["preprocessing"] == "rgb01" and meta["precision"] == "fp32" and meta["encoder"] == "resnet18"
    assert "edgedepth_version" in meta


def test_verified_and_simplified(fp32_onnx):
    _, report = fp32_onnx
    assert report.verification["checker"] == "ok"
    assert report.verification["max_rel_diff"] < FP32_REL_TOLERANCE
    assert report.verification["output_shape"] == [1, 1, *SIZE]
    # the TorchScript export of the decoder has hundreds of shape nodes; onnxslim folds them
    assert report.simplified and report.nodes_after < report.nodes_before
    assert "max |diff|/depth" in report.summary()


def test_normalisation_is_in_the_graph(fp32_onnx):
    """The graph starts from [0,1] RGB: a Sub/Div (ImageNet mean/std) precedes the first Conv."""
    model = onnx.load(str(fp32_onnx[0]))
    ops = [n.op_type for n in model.graph.node]
    assert ops.index("Conv") > min(ops.index(o) for o in ("Sub", "Div", "Mul", "Add") if o in ops)


def test_dynamic_batch(depth_net, tmp_path):
    path = tmp_path / "dyn.onnx"
    report = export_onnx(depth_net, path, size=SIZE, batch="dynamic")
    model = onnx.load(str(path))
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"
    assert report.verification["output_shape"] == [2, 1, *SIZE]  # verified with N=2
    assert report.metadata["batch"] == "dynamic"


@pytest.mark.parametrize("kwargs, words", [
    (dict(size=(60, 128)), "multiple of 32"),
    (dict(batch=0), "batch"),
    (dict(batch="many"), "batch"),
    (dict(opset=11), "opset"),
])
def test_bad_arguments(depth_net, tmp_path, kwargs, words):
    with pytest.raises(ExportError, match=words):
        export_onnx(depth_net, tmp_path / "m.onnx", **kwargs)
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_not_a_depth_net(tmp_path):
    import torch

    with pytest.raises(ExportError, match="predict_depth"):
        export_onnx(torch.nn.Conv2d(3, 1, 1), tmp_path / "m.onnx", size=SIZE)


def test_from_checkpoint(depth_net, tmp_path):
    from edgedepth.checkpoint import save_checkpoint
    from edgedepth.config import Config, to_dict

    ckpt = tmp_path / "model.pt"
    save_checkpoint(ckpt, {"config": to_dict(Config()), "models": {"depth": depth_net.state_dict()}, "step": 0})
    report = export_from_checkpoint(ckpt, tmp_path / "m.onnx", size=SIZE)
    assert report.metadata["checkpoint"] == "model.pt"
    assert report.verification["max_rel_diff"] < FP32_REL_TOLERANCE
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "model.pt"]  # atomic: no temp files left
