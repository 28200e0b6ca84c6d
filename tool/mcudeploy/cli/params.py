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


def budget_tuning_options(f):
    """The schedule settings of budget-driven pruning (``compress --budget``, ``sweep --budgets``):
    ``--gate-frac``, ``--refill``, ``--min-width`` (``budget_run.budget_compress``'s ``gate_frac``,
    ``refill``, ``min_width_frac``). Defaults None: the library's."""
    from ..compress.gates import GATE_FRAC, MIN_WIDTH, MIN_WIDTH_FRAC

    opts = [
        click.option("--gate-frac", type=FiniteFloat(0, 1, min_open=True), default=None, metavar="F",
                     help="share of the schedule in which the gates learn which channels to keep; the rest "
                          f"fine-tunes the cut-down net (default {GATE_FRAC:g}). A long schedule (10+ epochs) does best with "
                          "a small share, e.g. 0.025."),
        click.option("--refill", type=FiniteFloat(0, 1, min_open=True), default=None, metavar="SHARE",
                     help="when the build measures under SHARE of a budget (and under the estimate), reopen the "
                          "most important channels to use it, fine-tune and measure again (e.g. 0.95; default: "
                          "off). The last build that met the budget is kept."),
        click.option("--min-width", "min_width_frac", type=FiniteFloat(0, 1), default=None, metavar="FRAC",
                     help=f"no channel group closes below max({MIN_WIDTH}, FRAC x its dense channels) "
                          f"(default {MIN_WIDTH_FRAC:g}; 0: no floor)."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


TUNING_FLAGS = {"gate_frac": "--gate-frac", "refill": "--refill", "min_width_frac": "--min-width"}


def tuning_flags(tuning: dict) -> str:
    """The options behind ``budget_tuning``'s keys, as the user typed them: "--refill/--min-width"."""
    return "/".join(TUNING_FLAGS[k] for k in tuning)


def budget_tuning(gate_frac, refill, min_width_frac) -> dict:
    """The options given, as ``budget_compress`` keyword arguments (absent ones keep its defaults)."""
    return {k: v for k, v in (("gate_frac", gate_frac), ("refill", refill), ("min_width_frac", min_width_frac))
            if v is not None}
