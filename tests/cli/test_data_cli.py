"""`edgedepth data synth|check|preview`: outputs, messages and exit codes."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from edgedepth.cli import main as cli_main



@pytest.fixture(autouse=True)
def only_data_command(monkeypatch):
    # These tests exercise the data command alone, so a broken or unfinished other command
    # module must not make them fail; the subprocess test below runs the full CLI.
    monkeypatch.setattr(cli_main, "COMMAND_MODULES", ["data"])


def run(args: list[str]) -> int:
    return cli_main.main(args)


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "synth"
    with pytest.MonkeyPatch.context() as patch:  # module scope: set up before the autouse fixture
        patch.setattr(cli_main, "COMMAND_MODULES", ["data"])
        assert cli_main.main(["data", "synth", "--out", str(out), "--n", "2", "--size", "32x96", "--views", "stereo"]) == 0
    return out


def test_synth_writes_both_domains(synth_dir, capsys):
    meta = yaml.safe_load((synth_dir / "meta.yaml").read_text())
    assert meta["domains"] == ["source", "target"]
    for domain in ("source", "target"):
        sub = yaml.safe_load((synth_dir / domain / "meta.yaml").read_text())
        assert sub["domain"] == domain and sub["size"] == [32, 96] and sub["count"] == 2 and sub["views"] == "stereo"
        assert sorted(p.name for p in (synth_dir / domain / "views").iterdir()) == ["000000_0.png", "000001_0.png"]


def test_synth_folder_is_the_same_as_writing_the_renderer_directly(synth_dir, tmp_path):
    """Rendering through the cache changes nothing in the folder format: the same bytes as before."""
    from edgedepth.data import SyntheticWorld
    from edgedepth.data.folder import write_dataset

    direct = write_dataset(tmp_path / "direct", SyntheticWorld("target", size=(32, 96), length=2, views="stereo"),
                           progress=False)
    for name in ("image/000001.png", "depth/000001.png", "semantics/000001.png", "views/000001_0.png", "calib/000001.json"):
        assert (synth_dir / "target" / name).read_bytes() == (direct / name).read_bytes(), name


def test_synth_without_out_fills_the_render_cache(tmp_path, capsys):
    cache = tmp_path / "cache"
    args = ["data", "synth", "--n", "3", "--domain", "source", "--size", "16x48", "--cache-dir", str(cache), "--workers", "2"]
    assert run(args) == 0
    stores = list((cache / "render").glob("source-seed0-16x48-both-*/n000003"))
    assert len(stores) == 1 and str(stores[0]) in capsys.readouterr().out
    assert run(args[:2] + ["--n", "2"] + args[4:]) == 0  # already there: nothing new
    assert list((cache / "render").glob("*/n*")) == stores


def test_check_ok(synth_dir, capsys):
    assert run(["data", "check", str(synth_dir)]) == 0
    assert "OK: 4 samples" in capsys.readouterr().out


def test_check_of_cityscapes_counts_every_split_it_checked(tmp_path, capsys):
    from helpers.realdata import write_cityscapes

    write_cityscapes(tmp_path / "cs")
    assert run(["data", "check", str(tmp_path / "cs")]) == 0
    assert "OK: 2 samples (train 1, val 1)" in capsys.readouterr().out


def test_single_domain_and_seed(tmp_path, capsys):
    out = tmp_path / "target"
    assert run(["data", "synth", "--out", str(out), "--n", "1", "--domain", "target", "--size", "32x64",
                "--seed", "7", "--views", "none"]) == 0
    meta = yaml.safe_load((out / "meta.yaml").read_text())
    assert meta["domain"] == "target" and meta["seed"] == 7 and not (out / "views").exists()
    assert run(["data", "check", str(out)]) == 0
    assert "OK: 1 samples" in capsys.readouterr().out


def test_check_reports_each_bad_file_and_fails(synth_dir, tmp_path, capsys):
    import shutil

    bad = Path(shutil.copytree(synth_dir, tmp_path / "bad"))
    png = bad / "target" / "image" / "000001.png"
    png.write_bytes(png.read_bytes()[:80])
    (bad / "source" / "semantics" / "000000.png").unlink()
    assert run(["data", "check", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "target/image/000001.png" in out and "source/semantics/000000.png" in out
    assert "2 problem(s)" in out and "fix:" in out


def test_check_of_a_missing_folder_fails_cleanly(tmp_path, capsys):
    assert run(["data", "check", str(tmp_path / "nowhere")]) == 1
    captured = capsys.readouterr()
    assert "nowhere" in captured.out and "Traceback" not in captured.out + captured.err


@pytest.mark.parametrize("size", ["96x", "x320", "96x320x3", "abc", "4x4"])
def test_bad_size_is_a_clear_usage_error(tmp_path, capsys, size):
    with pytest.raises(SystemExit) as exc:
        run(["data", "synth", "--out", str(tmp_path / "o"), "--n", "1", "--size", size])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--size" in err and size in err and "Traceback" not in err


def test_refuses_a_non_empty_foreign_folder(tmp_path, capsys):
    (tmp_path / "mine.txt").write_text("keep me")
    assert run(["data", "synth", "--out", str(tmp_path), "--n", "1", "--size", "32x64"]) == 2
    assert "not empty" in capsys.readouterr().err
    assert (tmp_path / "mine.txt").read_text() == "keep me"


def test_synth_into_a_previous_dataset_needs_overwrite_and_then_leaves_no_stale_sample(tmp_path, capsys):
    out = tmp_path / "data"
    synth = ["data", "synth", "--out", str(out), "--domain", "target", "--views", "none"]
    assert run([*synth, "--n", "3", "--size", "32x64"]) == 0
    assert run([*synth, "--n", "2", "--size", "32x96"]) == 2
    assert "not empty" in capsys.readouterr().err and yaml.safe_load((out / "meta.yaml").read_text())["count"] == 3
    assert run([*synth, "--n", "2", "--size", "32x96", "--overwrite"]) == 0
    assert sorted(p.name for p in (out / "image").iterdir()) == ["000000.png", "000001.png"]
    assert run(["data", "check", str(out)]) == 0


def test_check_names_stale_samples_that_meta_does_not_count(synth_dir, tmp_path, capsys):
    import shutil

    old = Path(shutil.copytree(synth_dir, tmp_path / "old"))
    stale = old / "target" / "image" / "000007.png"  # left by an earlier, larger dataset in the same folder
    shutil.copy(old / "target" / "image" / "000000.png", stale)
    assert run(["data", "check", str(old)]) == 1
    out = capsys.readouterr().out
    assert f"{stale}: not a file of the 2 samples" in out and "1 problem(s)" in out


def test_synth_into_a_read_only_folder_is_a_message(tmp_path, capsys, monkeypatch):
    from helpers.readonly import make_read_only

    folder = make_read_only(monkeypatch, tmp_path / "ro")
    assert run(["data", "synth", "--out", str(folder / "data"), "--n", "1", "--size", "32x64"]) == 2
    err = capsys.readouterr().err
    assert "cannot write" in err and str(folder / "data") in err and "Traceback" not in err


def test_preview(synth_dir, tmp_path):
    out = tmp_path / "preview.png"
    assert run(["data", "preview", str(synth_dir), "--domain", "target", "--out", str(out), "--n", "2"]) == 0
    assert out.stat().st_size > 0
    assert run(["data", "preview", str(synth_dir), "--out", str(out)]) == 2  # two domains: must pick one


def test_subprocess_check_of_bad_folder_exits_nonzero_without_traceback(synth_dir, tmp_path):
    import shutil

    bad = Path(shutil.copytree(synth_dir / "source", tmp_path / "bad"))
    (bad / "depth" / "000001.png").write_bytes(b"not a png")
    repo = Path(__file__).resolve().parents[2]
    env = dict(os.environ, EDGEDEPTH_NO_PROGRESS="1", PYTHONPATH=str(repo) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-m", "edgedepth", "data", "check", str(bad)], capture_output=True,
                          text=True, env=env, timeout=120)
    assert proc.returncode != 0
    assert "depth/000001.png" in proc.stdout
    assert "Traceback" not in proc.stderr
