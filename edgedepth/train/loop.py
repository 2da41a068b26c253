"""Alternating domain-adaptive training: D and S minimise, F maximises.

One step:
  1. D and S see the source and the target batch together; their loss is
     w_depth·L1(source depth) + w_seg·CE(both domains) + w_adv·adv(F(target features) looks "source")
     + w_cycle·photometric cycle (both domains) + w_smooth·edge-aware smoothness.
  2. F sees detached source and target features and learns to tell them apart.
Target batches follow the curriculum (simple to complex); everything that decides a step is a
function of (seed, step), so a resumed run reproduces an uninterrupted one exactly.
"""
from __future__ import annotations

import logging
import math
import os
import time
from contextlib import nullcontext
from pathlib import Path

import torch
import torch.nn.functional as nnf
from torch.nn.parallel import DistributedDataParallel

from edgedepth.config import Config, save_config
from edgedepth.torch_device import torch_device
from edgedepth.errors import TrainingError
from edgedepth.losses import adversarial_loss, depth_l1, pyramid_cycle_loss, segmentation_ce, smoothness_loss
from edgedepth.models import build_models, discriminator_input, disp_to_depth
from edgedepth.train import distributed as ddp
from edgedepth.train.augment import augment_batch
from edgedepth.train.curriculum import CurriculumBatchSampler
from edgedepth.train.data import batch_to_device, build_train_data, check_labelled_source, make_loader
from edgedepth.train.ema import WeightAverage
from edgedepth.train.history import NonFiniteLoss, PendingLosses
from edgedepth.train.state import CheckpointKeeper, initialise_from, restore_training_state, training_state
from edgedepth.utils.io import write_json
from edgedepth.utils.progress import progress_bar

log = logging.getLogger("edgedepth.train")


