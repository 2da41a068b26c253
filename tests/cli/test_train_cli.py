"""`edgedepth train` refuses before any work: bad values, a folder it cannot write, a folder with another run."""
import pytest

from edgedepth.cli import main as cli_main
from edgedepth.cli.train import prepare_output_folder
from edgedepth.config import load_config


@pytest.fixture
def train_cli(monkeypatch, capsys):
    import edgedepth.train

    monkeypatch.setattr(cli_main, "COMMAND_MODULES", ["train"])
    monkeypatch.setattr(edgedepth.train, "train", lambda cfg: pytest.fail("training started"))

    def run(*argv):
        code = cli_main.main(["train", *map(str, argv)])
        err = capsys.readouterr().err
        assert "Traceback" not in err
        return code, err
    return run


@pytest.mark.parametrize("override, words", [("train.steps=-5", "'train.steps' is -5"),
                                             ("data.batch_size=0", "'data.batch_size' is 0"),
                                             ("data.size=[63,190]", "multiples of 32")])
def test_unusable_values_stop_before_training_and_write_nothing(train_cli, tmp_path, override, words):
    code, err = train_cli(override, f"train.out={tmp_path / 'run'}")
    assert code == 2 and words in err and not (tmp_path / "run").exists()


def test_read_only_train_out_stops_before_training(train_cli, tmp_path, monkeypatch):
    from helpers.readonly import make_read_only

    folder = make_read_only(monkeypatch, tmp_path / "ro")
    code, err = train_cli(f"train.out={folder / 'run'}")
    assert code == 2 and "cannot write" in err and str(folder / "run") in err


def test_a_previous_run_in_train_out_is_not_silently_replaced(train_cli, tmp_path):
    out = tmp_path / "run"
    (out / "checkpoints").mkdir(parents=True)
    (out / "checkpoints" / "step_0000200.pt").write_bytes(b"old run")
    (out / "model.pt").write_bytes(b"old run")
    code, err = train_cli(f"train.out={out}")
    assert code == 2 and "not empty" in err and "train.resume=" in err and "--overwrite" in err
    assert (out / "model.pt").read_bytes() == b"old run"


def test_overwrite_removes_the_previous_run_but_never_other_files(tmp_path):
    out = tmp_path / "run"
    (out / "checkpoints").mkdir(parents=True)
    for name in ("checkpoints/step_0000200.pt", "checkpoints/.step_0000400.pt.x1y2.tmp", "model.pt", "best.pt",
                 "history.json", "config.yaml", "tb"):
        (out / name).write_bytes(b"old run")
    prepare_output_folder(load_config(None, [f"train.out={out}"]), overwrite=True)
    assert list(out.iterdir()) == []
    (out / "notes.txt").write_text("mine")
    (out / "model.pt").write_bytes(b"old run")
    with pytest.raises(Exception, match="did not write: notes.txt"):
        prepare_output_folder(load_config(None, [f"train.out={out}"]), overwrite=True)
    assert (out / "notes.txt").exists() and (out / "model.pt").exists()


def test_resume_continues_in_a_non_empty_train_out(tmp_path):
    out = tmp_path / "run"
    (out / "checkpoints").mkdir(parents=True)
    (out / "checkpoints" / "step_0000002.pt").write_bytes(b"a checkpoint")
    cfg = load_config(None, [f"train.out={out}", f"train.resume={out / 'checkpoints' / 'step_0000002.pt'}"])
    prepare_output_folder(cfg, overwrite=False)
    assert (out / "checkpoints" / "step_0000002.pt").exists()


TINY = ["model.encoder=resnet18", "model.semantic_backbone=resnet18", "model.disc_channels=8", "model.semantic_channels=16",
        "data.size=[32,64]", "data.train_length=4", "data.test_length=1", "data.batch_size=1", "train.steps=4",
        "train.tensorboard=false", "train.progress=false", "train.ckpt_every=0"]


@pytest.mark.timeout(300)  # a backstop: the signal stops the run at a known step
def test_sigterm_saves_a_checkpoint_to_resume_from(tmp_path, monkeypatch, capsys, caplog):
    import os
    import signal

    from edgedepth.train.loop import Trainer

    real_step = Trainer.train_step

    def kill_at_step_2(self, src, tgt):
        if self.step == 2:
            assert signal.getsignal(signal.SIGTERM) is signal.default_int_handler, "SIGTERM would kill the run"
            os.kill(os.getpid(), signal.SIGTERM)
        return real_step(self, src, tgt)

    monkeypatch.setattr(cli_main, "COMMAND_MODULES", ["train"])
    monkeypatch.setattr(Trainer, "train_step", kill_at_step_2)
    previous = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        code = cli_main.main(["train", *TINY, f"train.out={tmp_path / 'run'}"])
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert code == 130 and "interrupted" in capsys.readouterr().err and "train.resume=" in caplog.text
    from edgedepth.checkpoint import load_checkpoint

    assert load_checkpoint(tmp_path / "run" / "interrupted.pt")["step"] == 2
    assert signal.getsignal(signal.SIGTERM) is previous
