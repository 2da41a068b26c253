import csv
import json

import pytest

from edgedepth.cli import main as cli

from helpers.engines import write_foreign_engine
from helpers.tiny_onnx import export_tiny


@pytest.fixture(scope="module")
def onnx_file(tmp_path_factory):
    return export_tiny(tmp_path_factory.mktemp("m") / "tiny.onnx")


@pytest.fixture(autouse=True)
def only_bench(monkeypatch):
    monkeypatch.setattr(cli, "COMMAND_MODULES", ["bench"])  # independent of the other commands


def test_bench_all_outputs_and_compare(onnx_file, tmp_path, capsys):
    other = tmp_path / "copy.onnx"
    other.write_bytes(onnx_file.read_bytes())
    code = cli.main(["bench", "--onnx", str(onnx_file), "--compare", str(other), "--batch", "1,2",
                     "--iterations", "3", "--warmup", "1", "--threads", "1", "--json", str(tmp_path / "b.json"),
                     "--csv", str(tmp_path / "b.csv"), "--markdown", str(tmp_path / "b.md"),
                     "--plot", str(tmp_path / "lat.png")])
    assert code == 0
    report = json.loads((tmp_path / "b.json").read_text())
    assert set(report) >= {"device", "results"}
    assert [(r["name"], r["batch"]) for r in report["results"]] == [
        ("tiny.onnx", 1), ("tiny.onnx", 2), ("copy.onnx", 1), ("copy.onnx", 2)]
    r = report["results"][0]
    assert r["backend"] == "onnxruntime" and r["precision"] == "fp32" and r["speedup_vs_first"] == 1.0
    assert set(r["latency_ms"]) == {"mean", "std", "min", "p50", "p90", "p95", "p99", "max"}
    assert len(list(csv.DictReader((tmp_path / "b.csv").open()))) == 4
    assert "speed-up vs first" in (tmp_path / "b.md").read_text()
    assert (tmp_path / "lat.png").stat().st_size > 0 and (tmp_path / "lat_accuracy.png").stat().st_size > 0
    assert "| tiny.onnx | onnxruntime | fp32 | 1 |" in capsys.readouterr().out


def test_bench_duration(onnx_file, tmp_path):
    assert cli.main(["bench", "--onnx", str(onnx_file), "--duration", "0.05", "--warmup", "0",
                     "--json", str(tmp_path / "d.json")]) == 0
    assert json.loads((tmp_path / "d.json").read_text())["results"][0]["iterations"] >= 1


def test_missing_model_is_a_clear_error(tmp_path, capsys):
    assert cli.main(["bench", "--engine", str(tmp_path / "nope.engine")]) == 2
    err = capsys.readouterr().err
    assert "model file not found" in err and "Traceback" not in err


def test_unwritable_output_checked_before_work(onnx_file, tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    assert cli.main(["bench", "--onnx", str(onnx_file), "--json", str(tmp_path / "afile" / "b.json")]) == 2
    assert "cannot write" in capsys.readouterr().err


def test_engine_for_another_device_message(onnx_file, tmp_path, capsys):
    engine = write_foreign_engine(tmp_path / "orin.engine", onnx_file)
    assert cli.main(["bench", "--engine", str(engine), "--iterations", "1"]) == 2
    err = capsys.readouterr().err
    assert "built for Orin" in err and "rebuild it on this machine" in err and "Traceback" not in err


def test_a_foreign_onnx_without_the_contract_is_refused(tmp_path, capsys):
    foreign = export_tiny(tmp_path / "foreign.onnx", drop=("min_depth", "max_depth"))
    assert cli.main(["bench", "--onnx", str(foreign), "--iterations", "1", "--json", str(tmp_path / "b.json")]) == 2
    err = capsys.readouterr().err
    assert "lacks the metadata min_depth, max_depth" in err and "Traceback" not in err
    assert not (tmp_path / "b.json").exists()


def test_bad_batch_argument(capsys):
    with pytest.raises(SystemExit):
        cli.main(["bench", "--onnx", "x.onnx", "--batch", "0,a"])


def test_bench_checkpoint(tmp_path):
    import torch

    from edgedepth.checkpoint import save_checkpoint
    from edgedepth.config import Config, to_dict
    from edgedepth.models import build_depth_net_from_config

    cfg = Config()
    cfg.data.size = (64, 64)
    net = build_depth_net_from_config(cfg.model).eval()
    ckpt = tmp_path / "model.pt"
    save_checkpoint(ckpt, {"config": to_dict(cfg), "models": {"depth": net.state_dict()}, "step": 0})
    torch.set_num_threads(1)
    assert cli.main(["bench", "--checkpoint", str(ckpt), "--iterations", "2", "--warmup", "1",
                     "--json", str(tmp_path / "c.json")]) == 0
    r = json.loads((tmp_path / "c.json").read_text())["results"][0]
    assert r["backend"] == "torch" and r["name"] == "model.pt" and r["throughput_fps"] > 0
