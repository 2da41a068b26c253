"""NVIDIA's TensorRT 10.13 Python API as its type stubs declare it (PyPI ``tensorrt-stubs``).

The stubs are the truth for two checks that need no TensorRT: mypy reads them to type-check
``edgedepth/backends/tensorrt`` (tests/backends/tensorrt/test_typecheck.py), and the fake ``tensorrt``
module (helpers.fake_tensorrt) refuses every attribute, method and argument they do not declare.

The fake reads the API from ``tensorrt_10_13_api.json`` (written by this module, committed), so it is
strict where the stubs are not installed; a test compares that file with the installed stubs. Rewrite it
after changing ``CLASSES`` or the stubs version::

    pip install --no-deps tensorrt-stubs==10.13.0.35.1
    python tests/helpers/tensorrt_stubs.py > tests/helpers/tensorrt_10_13_api.json

The stub file is not valid Python as shipped: parameters named ``in`` (a keyword) and one parameter
without a default after parameters with defaults (``add_scale_nd``). :func:`repaired` renames the
first and gives the second a default, so that ``ast`` and mypy can read the file.
"""
from __future__ import annotations

import ast
import importlib.metadata
import json
import re
import sys
from pathlib import Path

STUBS_DIST = "tensorrt-stubs"
STUBS_VERSION = "10.13.0.35.1"
API_FILE = Path(__file__).with_name("tensorrt_10_13_api.json")
# The stub packages mypy needs: the `tensorrt` re-exports and the bindings they come from.
STUB_PACKAGES = ("tensorrt", "tensorrt_bindings")
# The classes the fake models (nested classes as "Outer.Inner"); their members are the allow-list.
CLASSES = (
    "Builder", "BuilderFlag", "DataType", "DeviceType", "Dims", "IBuilderConfig", "ICudaEngine",
    "IExecutionContext", "IHostMemory", "ILogger.Severity", "INetworkDefinition", "IOptimizationProfile",
    "ITimingCache", "Logger", "MemoryPoolType", "NetworkDefinitionCreationFlag", "OnnxParser", "Runtime",
    "TensorIOMode",
)
_ENUM_VALUE = re.compile(r"# value = <[\w.]+: (-?\d+)>")


def installed_stubs() -> Path | None:
    """The site-packages folder holding the stub packages, or None when tensorrt-stubs is not installed."""
    try:
        dist = importlib.metadata.distribution(STUBS_DIST)
    except importlib.metadata.PackageNotFoundError:
        return None
    init = next((f for f in dist.files or () if str(f).replace("\\", "/") == "tensorrt/__init__.pyi"), None)
    return Path(str(dist.locate_file(init))).parent.parent if init is not None else None


def _split_params(params: str) -> list[str]:
    """Split a parameter list at its top-level commas (annotations hold commas inside brackets)."""
    parts, depth, current = [], 0, ""
    for char in params:
        depth += char in "([{"
        depth -= char in ")]}"
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    return parts + [current.strip()] if current.strip() else parts


def _repair_def(line: str) -> str:
    head, _, rest = line.partition("(")
    depth, end = 0, len(rest)
    for i, char in enumerate(rest):
        if char in "([{":
            depth += 1
        elif char in ")]}":
            if depth == 0:
                end = i
                break
            depth -= 1
    params, seen_default = [], False
    for param in _split_params(rest[:end]):
        if re.match(r"in\b", param):
            param = "in_" + param[2:]
        if "=" in param:
            seen_default = True
        elif seen_default and not param.startswith("*"):
            param += " = ..."
        params.append(param)
    return f"{head}({', '.join(params)}{rest[end:]}"


def repaired(source: str) -> str:
    """``source`` with its invalid ``def`` lines made valid (every ``def`` of the stubs fits on one line)."""
    return re.sub(r"^[ \t]*def .*$", lambda m: _repair_def(m.group(0)), source, flags=re.M)


def write_stub_tree(dest: Path) -> Path:
    """Repaired copies of the installed stub packages under ``dest`` (a mypy_path); raises if not installed."""
    root = installed_stubs()
    if root is None:
        raise FileNotFoundError(f"{STUBS_DIST} is not installed")
    for package in STUB_PACKAGES:
        for stub in (root / package).glob("*.pyi"):
            target = dest / package / stub.name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(repaired(stub.read_text()))
    return dest


