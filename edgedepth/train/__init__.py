"""Training: alternating D,S / F updates, curriculum, AMP, DDP, checkpoints. Entry point: :func:`train`."""


def train(cfg):
    from edgedepth.train.loop import train as _train

    return _train(cfg)


__all__ = ["train"]
