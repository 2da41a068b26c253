import csv
import io
import json
import shlex
import sys

from edgedepth.bench.report import CSV_COLUMNS, command_line, public, save_all, to_csv, to_markdown


def _report():
    lat = {"mean": 10.0, "std": 1.0, "min": 8.0, "p50": 9.5, "p90": 11.0, "p95": 12.0, "p99": 13.0, "max": 14.0}
    base = {"backend": "onnxruntime", "batch": 1, "latency_ms": lat, "throughput_fps": 100.0,
            "peak_memory_mb": 321.0, "_samples_ms": [8.0, 9.5, 10.0, 14.0]}
    return {
        "device": {"cpu": {"model": "Test CPU", "threads": 2}, "gpu": None, "jetson": None,
                   "versions": {"numpy": "2.0"}},
        "results": [
            {**base, "name": "a.onnx", "precision": "fp32", "accuracy": {"abs_rel": 0.12},
             "speedup_vs_first": 1.0},
            {**base, "name": "b.engine", "precision": "int8", "accuracy": {"abs_rel": 0.13},
             "latency_ms": {**lat, "mean": 5.0}, "speedup_vs_first": 2.0},
        ],
    }


def test_public_drops_samples():
    out = public(_report())
    assert all("_samples_ms" not in r for r in out["results"])
    json.dumps(out)


def test_csv_rows():
    rows = list(csv.DictReader(io.StringIO(to_csv(_report()))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert rows[1]["name"] == "b.engine" and float(rows[1]["latency_mean_ms"]) == 5.0
    assert float(rows[1]["speedup_vs_first"]) == 2.0 and rows[0]["mean_power_w"] == ""


def test_markdown_table():
    md = to_markdown(_report())
    assert "Test CPU, 2 threads" in md
    lines = [ln for ln in md.splitlines() if ln.startswith("|")]
    assert len(lines) == 4  # header, rule, two rows
    assert "AbsRel" in lines[0] and "speed-up vs first" in lines[0]
    assert "GPU p50" not in lines[0]  # not measured: column left out
    assert "| b.engine | onnxruntime | int8 | 1 | 5.00 |" in md


def test_save_all_writes_everything(tmp_path):
    paths = save_all(_report(), json_path=tmp_path / "b.json", csv_path=tmp_path / "b.csv",
                     markdown_path=tmp_path / "b.md", plot_path=tmp_path / "lat.png")
    assert len(paths) == 5
    saved = json.loads((tmp_path / "b.json").read_text())
    assert saved["results"][1]["precision"] == "int8"
    for png in ("lat.png", "lat_accuracy.png"):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_command_line_keeps_only_the_script_name_and_quotes_arguments(tmp_path):
    script = tmp_path / "somewhere" / "benchmarks" / "da_ablation.py"  # an absolute path of the running machine
    argv = ["--note", "rows reused (see git)", "loss.seg=5", "--seeds", 0, 1]
    line = command_line(script, argv)
    assert str(tmp_path) not in line
    assert line.startswith("python benchmarks/da_ablation.py ")
    assert shlex.split(line) == ["python", "benchmarks/da_ablation.py", "--note", "rows reused (see git)", "loss.seg=5",
                                 "--seeds", "0", "1"]


def test_command_line_defaults_to_this_process_arguments(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["/abs/path/benchmarks/edge_bench.py", "--threads", "2"])
    assert command_line("/abs/path/benchmarks/edge_bench.py") == "python benchmarks/edge_bench.py --threads 2"
