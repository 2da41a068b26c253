"""End-to-end training on tiny synthetic data: outputs, exact resume, NaN guard, bad input, DDP."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from edgedepth.checkpoint import load_checkpoint
from edgedepth.cli.main import main
from edgedepth.config import load_config
from edgedepth.data import Sample
from edgedepth.errors import CheckpointError, DataError, TrainingError
from edgedepth.train.data import check_labelled_source
from helpers.tiny_train import TINY, run_train, tiny_config

def test_training_writes_checkpoint_config_history_and_eval(tmp_path):
    summary = run_train(tiny_config(tmp_path, "train.steps=3"))
    assert summary["steps"] == 3
    for name in ("model.pt", "best.pt", "config.yaml", "history.json", "eval.json", "summary.json"):
        assert (tmp_path / name).is_file(), name
    history = json.loads((tmp_path / "history.json").read_text())
    assert [h["step"] for h in history] == [0, 1, 2]
    assert {"depth", "seg", "adv", "cycle", "smooth", "disc", "total"} <= set(history[0])
    assert all(torch.isfinite(torch.tensor(h["total"])) for h in history)
    ev = json.loads((tmp_path / "eval.json").read_text())
    assert {"abs_rel", "rmse", "a1"} <= set(ev["metrics"])
    state = load_checkpoint(tmp_path / "model.pt")
    assert state["step"] == 3 and set(state["models"]) == {"depth", "semantic", "discriminator", "depth_ema"}
    assert load_config(tmp_path / "config.yaml").train.steps == 3


def test_resume_continues_exactly(tmp_path):
    full = run_train(tiny_config(tmp_path / "full", "train.steps=4", "train.eval_every=1"))
    assert full["steps"] == 4
    part = run_train(tiny_config(tmp_path / "part", "train.steps=4", "train.eval_every=1", "train.max_steps_per_run=2"))
    assert part["steps"] == 2
    ckpt = tmp_path / "part" / "checkpoints" / "step_0000002.pt"
    assert ckpt.is_file()
    resumed = run_train(tiny_config(tmp_path / "part", "train.steps=4", "train.eval_every=1", f"train.resume={ckpt}"))
    # the learning curve survives the resume: the evaluations before the checkpoint are in the summary too
    assert [p["step"] for p in resumed["curve"]] == [p["step"] for p in full["curve"]] == [1, 2, 3, 4]
    for a, b in zip(full["curve"], resumed["curve"]):
        assert a["abs_rel"] == pytest.approx(b["abs_rel"], rel=1e-4)
    a = json.loads((tmp_path / "full" / "history.json").read_text())
    b = json.loads((tmp_path / "part" / "history.json").read_text())
    assert [h["step"] for h in b] == [0, 1, 2, 3]
    for ha, hb in zip(a, b):
        for key in ("total", "depth", "cycle", "adv", "disc"):
            assert ha[key] == pytest.approx(hb[key], rel=1e-5, abs=1e-7), (ha["step"], key)


def test_nan_loss_stops_with_message_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    import edgedepth.train.loop as loop

    calls = {"n": 0}
    real = loop.depth_l1

    def poisoned(pred, gt, **options):
        calls["n"] += 1
        value = real(pred, gt, **options)
        return value * float("nan") if calls["n"] > 4 * 2 else value  # 4 scales per step: NaN from step 2 on

    monkeypatch.setattr(loop, "depth_l1", poisoned)
    with pytest.raises(TrainingError) as err:
        run_train(tiny_config(tmp_path, "train.steps=5"))
    msg = err.value.message()
    assert "step 2" in msg and "not finite" in msg
    assert "step_0000002.pt" in msg
    good = load_checkpoint(tmp_path / "checkpoints" / "step_0000002.pt")
    assert all(torch.isfinite(v).all() for v in good["models"]["depth"].values() if v.is_floating_point())


def test_source_without_depth_labels_is_refused():
    cfg = load_config(None, [])
    unlabelled = [Sample(image=torch.rand(3, 8, 8), K=torch.eye(3), depth=None) for _ in range(3)]
    with pytest.raises(DataError, match="no labelled depth"):
        check_labelled_source(unlabelled, cfg)
    zero = [Sample(image=torch.rand(3, 8, 8), K=torch.eye(3), depth=torch.zeros(1, 8, 8))]
    with pytest.raises(DataError):
        check_labelled_source(zero, cfg)
    check_labelled_source(zero, load_config(None, ["loss.depth=0"]))


def test_resume_with_other_architecture_or_truncated_checkpoint_is_a_clear_error(tmp_path):
    run_train(tiny_config(tmp_path / "a", "train.steps=2"))
    ckpt = tmp_path / "a" / "model.pt"
    with pytest.raises(CheckpointError, match="does not fit"):
        run_train(tiny_config(tmp_path / "b", "train.steps=3", "model.encoder=resnet34", f"train.resume={ckpt}"))
    broken = tmp_path / "broken.pt"
    broken.write_bytes(ckpt.read_bytes()[: 4096])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_checkpoint(broken)


def test_cli_names_a_bad_config_key(tmp_path, capsys):
    code = main(["train", "train.stepz=3"])
    assert code == 2
    assert "train.stepz" in capsys.readouterr().err


def test_two_process_ddp_on_cpu(tmp_path):
    env = {**os.environ, "EDGEDEPTH_NO_PROGRESS": "1", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", "29517",
           "-m", "edgedepth", "train", *TINY, "train.steps=2", "train.device=cpu", f"train.out={tmp_path}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    history = json.loads((tmp_path / "history.json").read_text())
    assert len(history) == 2
    assert (tmp_path / "model.pt").is_file()


def test_init_from_warm_starts_every_network_the_checkpoint_has(tmp_path):
    """A source-only run (no S) warm-starts a full run: D's (averaged) weights carry over, S starts fresh, step 0."""
    source_only = run_train(tiny_config(tmp_path / "src", "train.steps=1", "model.semantics=false", "loss.seg=0", "loss.adv=0"))
    ckpt = tmp_path / "src" / "model.pt"
    from edgedepth.train.loop import Trainer

    trainer = Trainer(tiny_config(tmp_path / "full", "train.steps=1", f"train.init_from={ckpt}"))
    expected = load_checkpoint(ckpt)["models"]["depth_ema"]  # D's weight average: the warm start's deployable D
    assert trainer.step == 0 and source_only["steps"] == 1
    for name, value in trainer.depth_net.state_dict().items():
        assert torch.equal(value, expected[name]), name
    with pytest.raises(CheckpointError, match="no depth network"):
        from edgedepth.checkpoint import save_checkpoint

        save_checkpoint(tmp_path / "empty.pt", {"models": {}})
        Trainer(tiny_config(tmp_path / "x", f"train.init_from={tmp_path / 'empty.pt'}"))