class Trainer:
    """Owns the models, optimisers, data and checkpoints of one training run."""

    def __init__(self, cfg: Config):
        self.cfg = cfg
        self.device = torch_device(cfg.train.device, int(os.environ.get("LOCAL_RANK", "0")))
        self.dist = ddp.init_distributed(self.device)
        self.out = Path(cfg.train.out)
        torch.manual_seed(cfg.train.seed + self.dist.rank)
        self.amp = cfg.train.amp and self.device.type == "cuda"

        depth_net, semantic_net, discriminator = build_models(cfg.model)
        self.depth_net = depth_net.to(self.device)
        self.semantic_net = semantic_net.to(self.device) if semantic_net is not None else None
        self.discriminator = discriminator.to(self.device)
        self.semantic_disc = cfg.model.discriminator == "semantic"

        self.gen_params = self._unique_params([self.depth_net, self.semantic_net])
        self.disc_params = list(self.discriminator.parameters())
        o = cfg.optim
        # Fused Adam: one kernel per step for all parameters, and with a GradScaler it skips an
        # overflowed step on the device instead of asking the host (which would wait for the GPU).
        self.opt_g = torch.optim.Adam(self.gen_params, lr=o.lr, betas=o.betas, weight_decay=o.weight_decay, fused=True)
        self.opt_f = torch.optim.Adam(self.disc_params, lr=o.disc_lr, betas=o.betas, fused=True)
        self.sched_g = torch.optim.lr_scheduler.LambdaLR(self.opt_g, self._lr_factor)
        self.sched_f = torch.optim.lr_scheduler.LambdaLR(self.opt_f, self._lr_factor)
        self.scaler_g = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.scaler_f = torch.amp.GradScaler("cuda", enabled=self.amp)

        self.step = 0
        self.history: list[dict[str, float]] = []
        self.pending = PendingLosses()
        self.best: dict = {}
        # every evaluation of this run: step, training seconds before it (evaluations excluded), target metrics
        self.curve: list[dict] = []
        self._clock = {"started": time.perf_counter(), "evaluating": 0.0}
        self.keeper = CheckpointKeeper(self.out, keep_last=cfg.train.keep_last) if self.dist.is_main else None
        state = None
        if cfg.train.resume:
            state = restore_training_state(self, cfg.train.resume)
            log.info("resumed from %s at step %d", cfg.train.resume, state["step"])
        elif cfg.train.init_from:
            log.info("initialised %s from %s", ", ".join(initialise_from(self, cfg.train.init_from)), cfg.train.init_from)
        # the average of D's weights that is evaluated and saved for deployment (train.ema > 0); only the main
        # process evaluates and saves, so only it keeps one
        self.ema = WeightAverage(self.depth_net, cfg.train.ema) if cfg.train.ema > 0 and self.dist.is_main else None
        if self.ema is not None and state is not None and state["models"].get("depth_ema"):
            self.ema.load_state_dict(state["models"]["depth_ema"], state.get("ema_updates", 0))

        # DDP wraps D and S for the generator step; F's own step uses its wrapper, while the
        # generator step calls the bare F so that F's gradients there are neither reduced nor kept.
        self.depth_fwd, self.semantic_fwd, self.disc_fwd = self.depth_net, self.semantic_net, self.discriminator
        if self.dist.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.depth_fwd = DistributedDataParallel(self.depth_net, device_ids=ids)
            if self.semantic_net is not None:
                self.semantic_fwd = DistributedDataParallel(self.semantic_net, device_ids=ids)
            self.disc_fwd = DistributedDataParallel(self.discriminator, device_ids=ids)

    # ------------------------------------------------------------------ setup helpers
    @staticmethod
    def _unique_params(modules):
        seen, params = set(), []
        for m in modules:
            if m is None:
                continue
            for p in m.parameters():
                if id(p) not in seen:
                    seen.add(id(p))
                    params.append(p)
        return params

    def _lr_factor(self, step: int) -> float:
        o, total = self.cfg.optim, max(1, self.cfg.train.steps)
        if o.warmup_steps and step < o.warmup_steps:
            return (step + 1) / o.warmup_steps
        if o.scheduler == "cosine":
            return 0.5 * (1 + math.cos(math.pi * min(step, total) / total))
        if o.scheduler == "step":
            return 0.1 ** (step // max(1, int(0.75 * total)))
        return 1.0

    def _autocast(self):
        return torch.autocast("cuda", dtype=torch.float16) if self.amp else nullcontext()

    # ------------------------------------------------------------------ one step
    def _generator_losses(self, src, tgt):
        w = self.cfg.loss
        n = src["image"].shape[0]
        images = torch.cat([src["image"], tgt["image"]])
        out = self.depth_fwd(images)
        full = images.shape[-2:]
        m = self.depth_net
        depths = [
            disp_to_depth(nnf.interpolate(d, size=full, mode="bilinear", align_corners=False), m.min_depth, m.max_depth)
            for d in out["disp"]
        ]
        losses: dict[str, torch.Tensor] = {}
        losses["depth"] = sum(depth_l1(d[:n], src["depth"], space=w.depth_space) for d in depths) / len(depths)
        if w.target_depth > 0:
            losses["target_depth"] = sum(depth_l1(d[n:], tgt["depth"], space=w.depth_space) for d in depths) / len(depths)
        semantic_features = semantic_logits = None
        if self.semantic_net is not None:
            seg = self.semantic_fwd(images)
            semantic_features = seg["features"]
            semantic_logits = seg["logits"] if self.semantic_disc else None
            if w.seg > 0:
                labels = torch.cat([src["semantics"], tgt["semantics"]])
                losses["seg"] = segmentation_ce(seg["logits"], labels)
        if w.adv > 0:
            d_in = discriminator_input(
                out["features"][n:], _half(semantic_features, n), tgt["image"], semantic_logits=_half(semantic_logits, n)
            )
            losses["adv"] = adversarial_loss(self.discriminator(d_in), real=True, kind=w.adv_kind)
        if w.cycle > 0:
            # every level compares the full-resolution depth, area-averaged: the coarse levels correct the map
            # that is evaluated and exported (with the decoder's own coarse heads instead: AbsRel 0.248 vs 0.231)
            photometric = dict(scales=w.cycle_scales, kernel=w.kernel, automask=w.automask, fallback=w.view_fallback)
            cycle = pyramid_cycle_loss(tgt["image"], tgt["views_image"], tgt["views_T"], depths[0][n:], tgt["K"], **photometric)
            if w.cycle_source:
                cycle = 0.5 * (cycle + pyramid_cycle_loss(src["image"], src["views_image"], src["views_T"], depths[0][:n],
                                                          src["K"], **photometric))
            losses["cycle"] = cycle
        if w.smooth > 0:
            losses["smooth"] = smoothness_loss(out["disp"][0], images)
        weights = {"depth": w.depth, "target_depth": w.target_depth, "seg": w.seg, "adv": w.adv, "cycle": w.cycle, "smooth": w.smooth}
        total = sum(weights[k] * v for k, v in losses.items())
        detached = tuple(None if t is None else t.detach() for t in (out["features"], semantic_features, semantic_logits))
        return total, losses, detached

    def _discriminator_loss(self, src_image, tgt_image, features):
        depth_features, semantic_features, semantic_logits = features
        d_in = discriminator_input(
            depth_features, semantic_features, torch.cat([src_image, tgt_image]), semantic_logits=semantic_logits
        )
        logits = self.disc_fwd(d_in)
        n = src_image.shape[0]
        kind = self.cfg.loss.adv_kind
        return 0.5 * (adversarial_loss(logits[:n], real=True, kind=kind) + adversarial_loss(logits[n:], real=False, kind=kind))

    def _clip_and_step(self, loss, optimizer, scaler, params):
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if self.cfg.optim.grad_clip > 0:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(params, self.cfg.optim.grad_clip)
        scaler.step(optimizer)
        scaler.update()

    def train_step(self, src, tgt) -> dict[str, torch.Tensor]:
        """One D,S update and one F update. Returns the detached losses still on the device: reading
        them would make the host wait for the GPU, so the loop reads them every ``train.log_every`` steps."""
        for m in (self.depth_net, self.semantic_net, self.discriminator):
            if m is not None:
                m.train()
        with self._autocast():
            total, losses, features = self._generator_losses(src, tgt)
        self._clip_and_step(total, self.opt_g, self.scaler_g, self.gen_params)
        record = {k: v.detach() for k, v in losses.items()}
        record["total"] = total.detach()
        if self.cfg.loss.adv > 0:
            with self._autocast():
                loss_f = self._discriminator_loss(src["image"], tgt["image"], features)
            self._clip_and_step(loss_f, self.opt_f, self.scaler_f, self.disc_params)
            self.sched_f.step()
            record["disc"] = loss_f.detach()
        self.sched_g.step()
        if self.ema is not None:
            self.ema.update(self.depth_net)
        return record

    # ------------------------------------------------------------------ the loop
    def _loaders(self, data):
        cfg, d = self.cfg, self.cfg.data
        common = dict(batch_size=d.batch_size, total_steps=cfg.train.steps, rank=self.dist.rank,
                      world_size=self.dist.world_size, start_step=self.step)
        src_sampler = CurriculumBatchSampler([0.0] * len(data.source), seed=cfg.train.seed, **common)
        tgt_sampler = CurriculumBatchSampler(
            data.target_complexity, seed=cfg.train.seed + 1, curriculum=cfg.curriculum.enabled,
            stages=cfg.curriculum.stages, warmup_fraction=cfg.curriculum.warmup_fraction, **common,
        )
        make = lambda ds, s: make_loader(ds, s, device=self.device, num_workers=d.num_workers)  # noqa: E731
        return make(data.source, src_sampler), make(data.target, tgt_sampler), tgt_sampler

    def _to_device(self, batch, step: int, salt: int):
        d = self.cfg.data
        return augment_batch(batch_to_device(batch, self.device), flip=d.flip, color_jitter=d.color_jitter,
                             seed=self.cfg.train.seed, step=step, salt=salt)

    def _save(self, tag: str) -> Path | None:
        if self.keeper is None:
            return None
        return self.keeper.save(training_state(self), step=self.step, tag=tag)

    def _flush_losses(self, writer, bar, *, check_finite: bool = True) -> None:
        """Read the pending losses into the history, the progress bar and TensorBoard."""
        try:
            records = self.pending.flush(self.dist, check_finite=check_finite)
        except NonFiniteLoss as e:
            raise self._nan_error(e.record) from None
        if not records:
            return
        self.history.extend(records)
        last = records[-1]
        bar.set_postfix({k: f"{v:.3g}" for k, v in last.items() if k in ("total", "depth", "cycle", "adv", "disc")})
        if writer is not None:
            for k, v in last.items():
                writer.add_scalar(f"loss/{k}" if k not in ("step", "pool") else f"train/{k}", v, self.step)
            writer.add_scalar("train/lr", self.sched_g.get_last_lr()[0], self.step)

    def _after_step(self, data, writer, bar, stop_at: int) -> None:
        t = self.cfg.train
        evaluate = t.eval_every and self.step % t.eval_every == 0 and self.step < t.steps
        save = t.ckpt_every and self.step % t.ckpt_every == 0
        if self.step % t.log_every == 0 or self.step == stop_at or evaluate or save:
            self._flush_losses(writer, bar)  # also checks for NaN: nothing is evaluated or saved after one
        if evaluate:
            self._evaluate(data, writer)
        if save:
            self._save("step")

    def fit(self) -> dict:
        """Train to ``train.steps`` (or ``train.max_steps_per_run`` more steps); returns the final summary."""
        cfg = self.cfg
        if self.dist.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
            save_config(cfg, self.out / "config.yaml")
        data = build_train_data(cfg, with_test=self.dist.is_main)
        check_labelled_source(data.source, cfg)
        src_loader, tgt_loader, tgt_sampler = self._loaders(data)
        writer = self._tensorboard()
        stop_at = cfg.train.steps
        if cfg.train.max_steps_per_run > 0:
            stop_at = min(stop_at, self.step + cfg.train.max_steps_per_run)
        bar = progress_bar(total=cfg.train.steps, initial=self.step, desc="train", disable=not (cfg.train.progress and self.dist.is_main))
        started = time.perf_counter()
        self._clock = {"started": started, "evaluating": 0.0}
        try:
            for src, tgt in zip(src_loader, tgt_loader):
                if self.step >= stop_at:
                    break
                torch.manual_seed(cfg.train.seed * 1_000_003 + self.step * 1_009 + self.dist.rank)
                src = self._to_device(src, self.step, 0)
                tgt = self._to_device(tgt, self.step, 1)
                self.pending.add(self.step, tgt_sampler.pool_size(self.step), self.train_step(src, tgt))
                self.step += 1
                bar.update(1)
                self._after_step(data, writer, bar, stop_at)
            self._flush_losses(writer, bar)
        except KeyboardInterrupt:
            self._flush_losses(writer, bar, check_finite=False)
            path = self._save("interrupted")
            if path is not None:
                log.warning("interrupted at step %d; checkpoint saved to %s (resume with train.resume=%s)", self.step, path, path)
            raise
        finally:
            bar.close()
        summary = {"steps": self.step, "seconds": round(time.perf_counter() - started, 2), "out": str(self.out)}
        if self.step >= cfg.train.steps:
            summary["eval"] = self._evaluate(data, writer)
        path = self._save("final" if self.step >= cfg.train.steps else "step")
        if self.dist.is_main:
            summary["checkpoint"] = str(path)
            write_json(self.out / "history.json", self.history)
            if self.curve:
                summary["curve"] = self.curve
            write_json(self.out / "summary.json", summary)
        if writer is not None:
            writer.close()
        ddp.barrier(self.dist)
        return summary

    def _tensorboard(self):
        if not (self.cfg.train.tensorboard and self.dist.is_main):
            return None
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            log.warning("tensorboard is not installed; training logs go to history.json only")
            return None
        return SummaryWriter(str(self.out / "tb"))

    def _evaluate(self, data, writer) -> dict | None:
        if not self.dist.is_main or data.test is None:
            return None
        from edgedepth.eval import evaluate
        from edgedepth.eval.report import json_ready

        net = self.ema.module if self.ema is not None else self.depth_net.eval()

        @torch.no_grad()
        def predict(images):
            return net.predict_depth(images.to(self.device)).float().cpu()

        seg_fn = None
        if self.semantic_net is not None:
            seg = self.semantic_net.eval()

            @torch.no_grad()
            def seg_fn(images):  # noqa: F811 - a closure over the eval-mode net
                return seg(images.to(self.device))["logits"].float().cpu()

        began = time.perf_counter()
        result = evaluate(predict, data.test, batch_size=self.cfg.data.batch_size, max_depth=self.cfg.model.max_depth,
                          semantic_fn=seg_fn, progress=False)
        self._record_curve(result, began)
        metrics = result["metrics"]
        if writer is not None:
            for k, v in metrics.items():
                writer.add_scalar(f"eval/{k}", v, self.step)
        if not self.best or metrics["abs_rel"] < self.best.get("abs_rel", float("inf")):
            self.best = {"step": self.step, **metrics}
            if self.keeper is not None:
                self.keeper.save_best(training_state(self))
        result = json_ready(result)
        write_json(self.out / "eval.json", result)
        return result

    def _record_curve(self, result: dict, began: float) -> None:
        trained = began - self._clock["started"] - self._clock["evaluating"]
        self.curve.append({"step": self.step, "train_seconds": round(trained, 2), "abs_rel": float(result["metrics"]["abs_rel"]),
                           "bins": {b: float(v["abs_rel"]) for b, v in (result.get("bins") or {}).items() if v},
                           "boundary_abs_rel": float((result.get("boundary") or {}).get("abs_rel", float("nan")))})
        self._clock["evaluating"] += time.perf_counter() - began

    def _nan_error(self, record: dict[str, float]) -> TrainingError:
        last = self.keeper.latest() if self.keeper else None
        kept = f"the last good checkpoint is {last}" if last else "no checkpoint was written yet"
        losses = ", ".join(f"{k}={v:.3g}" for k, v in record.items() if k not in ("step", "pool"))
        return TrainingError(
            f"training stopped at step {record['step']}: a loss is not finite ({losses})",
            why=f"the weights diverged or the data holds NaN/inf values; {kept}",
            fix="lower optim.lr or optim.disc_lr, keep optim.grad_clip > 0, check the data with `edgedepth data check`, "
            + (f"and resume with train.resume={last}" if last else "and train again"),
        )


def _half(t: torch.Tensor | None, n: int) -> torch.Tensor | None:
    """The target half of a [source; target] batch, or None."""
    return None if t is None else t[n:]


def train(cfg: Config) -> dict:
    trainer = Trainer(cfg)
    try:
        return trainer.fit()
    finally:
        ddp.shutdown(trainer.dist)
