"""The Cortex-M4 System Control Space the firmware touches: SysTick, SCB, DEMCR and the DWT
cycle counter, all driven by the timing model's cycle count.

    >>> scs = SystemControl(soc)       # soc.cycles: estimated core cycles so far
    >>> scs.write(0x1004, 0)           # DWT_CYCCNT = 0
    >>> scs.read(0x1004)               # estimated cycles since, if DEMCR.TRCENA and CYCCNTENA

CYCCNT counts only when DEMCR.TRCENA and DWT_CTRL.CYCCNTENA are both set, as on silicon, so the
firmware's counter_dwt.c runs its real path and a missing enable reads 0 here too. Offsets are
from 0xE0000000. SysTick counts the processor clock (CLKSOURCE=1) or HCLK/8; its interrupt is
not delivered (the firmware polls and uses none): enabling TICKINT stops the run with that said.
"""

from __future__ import annotations

from ...errors import TargetError

DWT_CTRL, DWT_CYCCNT, DWT_LAR = 0x1000, 0x1004, 0x1FB0
SYST_CSR, SYST_RVR, SYST_CVR, SYST_CALIB = 0xE010, 0xE014, 0xE018, 0xE01C
CPUID, DEMCR = 0xED00, 0xEDFC
TRCENA = 1 << 24


class SystemControl:
    def __init__(self, soc):
        self.soc = soc
        self.regs = {DWT_CTRL: 0x4000_0000, CPUID: 0x410F_C241, SYST_CALIB: 0x4000_0000}
        self.cyc_value, self.cyc_anchor = 0, None  # counting: CYCCNT = cycles - anchor
        self.syst_anchor = None

    def _counting(self) -> bool:
        return bool(self.regs.get(DEMCR, 0) & TRCENA and self.regs[DWT_CTRL] & 1)

    def _cyccnt(self) -> int:
        if self.cyc_anchor is None:
            return self.cyc_value
        return (self.soc.cycles - self.cyc_anchor) & 0xFFFF_FFFF

    def _restart_cyccnt(self, value: int) -> None:
        self.cyc_value = value
        self.cyc_anchor = self.soc.cycles - value if self._counting() else None

    def read(self, off: int) -> int:
        if off == DWT_CYCCNT:
            return self._cyccnt()
        if off == SYST_CVR:
            return self._systick()
        return self.regs.get(off, 0)

    def write(self, off: int, value: int) -> None:
        if off == DWT_CYCCNT:
            self._restart_cyccnt(value & 0xFFFF_FFFF)
            return
        if off in (DWT_CTRL, DEMCR):
            now = self._cyccnt()
            self.regs[off] = (value & ~0xF000_0000) | 0x4000_0000 if off == DWT_CTRL else value
            self._restart_cyccnt(now)
            return
        if off == SYST_CSR:
            if value & 2:
                raise TargetError(f"virtual board at pc={self.soc.pc:#010x}: SysTick's interrupt (SYST_CSR.TICKINT) "
                                  "is not modelled; poll SYST_CSR.COUNTFLAG or use DWT_CYCCNT (counter_dwt.c)")
            self.syst_anchor = self.soc.cycles if value & 1 else None
        if off == SYST_CVR:
            value = 0
            if self.syst_anchor is not None:
                self.syst_anchor = self.soc.cycles
        self.regs[off] = value

    def _systick(self) -> int:
        """Down-counter from RVR: processor cycles (CLKSOURCE=1) or HCLK/8 since it was enabled."""
        if self.syst_anchor is None:
            return self.regs.get(SYST_CVR, 0)
        period = (self.regs.get(SYST_RVR, 0) & 0xFFFFFF) + 1
        ticks = self.soc.cycles - self.syst_anchor
        if not self.regs.get(SYST_CSR, 0) & 4:
            ticks //= 8
        return (period - 1 - ticks % period) if period > 1 else 0
