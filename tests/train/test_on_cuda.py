"""Every training, evaluation and export path on a (fake) CUDA device: a CPU tensor meeting a CUDA one fails here.

CI has no GPU. ``helpers.fake_cuda`` makes tensors report cuda:0 while computing on the CPU and
raises where an operator mixes them with CPU tensors, as real CUDA does. The same paths on a real
GPU run in benchmarks/gpu_smoke.sh.
"""
from __future__ import annotations

import os
import traceback

import pytest
import torch
from helpers.fake_cuda import DeviceMismatch, fake_cuda, is_cuda, replacing_parameters
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from edgedepth.checkpoint import load_checkpoint
from edgedepth.config import load_config
from edgedepth.kernels import ops
from edgedepth.train.variants import ABLATION_VARIANTS

TINY = [
    "model.encoder=resnet18", "model.semantic_backbone=resnet18", "model.shared_backbone=true",
    "model.disc_channels=8", "model.semantic_channels=16",
    "data.size=[64,96]", "data.train_length=4", "data.test_length=2", "data.batch_size=2", "data.color_jitter=0.2",
    "train.tensorboard=false", "train.progress=false", "train.keep_last=1", "train.device=cuda", "train.steps=1", "train.ckpt_every=0",
]


@pytest.fixture
def fused_on_cuda(monkeypatch):
    """The compiled CPU kernels stand in for the CUDA ones (fake CUDA tensors are CPU tensors)."""
    if not ops.has_kernel("cpu"):
        pytest.skip("the compiled operators are not built")
    real = ops.has_kernel
    monkeypatch.setattr(ops, "has_kernel", lambda device_type: real("cpu"))


def _batch(views: int = 2, b: int = 2, h: int = 8, w: int = 12) -> dict[str, torch.Tensor]:
    return {
        "image": torch.rand(b, 3, h, w), "depth": torch.rand(b, 1, h, w), "semantics": torch.zeros(b, h, w, dtype=torch.int64),
        "K": torch.eye(3).expand(b, 3, 3).clone(), "views_image": torch.rand(b, views, 3, h, w),
        "views_T": torch.eye(4).expand(b, views, 4, 4).clone(),
    }


def test_the_harness_catches_a_cpu_tensor_meeting_a_cuda_one():
    with fake_cuda():
        x = torch.rand(4, 4, device="cuda")
        with pytest.raises(DeviceMismatch):
            torch.eye(4) @ x
        assert is_cuda(x @ torch.eye(4, device=x.device)) and not is_cuda(x.cpu())


def test_flip_batch_keeps_every_tensor_on_the_batch_device():
    from edgedepth.train.augment import flip_batch

    with fake_cuda():
        batch = {k: v.to("cuda") for k, v in _batch().items()}
        out = flip_batch(batch, torch.tensor([True, False], device="cuda"))
        assert all(is_cuda(v) for v in out.values())
    flipped = flip_batch(_batch(), torch.tensor([True, False]))
    mirror = torch.diag(torch.tensor([-1.0, 1.0, 1.0, 1.0]))
    assert torch.equal(flipped["views_T"][0, 0], mirror @ torch.eye(4) @ mirror)


@pytest.mark.parametrize("kernel", ["fused", "reference"])
@pytest.mark.parametrize("variant", list(ABLATION_VARIANTS))
def test_every_ablation_variant_trains_on_cuda(tmp_path, variant, kernel, request):
    """One step through the loaders, augmentation, both optimiser steps (GradScaler on), eval and checkpoint."""
    from edgedepth.train import train

    if kernel == "fused":
        request.getfixturevalue("fused_on_cuda")
    cfg = load_config(None, TINY + ABLATION_VARIANTS[variant] + [f"loss.kernel={kernel}", f"train.out={tmp_path}"])
    with fake_cuda():
        summary = train(cfg)
    assert summary["steps"] == 1 and summary["eval"]["metrics"]["abs_rel"] > 0
    state = load_checkpoint(tmp_path / "model.pt")  # written from CUDA tensors, read on the CPU
    assert all(t.device.type == "cpu" and type(t) is torch.Tensor for t in state["models"]["depth"].values())


@pytest.mark.parametrize("encoder", ["edge_s", "edge_l"])
def test_the_edge_networks_train_with_the_full_method_on_cuda(tmp_path, encoder, fused_on_cuda):
    """S on the shared edge encoder, F on its features, the cycle loss over stereo + temporal views (temporal as
    fallback), the curriculum, the semantic discriminator, D's weight average."""
    from edgedepth.train import train

    cfg = load_config(None, TINY + ABLATION_VARIANTS["full_curriculum"] + [
        f"model.encoder={encoder}", "model.discriminator=semantic", "data.views=both", "loss.view_fallback=true",
        "train.ema=0.99", f"train.out={tmp_path}"])
    with fake_cuda():
        summary = train(cfg)
    assert summary["steps"] == 1 and summary["eval"]["metrics"]["abs_rel"] > 0
    state = load_checkpoint(tmp_path / "model.pt")
    assert state["config"]["model"]["encoder"] == encoder and state["models"]["depth_ema"]


