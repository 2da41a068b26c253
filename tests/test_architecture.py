"""The import rules of docs/architecture.md, checked on the source (every import, also those inside functions).

1. The deploy half (backends, bench, infer, the ONNX contract, the ONNX passes of export and the CLI
   commands that use them) never imports train, losses, models or data (but for the torch-free
   synthetic renderer and synth folder format that `bench --accuracy-data` reads), and nothing it
   imports imports torch: a Jetson or an x86 box installs `edgedepth[onnx,camera]` and runs it. The
   torch backend is optional: the registry loads it by name only when it is chosen.
2. No two packages import each other (no arrow goes both ways).
3. Functions stay short (at most 80 lines).
"""
from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "edgedepth"
DEPLOY = (
    "edgedepth.backends", "edgedepth.backends.build", "edgedepth.backends.container", "edgedepth.backends.base",
    "edgedepth.backends.onnxruntime", "edgedepth.backends.onnxruntime.builder", "edgedepth.backends.onnxruntime.runner",
    "edgedepth.backends.tensorrt", "edgedepth.backends.tensorrt.builder", "edgedepth.backends.tensorrt.runner",
    "edgedepth.bench", "edgedepth.infer", "edgedepth.contract", "edgedepth.imaging", "edgedepth.device",
    "edgedepth.export.fp16", "edgedepth.export.quantize", "edgedepth.export.calibration",
    "edgedepth.cli.main", "edgedepth.cli.engine", "edgedepth.cli.bench", "edgedepth.cli.infer",
)
OPTIONAL = ("edgedepth.backends.torch",)  # reached through the registry's table, by name, when chosen
TRAINING = ("edgedepth.train", "edgedepth.losses", "edgedepth.models", "edgedepth.data", "edgedepth.checkpoint",
            "edgedepth.kernels", "edgedepth.config")
# The numpy modules of edgedepth.data that `bench --accuracy-data` reads (the torch check below still applies).
DATA_WITHOUT_TORCH = ("edgedepth.data", "edgedepth.data.synthetic_world", "edgedepth.data.synthetic_render",
                      "edgedepth.data.synthetic_scene", "edgedepth.data.synthetic_style", "edgedepth.data.folder_format")
TORCH = ("torch", "torchvision", "tensorboard")
MAX_FUNCTION_LINES = 80


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(name: str) -> set[str]:
    """Every module ``name`` imports, anywhere in its source (relative imports resolved)."""
    tree = ast.parse(MODULES[name].read_text())
    found = set()
    package = name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in MODULES}
    return found


def _closure(roots) -> dict[str, str]:
    """module -> the module that first imported it, over every edgedepth module reachable from ``roots``."""
    seen, todo = {r: "" for r in roots}, list(roots)
    while todo:
        current = todo.pop()
        for imported in _imports(current):
            parents = [imported.rsplit(".", i)[0] for i in range(imported.count(".") + 1)]
            for module in parents:
                if module in MODULES and module not in seen and not module.startswith(OPTIONAL):
                    seen[module] = current
                    todo.append(module)
    return seen


def test_deploy_half_imports_no_training_code_and_no_torch():
    reached = _closure(DEPLOY)
    training = {m: by for m, by in reached.items() if m.startswith(TRAINING) and m not in DATA_WITHOUT_TORCH}
    assert not training, f"the deploy half reaches training code (module: imported by): {training}"
    torch_users = {m: sorted(i for i in _imports(m) if i.split(".")[0] in TORCH) for m in reached}
    assert not {m: t for m, t in torch_users.items() if t}, "deploy modules that import torch"


def test_no_two_packages_import_each_other():
    def package(module: str) -> str:
        parts = module.split(".")
        return ".".join(parts[:2]) if len(parts) > 1 else module

    arrows = defaultdict(set)
    for name in MODULES:
        for imported in _imports(name):
            if imported.startswith("edgedepth.") and package(imported) != package(name) and package(imported) in MODULES:
                arrows[package(name)].add(package(imported))
    both_ways = sorted({tuple(sorted((a, b))) for a in arrows for b in arrows[a] if a in arrows.get(b, ())})
    assert not both_ways, f"packages that import each other: {both_ways}"


def _functions(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node


@pytest.mark.parametrize("name", sorted(MODULES))
def test_functions_stay_short(name):
    long = [(f.name, f.end_lineno - f.lineno + 1) for f in _functions(MODULES[name]) if f.end_lineno - f.lineno + 1 > MAX_FUNCTION_LINES]
    assert not long, f"{name}: functions over {MAX_FUNCTION_LINES} lines: {long}"
