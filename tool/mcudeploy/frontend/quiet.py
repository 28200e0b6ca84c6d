"""Keep torch's own logging and warnings off the user's terminal while we export or load.

Usage::

    with quiet_torch():
        ep = torch.export.export(model, (x,))

When ``torch.export`` fails, torch logs the failure itself before raising: a model whose input
does not fit the data printed 19 lines of ``E... fake_tensor.py:3090] failed while attempting
to run meta for aten.mm.default`` plus a traceback per export attempt (38 lines for the two
attempts of ``export_module``), ahead of the one-line error. The exception carries the same
information, and the caller turns it into that one line; so during the call every ``torch.*``
logger is raised to CRITICAL and warnings are ignored, and both are restored afterwards.
``torch.export`` also prints a failed trace's partial graph straight to ``sys.stderr`` (53 lines
for a model with data-dependent control flow), so ``sys.stderr`` is redirected to a buffer that
is dropped: the exception is what the user is told about. mcudeploy's own progress lines keep
going to the real stderr meanwhile (``progress.keep_stream``).
"""

from __future__ import annotations

import io
import logging
import warnings
from contextlib import contextmanager, redirect_stderr

from .. import progress


@contextmanager
def quiet_torch():
    manager = logging.root.manager
    names = ["torch"] + [n for n in list(manager.loggerDict) if n.startswith("torch.")]
    loggers = [logging.getLogger(n) for n in names]
    saved = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        with progress.keep_stream(), warnings.catch_warnings(), redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, saved):
            lg.setLevel(level)
