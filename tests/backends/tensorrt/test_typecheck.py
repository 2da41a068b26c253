"""mypy checks edgedepth/backends/tensorrt against NVIDIA's TensorRT 10.13 type stubs (tensorrt-stubs).

The backend imports TensorRT as ``import tensorrt as trt`` and annotates the objects it keeps, so mypy
knows every ``trt.*`` call's class and checks the attribute, the method and its arguments. The stubs are
read from repaired copies (helpers.tensorrt_stubs): as shipped they are not valid Python, and their
package has no py.typed marker, so mypy would not read them from site-packages. Errors inside the
stubs themselves (they redefine ``bool``) are silenced; torch is left unanalysed (slow, and the runner
only moves bytes with it). Needs mypy and tensorrt-stubs (README's test command installs both): skips
without them, fails in CI.
"""
import importlib.util
import os
import textwrap
from pathlib import Path

import pytest

from helpers.tensorrt_stubs import STUBS_DIST, STUBS_VERSION, installed_stubs, write_stub_tree

ROOT = Path(__file__).resolve().parents[3]
CHECKED = sorted((ROOT / "edgedepth" / "backends" / "tensorrt").glob("*.py"))
CONFIG = """\
[mypy]
mypy_path = {stubs}
check_untyped_defs = True
follow_imports = silent
warn_unused_ignores = True
[mypy-tensorrt,tensorrt.*,tensorrt_bindings,tensorrt_bindings.*]
ignore_errors = True
[mypy-tensorrt_libs,cuda,cuda.*]
ignore_missing_imports = True
[mypy-torch,torch.*]
follow_imports = skip
"""


@pytest.fixture(scope="module")
def mypy(tmp_path_factory):
    missing = [name for name, found in (("mypy", importlib.util.find_spec("mypy")), (STUBS_DIST, installed_stubs())) if not found]
    if missing:
        reason = f"needs {' and '.join(missing)}: pip install mypy && pip install --no-deps {STUBS_DIST}=={STUBS_VERSION}"
        pytest.fail(reason) if os.environ.get("CI") else pytest.skip(reason)
    from mypy import api

    root = tmp_path_factory.mktemp("mypy")
    (root / "mypy.ini").write_text(CONFIG.format(stubs=write_stub_tree(root / "stubs")))

    def run(*files: Path) -> tuple[int, str]:
        stdout, stderr, status = api.run(["--config-file", str(root / "mypy.ini"), "--cache-dir", str(root / "cache"), *map(str, files)])
        return status, stdout + stderr

    return run


def test_tensorrt_backend_uses_only_what_the_stubs_declare(mypy):
    status, report = mypy(*CHECKED)
    assert status == 0, report


def test_a_call_the_stubs_do_not_declare_is_an_error(mypy, tmp_path):
    wrong = tmp_path / "wrong.py"
    wrong.write_text(textwrap.dedent("""\
        import tensorrt as trt

        def build(logger: trt.ILogger) -> None:
            builder = trt.Builder(logger)
            builder.create_network(explicit_batch=True)
            config = builder.create_builder_config()
            config.max_workspace_size = 1 << 30
            config.set_flag(trt.BuilderFlag.FP16, True)
            trt.Runtime(logger).deserialize_cuda_engine(b"").execute_async_v3(0)
    """))
    status, report = mypy(wrong)
    assert status == 1
    for line, code in ((5, "call-arg"), (7, "attr-defined"), (8, "call-arg"), (9, "attr-defined")):
        assert any(f"wrong.py:{line}: error:" in row and f"[{code}]" in row for row in report.splitlines()), report
