"""Static half of the device check: every tensor factory in the code that runs on the training or
inference device names its device, or says on the same line why the CPU is right (``# device-ok: why``).

The dynamic half (tests/train/test_on_cuda.py) runs the code on a fake CUDA device; this one also
covers branches a short run does not reach. ``*_like`` and ``Tensor.new_*`` inherit device and dtype
and are always fine.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "edgedepth"
# Code that runs on the model's device. edgedepth/data builds CPU samples for the DataLoader by design.
DEVICE_CODE = ("train", "losses", "eval", "export", "kernels", "models", "backends", "bench", "infer", "checkpoint.py")
FACTORIES = {
    "tensor", "as_tensor", "asarray", "zeros", "ones", "empty", "full", "eye", "arange", "linspace", "logspace",
    "rand", "randn", "randint", "randperm", "normal", "empty_strided", "scalar_tensor", "tril_indices", "triu_indices",
}
MARK = "# device-ok:"


def _files() -> list[Path]:
    out = []
    for name in DEVICE_CODE:
        path = PACKAGE / name
        out += [path] if path.is_file() else sorted(path.rglob("*.py"))
    return out


def factory_calls_without_device(source: str) -> list[tuple[int, str]]:
    """(line, call) of ``torch.<factory>(...)`` calls that pass no ``device=`` and carry no device-ok mark."""
    lines = source.splitlines()
    found = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in FACTORIES):
            continue
        owner = node.func.value
        if not (isinstance(owner, ast.Name) and owner.id == "torch"):
            continue
        if any(k.arg == "device" for k in node.keywords):
            continue
        span = lines[node.lineno - 1:(node.end_lineno or node.lineno)]
        if any(MARK in line for line in span):
            continue
        found.append((node.lineno, ast.get_source_segment(source, node) or f"torch.{node.func.attr}(...)"))
    return found


def test_the_check_finds_the_flip_batch_bug():
    bug = 'mirror = torch.diag(torch.tensor([-1.0, 1.0, 1.0, 1.0]))\n'
    assert [line for line, _ in factory_calls_without_device(bug)] == [1]
    assert not factory_calls_without_device('m = torch.tensor([1.0], device=x.device)\n')
    assert not factory_calls_without_device('g = torch.rand(3, generator=g)  # device-ok: CPU generator, moved below\n')
    assert not factory_calls_without_device('m = x.new_tensor([1.0]) + torch.zeros_like(x)\n')


@pytest.mark.parametrize("path", _files(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_tensor_factories_name_their_device(path):
    found = factory_calls_without_device(path.read_text())
    assert not found, "\n".join(
        f"{path.relative_to(PACKAGE.parent)}:{line}: {call} creates a CPU tensor; pass device=/dtype= of the inputs "
        f"(or use *_like / new_*), or mark the line '{MARK} why'" for line, call in found
    )