class DeviceReads(TorchDispatchMode):
    """Records every operator that brings a value of a (fake) GPU tensor to the host: on a real GPU
    each makes the host wait until the GPU has caught up."""

    HOST_READS = {torch.ops.aten._local_scalar_dense.default, torch.ops.aten.nonzero.default,
                  torch.ops.aten.is_nonzero.default}
    # The optimisers and clip_grad_norm_ group tensors by device in C++, which sees the fake's CPU
    # storage, and so "move" a scalar to the CPU; on a real GPU that is a copy to the same GPU.
    FAKE_DEVICE_ARTIFACTS = (f"torch{os.sep}optim{os.sep}", "clip_grad.py")

    def __init__(self):
        super().__init__()
        self.reads: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        on_gpu = any(is_cuda(a) for a in tree_flatten((args, kwargs))[0])
        to_host = func is torch.ops.aten._to_copy.default and str(kwargs.get("device")) == "cpu" and not any(
            part in frame.filename for frame in traceback.extract_stack() for part in self.FAKE_DEVICE_ARTIFACTS)
        if on_gpu and (func in self.HOST_READS or to_host):
            self.reads.append(f"{func} at {traceback.extract_stack()[-3]}")
        return func(*args, **kwargs)


def test_a_training_step_never_waits_for_the_gpu(tmp_path):
    """Augmentation and a full D,S and F update (GradScaler on) read nothing back from the GPU; the
    loop reads the losses every train.log_every steps."""
    from edgedepth.train.data import build_train_data
    from edgedepth.train.loop import Trainer

    cfg = load_config(None, TINY + ABLATION_VARIANTS["full_curriculum"] + [f"train.out={tmp_path}"])
    with fake_cuda():
        trainer = Trainer(cfg)
        src_loader, tgt_loader, _ = trainer._loaders(build_train_data(cfg, with_test=False))
        for step, (src, tgt) in enumerate(zip(src_loader, tgt_loader)):
            with DeviceReads() as watch:
                losses = trainer.train_step(trainer._to_device(src, step, 0), trainer._to_device(tgt, step, 1))
            assert watch.reads == [] and all(is_cuda(v) for v in losses.values())
        with DeviceReads() as watch:
            float(losses["total"])
            losses["depth"].cpu()
        assert len(watch.reads) == 2  # the check can fail


def test_eval_command_on_cuda(tmp_path, capsys):
    from edgedepth.cli.main import main
    from edgedepth.train import train

    train(load_config(None, TINY + [f"train.out={tmp_path}", "train.device=cpu"]))
    with fake_cuda():
        code = main(["eval", "--checkpoint", str(tmp_path / "model.pt"), "--data", "synthetic-target", "--length", "2",
                     "--device", "cuda", "--json", str(tmp_path / "eval.json")])
    assert code == 0, capsys.readouterr().err
    assert (tmp_path / "eval.json").is_file()


def test_export_of_a_model_that_lives_on_cuda(tmp_path):
    pytest.importorskip("onnxruntime")
    from edgedepth.export import export_onnx
    from edgedepth.models import build_depth_net

    with fake_cuda():
        net = build_depth_net(encoder="resnet18").to("cuda")
        assert is_cuda(next(net.parameters()))
    # The tracer cannot run under the fake device; a CudaLike weight that export forgot to move
    # still fails there, against the CPU example input.
    with replacing_parameters():
        report = export_onnx(net, tmp_path / "m.onnx", size=(64, 96))
    assert report.verification["max_rel_diff"] < 1e-4


needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (benchmarks/gpu_smoke.sh runs these)")


@needs_gpu
@pytest.mark.parametrize("variant", list(ABLATION_VARIANTS))
def test_every_ablation_variant_trains_on_a_real_gpu(tmp_path, variant):
    """AMP and the fused CUDA kernels; the checkpoint resumes on the GPU and loads on the CPU."""
    from edgedepth.train import train

    base = TINY + ABLATION_VARIANTS[variant] + ["train.steps=2", "train.amp=true", "train.ckpt_every=1"]
    first = train(load_config(None, base + ["train.max_steps_per_run=1", f"train.out={tmp_path}"]))
    ckpt = next((tmp_path / "checkpoints").glob("step_*.pt"))
    resumed = train(load_config(None, base + [f"train.resume={ckpt}", f"train.out={tmp_path}"]))
    assert first["steps"] == 1 and resumed["steps"] == 2 and resumed["eval"]["metrics"]["abs_rel"] > 0
    state = load_checkpoint(tmp_path / "model.pt")
    assert all(t.device.type == "cpu" for t in state["models"]["depth"].values())
