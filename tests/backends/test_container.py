import json

import pytest

from edgedepth.backends.container import (
    MAGIC,
    check_compatible,
    read_engine,
    read_engine_header,
    rebuild_command,
    rebuild_hint,
    write_engine,
)
from edgedepth.errors import EngineError

REBUILD = rebuild_command(onnx="model.onnx", out="model.engine", precision="fp16", backend="tensorrt")


def fix_for(path) -> str:
    """The rebuild command an error about ``path`` shows: the header's, writing to ``path``."""
    return rebuild_hint({"rebuild_command": REBUILD}, path)


def header(**over):
    base = {
        "edgedepth_version": "0.1.0", "backend": "tensorrt", "backend_version": "10.3.0",
        "device": {"name": "Orin", "compute_capability": "8.7"}, "precision": "fp16",
        "input_name": "image", "input_shape": [1, 3, 32, 64], "output_name": "depth",
        "preprocessing": "rgb01", "min_depth": 0.5, "max_depth": 80.0, "onnx_sha256": "0" * 64,
        "build_time": "2026-01-01T00:00:00+00:00", "rebuild_command": REBUILD,
    }
    return {**base, **over}


@pytest.fixture
def engine(tmp_path):
    path = tmp_path / "model.engine"
    write_engine(path, header(), b"PLAN" * 100)
    return path


def test_round_trip(engine):
    stored, payload = read_engine(engine).header, read_engine(engine).payload
    assert payload == b"PLAN" * 100
    assert stored["payload_size"] == 400 and stored["precision"] == "fp16"
    assert read_engine_header(engine) == stored
    assert engine.read_bytes().startswith(MAGIC)
    assert not [p for p in engine.parent.iterdir() if p.name.endswith(".tmp")]  # atomic write left nothing behind


def test_rebuild_command_quotes_paths_and_works_from_any_folder(tmp_path):
    onnx = tmp_path / "my model.onnx"
    cmd = rebuild_command(onnx=onnx, out="out.engine", precision="int8", backend="onnxruntime", extra=["--calib", "synthetic"])
    assert cmd == f"edgedepth build-engine --onnx '{onnx}' --precision int8 --backend onnxruntime --calib synthetic --out out.engine"
    # an error about another engine file tells how to rebuild *that* file
    assert rebuild_hint({"rebuild_command": cmd}, tmp_path / "copy.engine").endswith(f"--out {tmp_path / 'copy.engine'}")
    assert "--out elsewhere.engine" in rebuild_hint({}, "elsewhere.engine")


@pytest.mark.parametrize("keep", [3, len(MAGIC) + 2, len(MAGIC) + 4 + 10, -1, -150])
def test_truncated_engine_is_refused_with_the_rebuild_command(engine, keep):
    data = engine.read_bytes()
    engine.write_bytes(data[:keep])
    with pytest.raises(EngineError) as e:
        read_engine(engine)
    text = e.value.message()
    assert ("truncated or corrupt" in text) or ("not an edgedepth engine" in text)
    if keep < 0:  # the header survived, so the exact rebuild command is known
        assert fix_for(engine) in e.value.fix


def test_flipped_payload_byte_fails_the_checksum(engine):
    data = bytearray(engine.read_bytes())
    data[-5] ^= 0xFF
    engine.write_bytes(bytes(data))
    with pytest.raises(EngineError, match="sha256 does not match"):
        read_engine(engine)


def test_trailing_bytes_and_bad_json(engine, tmp_path):
    engine.write_bytes(engine.read_bytes() + b"x")
    with pytest.raises(EngineError, match="bytes after the payload"):
        read_engine(engine)
    bad = tmp_path / "bad.engine"
    blob = b"{not json"
    bad.write_bytes(MAGIC + len(blob).to_bytes(4, "little") + blob)
    with pytest.raises(EngineError, match="not valid JSON"):
        read_engine_header(bad)


def test_header_missing_keys_and_future_format(tmp_path):
    path = tmp_path / "old.engine"
    blob = json.dumps({"backend": "tensorrt"}).encode()
    path.write_bytes(MAGIC + len(blob).to_bytes(4, "little") + blob)
    with pytest.raises(EngineError, match="header lacks"):
        read_engine_header(path)
    full = {**header(), "format_version": 99, "payload_sha256": "0"}
    blob = json.dumps(full).encode()
    path.write_bytes(MAGIC + len(blob).to_bytes(4, "little") + blob)
    with pytest.raises(EngineError, match="container format 99") as e:
        read_engine_header(path)
    assert fix_for(path) in e.value.fix


def test_raw_plan_or_missing_file(tmp_path):
    raw = tmp_path / "raw.plan"
    raw.write_bytes(b"ftrt" + b"\x00" * 100)
    with pytest.raises(EngineError, match="not an edgedepth engine"):
        read_engine(raw)
    with pytest.raises(EngineError, match="does not exist"):
        read_engine(tmp_path / "none.engine")


def test_compatibility_tensorrt_needs_the_exact_version_and_gpu():
    h = header()
    orin = {"name": "Orin", "compute_capability": "8.7"}
    check_compatible(h, path="m.engine", backend_version="10.3.0", device=orin, match="exact")
    with pytest.raises(EngineError, match="built with tensorrt 10.3.0, but this machine has 10.3.1") as e:
        check_compatible(h, path="m.engine", backend_version="10.3.1", device=orin, match="exact")
    assert e.value.fix.endswith(fix_for("m.engine"))
    with pytest.raises(EngineError, match=r"built for Orin \(compute capability 8.7\), but this machine has H100 \(compute capability 9.0\)") as e:
        check_compatible(h, path="m.engine", backend_version="10.3.0", device={"name": "H100", "compute_capability": "9.0"}, match="exact")
    assert fix_for("m.engine") in e.value.fix
    with pytest.raises(EngineError, match="this machine has no CUDA GPU"):
        check_compatible(h, path="m.engine", backend_version="10.3.0", device=None, match="exact")


def test_compatibility_onnxruntime_needs_the_same_major_minor():
    h = header(backend="onnxruntime", backend_version="1.32.0", device={"name": "cpu", "compute_capability": None})
    check_compatible(h, path="m.engine", backend_version="1.32.4", device=None, match="minor")
    with pytest.raises(EngineError, match="onnxruntime 1.32.0, but this machine has 1.31.0"):
        check_compatible(h, path="m.engine", backend_version="1.31.0", device=None, match="minor")
