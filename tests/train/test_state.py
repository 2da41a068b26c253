"""Checkpoint files: a write killed halfway leaves nothing that outlives the next run."""
import subprocess
import sys
import textwrap

from edgedepth.train.state import CheckpointKeeper

# Writes a checkpoint the way training does and is SIGKILLed at the last moment before the rename.
KILLED_WRITER = textwrap.dedent("""
    import os, signal, sys
    from edgedepth.utils import io
    io.os.fsync = lambda fd: os.kill(os.getpid(), signal.SIGKILL)
    io.atomic_write_bytes(sys.argv[1], b"x" * 4096)
""")


def test_a_checkpoint_write_killed_by_sigkill_leaves_a_temp_that_the_next_run_removes(tmp_path):
    run = tmp_path / "run"
    target = run / "checkpoints" / "step_0000002.pt"
    proc = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(target)], capture_output=True)
    assert proc.returncode == -9
    (run / "checkpoints" / "step_0000001.pt").write_bytes(b"a good checkpoint")
    left = [p.name for p in (run / "checkpoints").iterdir() if p.name.startswith(".")]
    assert len(left) == 1 and left[0].startswith(".step_0000002.pt.") and not target.exists()
    CheckpointKeeper(run)  # training starts or resumes in this folder
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step_0000001.pt"]
