"""Backend selection of edgedepth.kernels: auto/fused/reference and the one-time fallback warning."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from edgedepth.errors import EdgedepthError
from edgedepth.kernels import active_backend, inverse_warp, photometric_error, reference
from helpers.warp import make_inputs

ROOT = Path(__file__).resolve().parents[2]


def test_reference_backend_is_the_reference():
    target, src, depth, T, K = make_inputs(h=6, w=9)
    for got, want in zip(photometric_error(target, src, depth, T, K, backend="reference"),
                         reference.photometric_error(target, src, depth, T, K)):
        assert torch.equal(got, want)


def test_unknown_backend_is_rejected():
    target, src, depth, T, K = make_inputs(h=6, w=9)
    with pytest.raises(EdgedepthError, match="unknown kernel backend"):
        inverse_warp(src, depth, T, K, backend="triton")


def test_auto_uses_fused_when_loaded(require_ops):
    target, src, depth, T, K = make_inputs(h=6, w=9)
    assert active_backend() == "fused"
    auto = photometric_error(target, src, depth, T, K)
    fused = require_ops.photometric_error(target, src, depth, T, K)
    assert all(torch.equal(a, b) for a, b in zip(auto, fused))


def test_mixed_dtypes_are_promoted(require_ops):
    target, src, depth, T, K = make_inputs(h=6, w=9)
    warped, _ = inverse_warp(src, depth, T.double(), K)
    assert warped.dtype == torch.float64


def _run(code: str, **env) -> subprocess.CompletedProcess:
    path = os.pathsep.join(filter(None, [str(ROOT / "tests"), os.environ.get("PYTHONPATH")]))  # for helpers.*
    return subprocess.run([sys.executable, "-W", "default", "-c", code], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": path, **env}, timeout=120)


def test_missing_library_falls_back_with_one_warning(tmp_path):
    code = (
        "from edgedepth.kernels import active_backend, photometric_error\n"
        "from helpers.warp import make_inputs\n"
        "x = make_inputs(h=6, w=9)\n"
        "photometric_error(*x); photometric_error(*x)\n"
        "print(active_backend())\n"
    )
    proc = _run(code, EDGEDEPTH_OPS_LIBRARY=str(tmp_path / "missing.so"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "reference"
    assert proc.stderr.count("fused warp operators unavailable") == 1
    assert "missing.so" in proc.stderr


def test_fused_without_library_raises(tmp_path):
    code = (
        "from edgedepth.kernels import inverse_warp\n"
        "from edgedepth.errors import EdgedepthError\n"
        "from helpers.warp import make_inputs\n"
        "x = make_inputs(h=6, w=9)\n"
        "try:\n    inverse_warp(*x[1:], backend='fused')\n"
        "except EdgedepthError as e:\n    print(e.message())\n"
    )
    proc = _run(code, EDGEDEPTH_OPS_LIBRARY=str(tmp_path / "missing.so"))
    assert "cannot run on cpu" in proc.stdout and "missing.so" in proc.stdout