def _signature(func: ast.FunctionDef) -> list[str]:
    """Parameters after ``self``: "name", "name=" (has a default), "*name", "**name"."""
    args = func.args
    positional = args.posonlyargs + args.args
    first_default = len(positional) - len(args.defaults)
    params = [a.arg + ("=" if i >= first_default else "") for i, a in enumerate(positional)][1:]
    params += [f"*{args.vararg.arg}"] if args.vararg else []
    params += [a.arg + ("=" if d is not None else "") for a, d in zip(args.kwonlyargs, args.kw_defaults)]
    return params + ([f"**{args.kwarg.arg}"] if args.kwarg else [])


def _members(node: ast.ClassDef, lines: list[str]) -> dict:
    """Fields (writable), read-only properties, constants (ClassVar, with enum values) and method signatures."""
    api: dict = {"fields": [], "readonly": [], "constants": {}, "methods": {}}
    for item in node.body:
        if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
            name = item.target.id
            if "ClassVar" in ast.unparse(item.annotation):
                value = _ENUM_VALUE.search(lines[item.lineno - 1])
                api["constants"][name] = int(value.group(1)) if value else None
            else:
                api["fields"].append(name)
        elif isinstance(item, ast.FunctionDef):
            decorators = [ast.unparse(d) for d in item.decorator_list]
            if "property" in decorators:
                api["readonly"].append(item.name)
            elif any(d.endswith(".setter") for d in decorators):
                api["readonly"].remove(item.name)
                api["fields"].append(item.name)
            elif "staticmethod" not in decorators and (item.name == "__init__" or not item.name.startswith("_")):
                api["methods"].setdefault(item.name, []).append(_signature(item))
    api["constants"] = {k: v for k, v in api["constants"].items() if not k.startswith("_")}
    return api


def _merge(base: dict, derived: dict) -> dict:
    merged = {key: list(dict.fromkeys(base[key] + derived[key])) for key in ("fields", "readonly")}
    merged["constants"] = {**base["constants"], **derived["constants"]}
    merged["methods"] = {**base["methods"], **derived["methods"]}
    return merged


def read_api(bindings_source: str, module_source: str) -> dict:
    """The allow-list of ``CLASSES`` (with the members of their bases in the file) and of the module."""
    bindings, lines = ast.parse(repaired(bindings_source)), bindings_source.splitlines()
    classes = {n.name: n for n in bindings.body if isinstance(n, ast.ClassDef)}
    nested = {f"{outer.name}.{n.name}": n for outer in classes.values() for n in outer.body if isinstance(n, ast.ClassDef)}

    def members(name: str) -> dict:
        node = classes.get(name) or nested[name]
        own = _members(node, lines)
        for base in node.bases:
            if ast.unparse(base) in classes:
                own = _merge(members(ast.unparse(base)), own)
        return own

    module = ast.parse(repaired(module_source))
    exported = next(n.value for n in module.body if isinstance(n, ast.Assign) and ast.unparse(n.targets[0]) == "__all__")
    names = sorted({*ast.literal_eval(exported), "__version__"})
    return {"stubs": f"{STUBS_DIST}=={STUBS_VERSION}", "module": names, "classes": {name: members(name) for name in CLASSES}}


def installed_api() -> dict | None:
    """:func:`read_api` of the installed stubs, or None when they are not installed."""
    root = installed_stubs()
    if root is None:
        return None
    return read_api((root / "tensorrt_bindings" / "tensorrt.pyi").read_text(), (root / "tensorrt" / "__init__.pyi").read_text())


def load_api() -> dict:
    """The committed allow-list the fake uses."""
    return json.loads(API_FILE.read_text())


if __name__ == "__main__":
    api = installed_api()
    if api is None:
        sys.exit(f"{STUBS_DIST} is not installed: pip install --no-deps {STUBS_DIST}=={STUBS_VERSION}")
    print(json.dumps(api, indent=1, sort_keys=True))
