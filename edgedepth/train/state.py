"""What a training checkpoint holds, and how it is written (atomically, last N kept, plus the best)."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from edgedepth.checkpoint import deployed_depth_weights, load_checkpoint, load_state_dict_checked, save_checkpoint
from edgedepth.config import to_dict
from edgedepth.errors import CheckpointError
from edgedepth.utils.io import remove_stale_temps

if TYPE_CHECKING:
    from edgedepth.train.loop import Trainer

# Everything a training run writes into train.out (glob patterns): `train --overwrite` removes these, nothing else.
RUN_OUTPUTS = ("checkpoints", "tb", "model.pt", "best.pt", "interrupted.pt", "config.yaml", "history.json",
               "summary.json", "eval.json", ".*.tmp")


def training_state(t: "Trainer") -> dict:
    """Everything needed to continue exactly: weights, optimisers, schedulers, scalers, history.

    No RNG state is stored: the trainer seeds every step from (seed, step, rank), so a resumed run
    draws the same dropout masks and augmentations as an uninterrupted one."""
    models = {
        "depth": t.depth_net.state_dict(),
        "semantic": t.semantic_net.state_dict() if t.semantic_net is not None else {},
        "discriminator": t.discriminator.state_dict(),
    }
    if t.ema is not None:  # D's weight average (train.ema): what evaluation, export and `edgedepth infer` load
        models["depth_ema"] = t.ema.state_dict()
    return {
        "config": to_dict(t.cfg),
        "models": models,
        "ema_updates": t.ema.updates if t.ema is not None else 0,
        "optim": {"g": t.opt_g.state_dict(), "f": t.opt_f.state_dict()},
        "sched": {"g": t.sched_g.state_dict(), "f": t.sched_f.state_dict()},
        "scaler": {"g": t.scaler_g.state_dict(), "f": t.scaler_f.state_dict()},
        "step": t.step,
        "history": t.history,
        "curve": t.curve,  # every evaluation so far, so a resumed run's summary.json keeps the whole learning curve
        "best": t.best,
    }


def restore_training_state(t: "Trainer", path: str | Path) -> dict:
    state = load_checkpoint(path, map_location=t.device)
    try:
        models = state["models"]
        load_state_dict_checked(t.depth_net, models["depth"], what="depth", path=path)
        if t.semantic_net is not None:
            load_state_dict_checked(t.semantic_net, models["semantic"], what="semantic", path=path)
        load_state_dict_checked(t.discriminator, models["discriminator"], what="discriminator", path=path)
        t.opt_g.load_state_dict(state["optim"]["g"])
        t.opt_f.load_state_dict(state["optim"]["f"])
        t.sched_g.load_state_dict(state["sched"]["g"])
        t.sched_f.load_state_dict(state["sched"]["f"])
        t.scaler_g.load_state_dict(state["scaler"]["g"])
        t.scaler_f.load_state_dict(state["scaler"]["f"])
        t.step = int(state["step"])
        t.history = list(state.get("history", []))
        t.curve = list(state.get("curve", []))
        t.best = dict(state.get("best", {}))
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(
            f"checkpoint '{path}' cannot resume training",
            why=f"it lacks or mismatches the training state ({e})",
            fix="resume from a checkpoint written by `edgedepth train` with the same model config",
        ) from None
    return state


def initialise_from(t: "Trainer", path: str | Path) -> list[str]:
    """Start from the weights of another run (``train.init_from``): every network the checkpoint has and
    this model has too, with fresh optimisers and step 0. Returns the names of the networks loaded.

    A source-only checkpoint has no S, and its F sees other inputs: networks that the checkpoint lacks or
    whose shapes differ start from scratch, so every domain-adaptation variant can warm-start from the
    same source-only model. D must fit."""
    state = load_checkpoint(path, map_location=t.device)
    loaded = []
    for name, net in (("depth", t.depth_net), ("semantic", t.semantic_net), ("discriminator", t.discriminator)):
        models = state.get("models") or {}
        weights = deployed_depth_weights(models) if name == "depth" else models.get(name)
        if net is None or not weights or (name != "depth" and not _same_shapes(net.state_dict(), weights)):
            continue
        load_state_dict_checked(net, weights, what=name, path=path)
        loaded.append(name)
    if "depth" not in loaded:
        raise CheckpointError(f"checkpoint '{path}' has no depth network to start from", fix="pass a checkpoint written by `edgedepth train`")
    return loaded


def _same_shapes(have: dict, given: dict) -> bool:
    return have.keys() == given.keys() and all(have[k].shape == given[k].shape for k in have)


class CheckpointKeeper:
    """Writes OUT/checkpoints/step_NNNNNNN.pt (keeping the last N), OUT/best.pt and OUT/model.pt."""

    def __init__(self, out: Path, *, keep_last: int = 3):
        self.dir = Path(out) / "checkpoints"
        self.out = Path(out)
        self.keep_last = max(1, keep_last)
        # A run killed during a checkpoint write (SIGKILL, power loss) leaves its temporary file behind.
        remove_stale_temps(self.dir, ["step_*.pt"])
        remove_stale_temps(self.out, ["model.pt", "best.pt", "interrupted.pt"])

    def save(self, state: dict, *, step: int, tag: str) -> Path:
        path = self.dir / f"step_{step:07d}.pt"
        save_checkpoint(path, state)
        if tag in ("final", "interrupted"):
            save_checkpoint(self.out / ("model.pt" if tag == "final" else "interrupted.pt"), state)
        for old in sorted(self.dir.glob("step_*.pt"))[: -self.keep_last]:
            old.unlink(missing_ok=True)
        return self.out / "model.pt" if tag == "final" else path

    def save_best(self, state: dict) -> Path:
        path = self.out / "best.pt"
        save_checkpoint(path, state)
        return path

    def latest(self) -> Path | None:
        found = sorted(self.dir.glob("step_*.pt"))
        return found[-1] if found else None
