"""The edge family (edge_s, edge_l): shapes, cost budgets, an INT8-friendly graph, and the method on top of it."""
import math

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from edgedepth.config import load_config
from edgedepth.errors import ConfigError
from edgedepth.models import build_depth_net, build_encoder, build_models
from edgedepth.models.edge import EDGE_SPECS

EDGE = sorted(EDGE_SPECS)
# Issue 18's budgets at 192x640, batch 1, counted as the issue counts them (torch.utils.flop_counter).
GMAC_BUDGET = {"edge_s": 0.6, "edge_l": 1.5}


def gmac(net, size=(192, 640)) -> float:
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net.predict_depth(torch.rand(1, 3, *size))
    return counter.get_total_flops() / 2e9


@pytest.mark.parametrize("name", EDGE)
def test_five_levels_at_strides_2_to_32_and_16_when_dilated(name):
    for dilate, strides in ((False, (2, 4, 8, 16, 32)), (True, (2, 4, 8, 16, 16))):
        enc = build_encoder(name=name, dilate_last=dilate).eval()
        with torch.no_grad():
            feats = enc(torch.rand(1, 3, 64, 96))
        assert enc.channels == EDGE_SPECS[name].widths and enc.output_stride == strides[-1]
        assert [tuple(f.shape) for f in feats] == [(1, c, 64 // s, 96 // s) for c, s in zip(enc.channels, strides)]


@pytest.mark.parametrize("name", EDGE)
def test_depth_net_outputs_four_scales_in_range_and_picks_the_add_decoder(name):
    net = build_depth_net(encoder=name, min_depth=0.5, max_depth=80.0).eval()
    assert net.decoder_name == "add"
    x = torch.rand(2, 3, 64, 128)
    with torch.no_grad():
        out, predicted = net(x), net.predict_depth(x)
    assert [tuple(d.shape) for d in out["disp"]] == [(2, 1, 64, 128), (2, 1, 32, 64), (2, 1, 16, 32), (2, 1, 8, 16)]
    assert out["features"].shape == (2, EDGE_SPECS[name].widths[-1], 2, 4)
    assert torch.allclose(predicted, out["depth"])
    assert ((predicted >= 0.5) & (predicted <= 80.0)).all()


@pytest.mark.parametrize("name", EDGE)
def test_cost_stays_within_the_edge_budget(name):
    net = build_depth_net(encoder=name).eval()
    cost = gmac(net)
    assert 0.2 * GMAC_BUDGET[name] < cost <= GMAC_BUDGET[name]
    assert gmac(build_depth_net(encoder="resnet18").eval()) > 5 * cost  # the counter counts the same way


def test_training_starts_at_the_geometric_mean_depth():
    """The heads' bias prior: an untrained net predicts street depths, not the 2 x min_depth of a sigmoid at 0.5."""
    torch.manual_seed(0)
    for name in ("edge_s", "resnet18"):
        net = build_depth_net(encoder=name, min_depth=0.5, max_depth=80.0).eval()
        with torch.no_grad():
            median = net.predict_depth(torch.rand(2, 3, 64, 128)).median().item()
        assert math.sqrt(0.5 * 80.0) / 2 < median < math.sqrt(0.5 * 80.0) * 2, name


def test_subpixel_head_starts_without_a_checkerboard():
    net = build_depth_net(encoder="edge_s").eval()
    with torch.no_grad():
        disp = net(torch.rand(1, 3, 64, 128))["disp"][0][0, 0]
    blocks = disp.unfold(0, 2, 2).unfold(1, 2, 2)  # [32, 64, 2, 2]: the four sub-pixels of each head pixel
    assert torch.allclose(blocks, blocks[..., :1, :1].expand_as(blocks))


@pytest.mark.parametrize("name", EDGE)
def test_exported_graph_has_only_int8_friendly_ops(tmp_path, name):
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from edgedepth.export import export_onnx

    report = export_onnx(build_depth_net(encoder=name).eval(), tmp_path / "m.onnx", size=(64, 128), batch=1)
    assert report.verification["max_rel_diff"] < 1e-4
    nodes = onnx.load(tmp_path / "m.onnx").graph.node
    ops = {n.op_type for n in nodes}
    # BatchNorm folded, no Pad (zero padding lives in the convs), no Concat, no ELU; the head's sigmoid and
    # depth-to-space, then the disparity -> depth conversion
    assert ops == {"Sub", "Div", "Conv", "Relu", "Add", "Resize", "Sigmoid", "DepthToSpace", "Mul", "Reciprocal"}, ops
    resize_modes = {a.s for n in nodes if n.op_type == "Resize" for a in n.attribute if a.name == "mode"}
    assert resize_modes == {b"nearest"}


@pytest.mark.parametrize("name", EDGE)
def test_the_method_builds_on_edge_features(name):
    """S's DeepLab head on the shared edge encoder (or its own dilated one), F on D's + S's features + the image."""
    for shared in ("true", "false"):
        cfg = load_config(None, [f"model.encoder={name}", f"model.semantic_backbone={name}", f"model.shared_backbone={shared}",
                                 "model.semantic_channels=16", "model.discriminator=semantic"])
        depth_net, semantic_net, disc = build_models(cfg.model)
        x = torch.rand(2, 3, 64, 128)
        seg = semantic_net(x)
        assert seg["logits"].shape == (2, 19, 64, 128)
        assert disc.in_channels == depth_net.feature_channels + 16 + 3 + 19
        assert (semantic_net.backbone is depth_net.encoder) == (shared == "true")


def test_decoder_can_be_chosen_and_a_wrong_one_is_refused():
    assert build_depth_net(encoder="edge_s", decoder="concat").decoder_name == "concat"
    assert build_depth_net(encoder="resnet18", decoder="add").decoder_name == "add"
    assert load_config(None, ["model.encoder=edge_l"]).model.decoder == "auto"
    with pytest.raises(ConfigError, match="model.decoder"):
        load_config(None, ["model.decoder=unet"])


def test_edge_encoder_loads_its_own_state_dict(tmp_path):
    reference = build_encoder(name="edge_s")
    with torch.no_grad():
        for p in reference.parameters():
            p.normal_()
    path = tmp_path / "edge_s.pth"
    torch.save(reference.state_dict(), path)
    loaded = build_encoder(name="edge_s", weights=str(path))
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), reference.state_dict().values()))
    torch.save(build_encoder(name="edge_l").state_dict(), tmp_path / "edge_l.pth")
    with pytest.raises(Exception, match="does not fit the edge_s"):
        build_encoder(name="edge_s", weights=str(tmp_path / "edge_l.pth"))
