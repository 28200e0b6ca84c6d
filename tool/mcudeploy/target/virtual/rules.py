"""The reference manual's rules the virtual board checks as the firmware runs, and their figures.

Each broken rule stops the run with one line naming the rule, the instruction address (the
Thumb instruction that made the access), what was wrong and how to fix it::

    RM0390 RCC_CFGR.SW: SYSCLK switched to the PLL before RCC_CR.PLLRDY at pc=0x08000a1e: ...

Figures are RM0390 (STM32F446xx reference manual) for the F446RE: the flash wait-state table
(wait states against HCLK and supply voltage), the voltage-scaling and over-drive HCLK limits,
the APB limits and the PLL's input and VCO ranges.
"""

from __future__ import annotations

from ...errors import TargetError

MHZ = 1_000_000

# RM0390 flash read latency: the highest HCLK (MHz) allowed with 0, 1, 2, ... wait states, by
# supply voltage range (V_low, V_high). A NUCLEO board runs its MCU at 3.3 V.
FLASH_WS_TABLE: tuple[tuple[float, float, tuple[int, ...]], ...] = (
    (2.7, 3.6, (30, 60, 90, 120, 150, 180)),
    (2.4, 2.7, (24, 48, 72, 96, 120, 144, 168, 180)),
    (2.1, 2.4, (22, 44, 66, 88, 110, 132, 154, 176, 180)),
    (1.8, 2.1, (20, 40, 60, 80, 100, 120, 140, 160, 168)),
)

# HCLK limits by PWR_CR.VOS (1 = scale 3, 2 = scale 2, 3 = scale 1): (without, with over-drive)
VOS_LIMIT_MHZ = {1: (120, 120), 2: (144, 168), 3: (168, 180)}
APB1_MAX_MHZ, APB2_MAX_MHZ = 45, 90


class RuleViolation(TargetError):
    """The firmware broke a rule of the reference manual on the virtual board."""


def violation(rule: str, pc: int, what: str, fix: str) -> RuleViolation:
    """``rule`` names the register/field and the rule; one line, as every user-facing error."""
    return RuleViolation(f"{rule} at pc={pc:#010x}: {what}; {fix}")


def min_wait_states(hclk_hz: int, vdd: float) -> int:
    """The fewest flash wait states RM0390 allows at ``hclk_hz`` and supply ``vdd`` volts."""
    for lo, hi, limits in FLASH_WS_TABLE:
        if lo <= vdd <= hi:
            for ws, mhz in enumerate(limits):
                if hclk_hz <= mhz * MHZ:
                    return ws
            return len(limits)  # above the table: no latency is enough (the HCLK limit rule says why)
    raise ValueError(f"supply {vdd} V is outside RM0390's 1.8-3.6 V")


def mhz(hz: float) -> str:
    return f"{hz / MHZ:g} MHz"
