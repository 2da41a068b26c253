"""A training run small enough for a unit test: ResNet-18 D and S at 64x128, 8 samples a domain."""
from pathlib import Path

from edgedepth.config import load_config

TINY = [
    "model.encoder=resnet18", "model.semantic_backbone=resnet18", "model.disc_channels=8",
    "data.size=[64,128]", "data.train_length=8", "data.test_length=2", "data.batch_size=2",
    "train.tensorboard=false", "train.progress=false", "train.keep_last=1", "train.log_every=1", "train.ckpt_every=2",
    "curriculum.enabled=true", "curriculum.stages=2",
]


def tiny_config(tmp_path: Path, *extra: str):
    return load_config(None, TINY + [f"train.out={tmp_path}"] + list(extra))


def run_train(cfg):
    from edgedepth.train import train

    return train(cfg)
