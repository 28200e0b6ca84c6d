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
