"""Typed errors raised deep in the pipeline and turned into one clear message by the CLI.

Every error that a user can cause (bad model, bad data, board too small, no probe) is an
``McdError``: the CLI prints its message without a traceback and exits with ``exit_code``.
Anything else is a bug and keeps its traceback.
"""


class McdError(Exception):
    """A user-facing failure with a message that says what to do."""

    exit_code = 2


class UnsupportedOpError(McdError):
    """The model uses an operation the compiler has no kernel for."""


class ModelLoadError(McdError):
    """The model file, factory or weights could not be loaded."""


class DataError(McdError):
    """A data set or .npz file is missing or malformed."""


class DoesNotFitError(McdError):
    """The model needs more flash or RAM than the board has."""


class BoardError(McdError):
    """A board file is missing or invalid."""


class BuildError(McdError):
    """The firmware build failed."""


class TargetError(McdError):
    """Flashing, the probe or the emulator failed."""


class LinkError(McdError):
    """The serial link to the board failed after retries."""


class OutputError(McdError):
    """An output path holds files the tool did not write, or cannot be written."""
