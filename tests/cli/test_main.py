"""The entry point: one place turns our errors and OSErrors about user paths into what / why / fix."""
import errno

import pytest

from edgedepth.cli import info
from edgedepth.cli import main as cli_main


@pytest.fixture
def failing_info(monkeypatch):
    monkeypatch.setattr(cli_main, "COMMAND_MODULES", ["info"])

    def fail_with(error):
        def run(args):
            raise error
        monkeypatch.setattr(info, "run", run)
    return fail_with


@pytest.mark.parametrize("code, fix", [(errno.EACCES, "permissions"), (errno.ENOSPC, "disk space"),
                                       (errno.EROFS, "read-only"), (errno.EIO, "check the path")])
def test_an_oserror_about_a_user_path_is_a_message(failing_info, capsys, code, fix):
    failing_info(OSError(code, "it went wrong", "runs/out/model.onnx"))
    assert cli_main.main(["info"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("edgedepth info: error: cannot use runs/out/model.onnx")
    assert "why: it went wrong" in err and fix in err and "Traceback" not in err


def test_an_oserror_about_no_path_keeps_its_traceback(failing_info):
    failing_info(ConnectionResetError(errno.ECONNRESET, "reset"))
    with pytest.raises(ConnectionResetError):
        cli_main.main(["info"])
