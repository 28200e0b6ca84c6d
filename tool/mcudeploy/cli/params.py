"""Option types shared by the commands.

    @click.option("--lr", type=FiniteFloat(0, min_open=True))   # refuses 0, -1, nan and inf

click's ``FloatRange`` lets ``nan`` through (every comparison with it is false), and a NaN learning
rate or timeout only fails deep inside the work, as a traceback. ``FiniteFloat`` refuses it while
the options are parsed, with click's usual one-line usage error.
"""

from __future__ import annotations

import math

import click


class FiniteFloat(click.FloatRange):
    """A ``click.FloatRange`` that also refuses nan and +-inf."""

    def convert(self, value, param, ctx):
        rv = super().convert(value, param, ctx)
        if not math.isfinite(rv):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return rv


EMULATORS = ("qemu", "virtual")


def emulate_option(help_text: str, default: str | None = None):
    """``--emulate [qemu|virtual]``: a bare ``--emulate`` is QEMU (as it always was); ``virtual`` is
    the virtual NUCLEO-F446RE running the silicon image (target/virtual/). Give it after PROJECT
    (``validate out/lenet --emulate``): a word right after a bare ``--emulate`` is read as its value."""
    return click.option("--emulate", type=click.Choice(EMULATORS), is_flag=False, flag_value="qemu",
                        default=default, metavar="[qemu|virtual]", help=help_text)


def emulate_value(emulate: str | bool | None) -> bool | str:
    """What the library takes: False (silicon), True (QEMU) or "virtual". Callers that invoke a
    command in-process (``demo``) may pass the library's own value (True, False, "virtual")."""
    if isinstance(emulate, bool):
        return emulate
    return "virtual" if emulate == "virtual" else emulate == "qemu"
