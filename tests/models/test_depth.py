import io

import numpy as np
import pytest
import torch

from edgedepth.errors import ConfigError
from edgedepth.models import DepthPredictor, build_depth_net, disp_to_depth


def test_forward_shapes_and_depth_range():
    net = build_depth_net(encoder="resnet18", min_depth=0.5, max_depth=80.0).eval()
    x = torch.rand(2, 3, 64, 128)
    with torch.no_grad():
        out, predicted = net(x), net.predict_depth(x)
    assert [tuple(d.shape) for d in out["disp"]] == [(2, 1, 64, 128), (2, 1, 32, 64), (2, 1, 16, 32), (2, 1, 8, 16)]
    assert all(((d >= 0) & (d <= 1)).all() for d in out["disp"])
    assert out["depth"].shape == (2, 1, 64, 128)
    assert out["features"].shape == (2, net.feature_channels, 2, 4) and net.feature_channels == 512
    assert net.encoder_name == "resnet18"
    assert torch.allclose(out["depth"], disp_to_depth(out["disp"][0], 0.5, 80.0))
    assert torch.allclose(predicted, out["depth"])  # the export path computes the same depth


def test_disp_to_depth_spans_the_range():
    depth = disp_to_depth(torch.tensor([0.0, 1.0, 0.5]), 0.5, 80.0)
    assert depth[0].item() == pytest.approx(80.0)
    assert depth[1].item() == pytest.approx(0.5)
    assert 0.5 < depth[2].item() < 80.0


def test_predicted_depth_stays_in_range_even_when_saturated():
    net = build_depth_net(min_depth=1.0, max_depth=10.0).eval()
    with torch.no_grad():
        net.decoder.heads[0][1].bias.fill_(50.0)  # sigmoid -> 1: nearest depth
        near = net.predict_depth(torch.rand(1, 3, 32, 32))
        net.decoder.heads[0][1].bias.fill_(-50.0)  # sigmoid -> 0: farthest depth
        far = net.predict_depth(torch.rand(1, 3, 32, 32))
    assert torch.allclose(near, torch.ones_like(near), atol=1e-4)
    assert torch.allclose(far, torch.full_like(far, 10.0), rtol=1e-4)


@pytest.mark.parametrize("encoder", ["resnet50", "mobilenet_v3_large"])  # resnet34: see test_encoders
def test_other_encoders_forward(encoder):
    net = build_depth_net(encoder=encoder).eval()
    with torch.no_grad():
        out = net(torch.rand(1, 3, 64, 64))
    assert out["depth"].shape == (1, 1, 64, 64)
    assert out["features"].shape[1] == net.feature_channels
    assert ((out["depth"] >= 0.5) & (out["depth"] <= 80.0)).all()


def test_gradients_reach_every_parameter():
    net = build_depth_net()
    out = net(torch.rand(2, 3, 64, 64))
    (out["depth"].mean() + sum(d.mean() for d in out["disp"]) + out["features"].mean()).backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert missing == []


def test_invalid_depth_range_is_refused():
    with pytest.raises(ConfigError, match="min_depth"):
        build_depth_net(min_depth=10.0, max_depth=1.0)


@pytest.mark.parametrize("encoder, size", [("resnet18", (64, 128)), ("mobilenet_v3_large", (64, 64))])
def test_onnx_export_matches_torch(encoder, size):
    ort = pytest.importorskip("onnxruntime")
    net = build_depth_net(encoder=encoder).eval()
    x = torch.rand(2, 3, *size)
    buf = io.BytesIO()
    torch.onnx.export(
        DepthPredictor(net), (x,), buf, dynamo=False, opset_version=17,
        input_names=["image"], output_names=["depth"], dynamic_axes={"image": {0: "batch"}, "depth": {0: "batch"}},
    )
    assert not net.training  # the wrapper must not flip the net into training mode
    session = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"])
    x1 = torch.rand(1, 3, *size)  # another batch size through the dynamic axis
    (got,) = session.run(None, {"image": x1.numpy()})
    with torch.no_grad():
        want = net.predict_depth(x1).numpy()
    assert got.shape == (1, 1, *size)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_inputs_are_resized_to_multiples_of_32():
    from edgedepth.models import resized_to_stride

    seen = []

    def net(images):
        seen.append(tuple(images.shape[-2:]))
        return torch.ones(len(images), 1, *images.shape[-2:])

    out = resized_to_stride(net)(torch.rand(2, 3, 50, 90))
    assert seen == [(64, 96)] and out.shape == (2, 1, 50, 90)
    resized_to_stride(net)(torch.rand(1, 3, 64, 128))
    assert seen[-1] == (64, 128)
