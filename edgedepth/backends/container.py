"""The .engine file: magic bytes, a JSON header, then the payload (TensorRT plan or optimised ONNX).

Layout (little endian)::

    b"EDGEDEPTH-ENGINE" | uint32 header length | header JSON (UTF-8) | uint64 payload length | payload

The header says what was built and where (see :func:`make_header`), including the payload's
sha256, so a truncated or corrupted file is refused before a backend tries to deserialise it —
TensorRT would only return None and log the reason.
"""
from __future__ import annotations

import hashlib
import json
import shlex
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgedepth.errors import EngineError
from edgedepth.utils.io import atomic_open

MAGIC = b"EDGEDEPTH-ENGINE"
FORMAT_VERSION = 1
_HEADER_LEN = struct.Struct("<I")
_PAYLOAD_LEN = struct.Struct("<Q")
_MAX_HEADER = 1 << 20  # a header is a few hundred bytes; anything larger is corruption
REQUIRED_KEYS = (
    "format_version", "edgedepth_version", "backend", "backend_version", "device", "precision",
    "input_name", "input_shape", "output_name", "preprocessing", "min_depth", "max_depth",
    "onnx_sha256", "build_time", "payload_sha256", "rebuild_command",
)


@dataclass(frozen=True)
class EngineFile:
    """An engine read once: its header and payload (checked against the header's size and sha256)."""

    path: Path
    header: dict[str, Any]
    payload: bytes

    def rebuild_hint(self) -> str:
        return rebuild_hint(self.header, self.path)


def rebuild_command(*, onnx: str | Path, out: str | Path, precision: str, backend: str, extra: list[str] | None = None) -> str:
    """The `edgedepth build-engine` command line that builds this engine again, from any folder.

    The ONNX path is made absolute: an engine is often used far from where it was built."""
    args = ["edgedepth", "build-engine", "--onnx", str(Path(onnx).resolve()), "--precision", precision, "--backend", backend,
            *(extra or []), "--out", str(out)]
    return shlex.join(args)


def rebuild_hint(header: dict[str, Any], path: str | Path) -> str:
    """The header's rebuild command, writing to ``path`` (the engine that failed), not where it was first built."""
    command = header.get("rebuild_command")
    if not isinstance(command, str) or not command:
        return f"edgedepth build-engine --onnx model.onnx --precision fp32|fp16|int8 --out {shlex.quote(str(path))}"
    args = shlex.split(command)
    if "--out" in args[:-1]:
        args[args.index("--out") + 1] = str(path)
    return shlex.join(args)


def is_engine(path: str | Path) -> bool:
    """Whether ``path`` starts with the engine magic bytes (False for a missing or unreadable file)."""
    try:
        with open(path, "rb") as f:
            return f.read(len(MAGIC)) == MAGIC
    except OSError:
        return False


def write_engine(path: str | Path, header: dict[str, Any], payload: bytes) -> dict[str, Any]:
    """Write header + payload atomically; returns the header as stored (with payload size and sha256)."""
    header = {**header, "format_version": FORMAT_VERSION, "payload_size": len(payload), "payload_sha256": hashlib.sha256(payload).hexdigest()}
    missing = [k for k in REQUIRED_KEYS if k not in header]
    if missing:  # a programming error in a builder, not a user error
        raise ValueError(f"engine header lacks {missing}")
    blob = json.dumps(header, sort_keys=True).encode("utf-8")
    with atomic_open(path, "wb") as f:
        f.write(MAGIC + _HEADER_LEN.pack(len(blob)) + blob + _PAYLOAD_LEN.pack(len(payload)))
        f.write(payload)
    return json.loads(blob)  # exactly what a reader will see (tuples become lists)


def _corrupt(path: Path, why: str, header: dict | None = None) -> EngineError:
    return EngineError(f"engine '{path}' is truncated or corrupt", why=why, fix=f"rebuild it: {rebuild_hint(header or {}, path)}")


