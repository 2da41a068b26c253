"""Our exception types. Library code raises them; only the CLI turns them into messages and exit codes."""
from __future__ import annotations


class EdgedepthError(Exception):
    """A user-facing error: what happened, why, and what to do next."""

    exit_code = 2

    def __init__(self, what: str, *, why: str | None = None, fix: str | None = None):
        self.what, self.why, self.fix = what, why, fix
        super().__init__(self.message())

    def message(self) -> str:
        parts = [self.what]
        if self.why:
            parts.append(f"  why: {self.why}")
        if self.fix:
            parts.append(f"  fix: {self.fix}")
        return "\n".join(parts)


class ConfigError(EdgedepthError):
    """A configuration file or override is wrong."""


class DataError(EdgedepthError):
    """A dataset folder or file is missing, corrupt or inconsistent."""


class CheckpointError(EdgedepthError):
    """A checkpoint cannot be read or does not fit the model."""


class TrainingError(EdgedepthError):
    """Training cannot start or had to stop (for example on a NaN loss)."""


class ExportError(EdgedepthError):
    """Export, quantisation or ONNX verification failed."""


class EngineError(EdgedepthError):
    """An engine cannot be built or loaded on this device."""


class SourceError(EdgedepthError):
    """A camera, video or image source cannot be opened or was lost."""
