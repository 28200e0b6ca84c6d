"""Optional packages: which pip extra brings each one, and one clear error when it is missing.

Usage::

    from mcudeploy.extras import require
    require("the MLPerf Tiny suite (its reference models)", "h5py", "tflite")
    # MissingPackageError: the MLPerf Tiny suite (its reference models) needs the package 'h5py',
    # which is not installed; install it with: pip install 'mcudeploy[zoo]' (or: pip install h5py)

A command checks what it needs at its start, before any work, so a missing extra is one line
and not a traceback minutes later. ``from_import_error`` is the CLI's backstop for an import
that no command checked.
"""

from __future__ import annotations

import importlib

from .errors import McdError

# import name -> (pip distribution, the pyproject extra that brings it; None: a core dependency)
PROVIDERS: dict[str, tuple[str, str | None]] = {
    "h5py": ("h5py", "zoo"),
    "tflite": ("tflite", "zoo"),
    "unicorn": ("unicorn", "cycles"),
    "capstone": ("capstone", "cycles"),
    "elftools": ("pyelftools", "cycles"),
    "sklearn": ("scikit-learn", "data"),
    "mlxtend": ("mlxtend", "data"),
    "ai_edge_litert": ("ai-edge-litert", "test"),
    "labgrid": ("labgrid", "farm"),
    "pyocd": ("pyocd", None),
    "serial": ("pyserial", None),
    "jinja2": ("jinja2", None),
}
CYCLES = ("unicorn", "capstone", "elftools")  # what cycles.estimate imports
ZOO = ("h5py", "tflite")  # what zoo.mlperf_tiny needs to read the reference models


class MissingPackageError(McdError):
    """An optional (or core) package a command needs is not installed or does not import."""


def install_hint(module: str) -> str:
    dist, extra = PROVIDERS.get(module, (module, None))
    if extra:
        return f"pip install 'mcudeploy[{extra}]' (or: pip install {dist})"
    return f"pip install {dist}"


def missing(module: str, needed_for: str, cause: ImportError | None = None,
            alternative: str | None = None) -> MissingPackageError:
    """The error for ``module`` failing to import; ``cause`` tells absent from broken."""
    absent = cause is None or (isinstance(cause, ModuleNotFoundError)
                               and (cause.name or module).split(".")[0] == module)
    what = "which is not installed" if absent else f"which is installed but does not import ({cause})"
    tail = f"; {alternative}" if alternative else ""
    return MissingPackageError(f"{needed_for} needs the package '{module}', {what}; install it with: "
                               f"{install_hint(module)}{tail}")


def require(needed_for: str, *modules: str, alternative: str | None = None) -> None:
    """Import each of ``modules`` (a real import, so a broken install is found too) or raise
    ``MissingPackageError`` naming the first that fails and the pip command that brings it."""
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise missing(module, needed_for, exc, alternative) from exc


def from_import_error(exc: BaseException) -> MissingPackageError | None:
    """The one-line error for an ImportError (or one caused by it) of a package in ``PROVIDERS``."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, ModuleNotFoundError) and exc.name:
            top = exc.name.split(".")[0]
            if top in PROVIDERS:
                return missing(top, "this command", exc)
        exc = exc.__cause__ or exc.__context__
    return None