def _read_header(f, path: Path) -> tuple[dict[str, Any], int]:
    magic = f.read(len(MAGIC))
    if magic != MAGIC:
        raise EngineError(
            f"'{path}' is not an edgedepth engine (no '{MAGIC.decode()}' magic bytes)",
            why="a raw TensorRT plan, an ONNX file or another file was given where a .engine file was expected",
            fix="pass a file written by `edgedepth build-engine` (or pass a .onnx file to --onnx)",
        )
    raw_len = f.read(_HEADER_LEN.size)
    if len(raw_len) != _HEADER_LEN.size:
        raise _corrupt(path, "the file ends inside the header length")
    (length,) = _HEADER_LEN.unpack(raw_len)
    if length > _MAX_HEADER:
        raise _corrupt(path, f"header length {length} bytes is implausible")
    blob = f.read(length)
    if len(blob) != length:
        raise _corrupt(path, f"the file ends inside the header ({len(blob)} of {length} bytes)")
    try:
        header = json.loads(blob.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise _corrupt(path, f"the header is not valid JSON ({e})") from None
    if not isinstance(header, dict):
        raise _corrupt(path, "the header is not a JSON object")
    missing = [k for k in REQUIRED_KEYS if k not in header]
    if missing:
        raise _corrupt(path, f"the header lacks {', '.join(missing)}", header)
    if header["format_version"] != FORMAT_VERSION:
        raise EngineError(
            f"engine '{path}' has container format {header['format_version']}; this edgedepth reads format {FORMAT_VERSION}",
            fix=f"rebuild it: {rebuild_hint(header, path)}",
        )
    return header, len(MAGIC) + _HEADER_LEN.size + length


def read_engine_header(path: str | Path) -> dict[str, Any]:
    """The JSON header of an engine file (the payload is not read)."""
    path = Path(path)
    if not path.is_file():
        raise EngineError(f"engine '{path}' does not exist", fix="build one with `edgedepth build-engine --onnx model.onnx --precision fp16 --out model.engine`")
    with open(path, "rb") as f:
        return _read_header(f, path)[0]


def read_engine(path: str | Path) -> EngineFile:
    """Header and payload of an engine file (read once); the payload length and sha256 are checked."""
    path = Path(path)
    if not path.is_file():
        raise EngineError(f"engine '{path}' does not exist", fix="build one with `edgedepth build-engine --onnx model.onnx --precision fp16 --out model.engine`")
    with open(path, "rb") as f:
        header, _ = _read_header(f, path)
        raw_len = f.read(_PAYLOAD_LEN.size)
        if len(raw_len) != _PAYLOAD_LEN.size:
            raise _corrupt(path, "the file ends before the payload", header)
        (length,) = _PAYLOAD_LEN.unpack(raw_len)
        payload = f.read(length)
        trailing = f.read(1)
    if len(payload) != length:
        raise _corrupt(path, f"the payload has {len(payload)} of {length} bytes", header)
    if trailing:
        raise _corrupt(path, "there are bytes after the payload", header)
    if hashlib.sha256(payload).hexdigest() != header["payload_sha256"]:
        raise _corrupt(path, "the payload sha256 does not match the header", header)
    return EngineFile(path=path, header=header, payload=payload)


def check_compatible(header: dict[str, Any], *, path: str | Path, backend_version: str, device: dict[str, Any] | None, match: str) -> None:
    """Refuse an engine built for another library version or GPU, with the command that rebuilds it here.

    ``match`` is "exact" (TensorRT: a plan runs only on the version that built it) or "minor"
    (ONNX Runtime: the optimised graph may use contrib ops of that major.minor).
    ``device`` is {"name", "compute_capability"} of the GPU this process would run on, or None for CPU.
    """
    built = str(header["backend_version"])
    same = built == backend_version if match == "exact" else built.split(".")[:2] == backend_version.split(".")[:2]
    if not same:
        raise EngineError(
            f"engine '{path}' was built with {header['backend']} {built}, but this machine has {backend_version}",
            why="a TensorRT plan only loads on the TensorRT version that built it" if match == "exact" else "the optimised ONNX may use operators of that ONNX Runtime version",
            fix=f"rebuild it on this machine: {rebuild_hint(header, path)}",
        )
    want_cc = (header.get("device") or {}).get("compute_capability")
    if want_cc is None:
        return
    have_cc = (device or {}).get("compute_capability")
    if have_cc != want_cc:
        built_on = f"{header['device'].get('name', 'a GPU')} (compute capability {want_cc})"
        here = f"{device.get('name')} (compute capability {have_cc})" if device else "no CUDA GPU"
        raise EngineError(
            f"engine '{path}' was built for {built_on}, but this machine has {here}",
            why="engines are compiled for one GPU architecture",
            fix=f"rebuild it on this machine: {rebuild_hint(header, path)}",
        )
