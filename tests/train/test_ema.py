"""D's weight average (train.ema): the arithmetic, and that evaluation, checkpoints, resume and export use it."""
import pytest
import torch

from edgedepth.checkpoint import load_checkpoint, load_depth_net
from edgedepth.eval import evaluate
from edgedepth.train.data import dataset_for
from edgedepth.train.ema import WeightAverage
from helpers.tiny_train import run_train, tiny_config


def test_average_follows_the_formula_with_a_warm_up_and_copies_integer_buffers():
    net = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    avg = WeightAverage(net, decay=0.9)
    expected = net[0].weight.detach().clone()
    for n in range(30):
        with torch.no_grad():
            net[0].weight.add_(1.0)
        net[1].num_batches_tracked += 1
        avg.update(net)
        d = min(0.9, (1 + n) / (10 + n))
        expected = d * expected + (1 - d) * net[0].weight.detach()
    assert torch.allclose(avg.module[0].weight, expected, atol=1e-5)
    assert not torch.allclose(avg.module[0].weight, net[0].weight)  # it lags the moving weights
    assert int(avg.module[1].num_batches_tracked) == 30
    assert all(not p.requires_grad for p in avg.module.parameters())


def test_decay_outside_zero_one_is_refused():
    with pytest.raises(ValueError):
        WeightAverage(torch.nn.Linear(2, 2), decay=1.0)


def test_training_with_ema_saves_evaluates_and_resumes_the_average(tmp_path):
    full = run_train(tiny_config(tmp_path / "full", "train.steps=4", "train.ema=0.5", "train.eval_every=2"))
    state = load_checkpoint(tmp_path / "full" / "model.pt")
    raw, ema = state["models"]["depth"], state["models"]["depth_ema"]
    assert raw.keys() == ema.keys() and state["ema_updates"] == 4
    assert any(not torch.equal(raw[k], ema[k]) for k in raw if raw[k].is_floating_point())
    net, _ = load_depth_net(tmp_path / "full" / "model.pt")  # export, eval and infer load through this
    assert all(torch.equal(v, ema[k]) for k, v in net.state_dict().items())
    # the run's own evaluation scored the average, not the last step's weights
    cfg = tiny_config(tmp_path / "full", "train.steps=4")
    scores = {}
    for name, weights in (("ema", ema), ("raw", raw)):
        net.load_state_dict(weights)
        with torch.no_grad():
            result = evaluate(lambda x: net.predict_depth(x), dataset_for(cfg, "target", "test"), progress=False,
                              max_depth=cfg.model.max_depth)
        scores[name] = result["metrics"]["abs_rel"]
    assert full["eval"]["metrics"]["abs_rel"] == pytest.approx(scores["ema"], rel=1e-5)
    assert scores["raw"] != pytest.approx(scores["ema"], rel=1e-5)

    part = tmp_path / "part"
    run_train(tiny_config(part, "train.steps=4", "train.ema=0.5", "train.eval_every=2", "train.max_steps_per_run=2"))
    run_train(tiny_config(part, "train.steps=4", "train.ema=0.5", "train.eval_every=2",
                          f"train.resume={part / 'checkpoints' / 'step_0000002.pt'}"))
    resumed = load_checkpoint(part / "model.pt")["models"]["depth_ema"]
    for k, v in ema.items():
        assert torch.allclose(resumed[k].float(), v.float(), rtol=1e-4, atol=1e-6), k
