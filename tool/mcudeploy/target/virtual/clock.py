"""RCC, PWR and FLASH of the STM32F446 at register level: the clock tree the firmware builds, and
the rules it must follow while building it.

    >>> clk = ClockTree(soc)                  # soc: .pc (instruction address), .cycles, .vdd
    >>> clk.write_rcc(0x00, 1 << 24)          # RCC_CR.PLLON: PLLRDY sets PLL_LOCK_S later
    >>> clk.hclk, clk.pclk1, clk.pclk2        # Hz, from RCC_CFGR.SW / HPRE / PPRE1 / PPRE2

Ready flags are not instant, as on silicon: PLLRDY sets PLL_LOCK_S after PLLON, ODRDY and
ODSWRDY OD_READY_S after ODEN / ODSWEN, HSERDY HSE_READY_S after HSEON (time runs at the current
SYSCLK: cycles / SYSCLK). These are the model's figures, of the order of the datasheet's (PLL lock
~100 us); they are what makes a firmware that skips a wait fail here rather than on one board in
ten. The clock is checked whenever it can go up (RCC_CFGR written) and whenever the flash latency
or the over-drive change: PLL before PLLRDY, HCLK above the voltage scale's limit or above 168 MHz
without over-drive, flash wait states below RM0390's table, APB1/APB2 above 45/90 MHz.
"""

from __future__ import annotations

from .rules import APB1_MAX_MHZ, APB2_MAX_MHZ, MHZ, VOS_LIMIT_MHZ, mhz, min_wait_states, violation

HSI_HZ, HSE_HZ = 16 * MHZ, 8 * MHZ  # HSE: the ST-LINK's 8 MHz MCO on a NUCLEO-64
PLL_LOCK_S, OD_READY_S, HSE_READY_S = 100e-6, 20e-6, 50e-6

CR_HSEON, CR_HSERDY, CR_PLLON, CR_PLLRDY = 1 << 16, 1 << 17, 1 << 24, 1 << 25
PWR_ODEN, PWR_ODSWEN = 1 << 16, 1 << 17
CSR_VOSRDY, CSR_ODRDY, CSR_ODSWRDY = 1 << 14, 1 << 16, 1 << 17
RCC_RESET = {0x00: 0x0000_0083, 0x04: 0x2400_3010, 0x08: 0, 0x30: 0x0010_0000, 0x70: 0, 0x74: 0x0E00_0000}
AHB_DIV = {8: 2, 9: 4, 10: 8, 11: 16, 12: 64, 13: 128, 14: 256, 15: 512}
APB_DIV = {4: 2, 5: 4, 6: 8, 7: 16}
SW_NAMES = ("HSI", "HSE", "PLL (P)", "PLL (R)")


class ClockTree:
    """RCC (0x40023800), PWR (0x40007000) and FLASH (0x40023C00) registers and their rules."""

    def __init__(self, soc):
        self.soc = soc
        self.rcc = dict(RCC_RESET)
        self.pwr = {0x00: 0x0000_C000, 0x04: 0}
        self.flash = {0x00: 0}
        self.sysclk = HSI_HZ
        self.t_anchor, self.c_anchor = 0.0, 0  # virtual seconds at cycle c_anchor (SYSCLK may change)
        self.ready_at = {"pll": None, "hse": None, "od": None, "odsw": None}
        self.generation = 0  # bumped on every clock change (the USART re-checks its baud rate)

    # --- time ------------------------------------------------------------------------------------
    def now(self) -> float:
        return self.t_anchor + (self.soc.cycles - self.c_anchor) / self.sysclk

    def _ready(self, key: str) -> bool:
        t = self.ready_at[key]
        return t is not None and self.now() >= t

    # --- derived clocks --------------------------------------------------------------------------
    def pll_hz(self, out: str = "P") -> int:
        c = self.rcc[0x04]
        m, n = c & 0x3F, (c >> 6) & 0x1FF
        src = HSE_HZ if c & (1 << 22) else HSI_HZ
        div = 2 * (((c >> 16) & 3) + 1) if out == "P" else (c >> 28) & 7
        return src * n // (m * div) if m and div else 0

    def _sysclk_of(self, sw: int) -> int:
        return (HSI_HZ, HSE_HZ, self.pll_hz("P"), self.pll_hz("R"))[sw]

    @property
    def hclk(self) -> int:
        return self.sysclk // AHB_DIV.get((self.rcc[0x08] >> 4) & 0xF, 1)

    @property
    def pclk1(self) -> int:
        return self.hclk // APB_DIV.get((self.rcc[0x08] >> 10) & 7, 1)

    @property
    def pclk2(self) -> int:
        return self.hclk // APB_DIV.get((self.rcc[0x08] >> 13) & 7, 1)

    def clock_enabled(self, reg: int, bit: int) -> bool:
        return bool(self.rcc.get(reg, 0) >> bit & 1)

    # --- RCC -------------------------------------------------------------------------------------
    def read_rcc(self, off: int) -> int:
        v = self.rcc.get(off, 0)
        if off == 0x00:
            v &= ~(CR_PLLRDY | CR_HSERDY)
            v |= CR_PLLRDY if v & CR_PLLON and self._ready("pll") else 0
            v |= CR_HSERDY if v & CR_HSEON and self._ready("hse") else 0
        elif off == 0x08:
            v = (v & ~0xC) | ((v & 3) << 2)  # SWS follows SW (the switch is checked when SW is written)
        return v

    def write_rcc(self, off: int, value: int) -> None:
        old = self.rcc.get(off, 0)
        if off == 0x00:
            if value & CR_PLLON and not old & CR_PLLON:
                self._check_pll_config()
                self.ready_at["pll"] = self.now() + PLL_LOCK_S
            if not value & CR_PLLON:
                self.ready_at["pll"] = None
            if value & CR_HSEON and not old & CR_HSEON:
                self.ready_at["hse"] = self.now() + HSE_READY_S
            value = (value & ~(CR_PLLRDY | CR_HSERDY)) | 0x2  # HSIRDY stays set
        elif off == 0x04 and self.rcc[0x00] & CR_PLLON:
            raise violation("RM0390 RCC_PLLCFGR", self.soc.pc, "the PLL configuration was written while "
                            "RCC_CR.PLLON=1 (it may change only while the PLL is off)",
                            "clear PLLON and wait for PLLRDY=0 before writing RCC_PLLCFGR")
        self.rcc[off] = value
        if off == 0x08:
            self._switch(value & 3)

    def _check_pll_config(self) -> None:
        c = self.rcc[0x04]
        m, n = c & 0x3F, (c >> 6) & 0x1FF
        src = HSE_HZ if c & (1 << 22) else HSI_HZ
        vin = src / m if m else 0
        bad = []
        if not 2 <= m <= 63 or not 1 * MHZ <= vin <= 2 * MHZ:
            bad.append(f"PLLM={m} gives a VCO input of {mhz(vin)} (needs 1-2 MHz)")
        if not 50 <= n <= 432 or not 100 * MHZ <= vin * n <= 432 * MHZ:
            bad.append(f"PLLN={n} gives a VCO of {mhz(vin * n)} (needs 100-432 MHz)")
        if bad:
            raise violation("RM0390 RCC_PLLCFGR ranges", self.soc.pc, "; ".join(bad) + " when PLLON was set",
                            "choose PLLM/PLLN within RM0390's ranges")

    def _switch(self, sw: int) -> None:
        pc = self.soc.pc
        if sw in (2, 3) and not (self.rcc[0x00] & CR_PLLON and self._ready("pll")):
            raise violation("RM0390 RCC_CFGR.SW", pc, "SYSCLK switched to the PLL before RCC_CR.PLLRDY was set",
                            "wait until RCC_CR.PLLRDY reads 1 before selecting the PLL")
        if sw == 1 and not (self.rcc[0x00] & CR_HSEON and self._ready("hse")):
            raise violation("RM0390 RCC_CFGR.SW", pc, "SYSCLK switched to HSE before RCC_CR.HSERDY was set",
                            "wait until RCC_CR.HSERDY reads 1 before selecting HSE")
        new = self._sysclk_of(sw)
        if new != self.sysclk:
            self.t_anchor, self.c_anchor = self.now(), self.soc.cycles
            self.sysclk = new
        self.generation += 1
        self.check_clock_rules("RCC_CFGR written")

    def check_clock_rules(self, event: str) -> None:
        """Every limit that depends on HCLK, checked after ``event`` (a register write)."""
        pc, hclk = self.soc.pc, self.hclk
        vos = (self.pwr[0x00] >> 14) & 3
        od = self._od_ready()
        limit = VOS_LIMIT_MHZ.get(vos, (0, 0))[1 if od else 0] * MHZ
        if hclk > 168 * MHZ and not od:
            raise violation("RM0390 PWR over-drive", pc, f"HCLK {mhz(hclk)} > 168 MHz without over-drive ready "
                            f"(PWR_CSR.ODRDY={int(self._ready('od'))}, ODSWRDY={int(self._ready('odsw'))}) "
                            f"after {event}", "set PWR_CR.ODEN, wait for ODRDY, set ODSWEN, wait for ODSWRDY, "
                            "then switch SYSCLK")
        if hclk > limit:
            raise violation("RM0390 PWR_CR.VOS", pc, f"HCLK {mhz(hclk)} is above {mhz(limit)}, the limit of "
                            f"voltage scale VOS={vos}{' with' if od else ' without'} over-drive after {event}",
                            "select voltage scale 1 (PWR_CR.VOS=3) before raising the clock")
        ws, need = self.flash[0x00] & 0xF, min_wait_states(hclk, self.soc.vdd)
        if ws < need:
            raise violation("RM0390 FLASH_ACR.LATENCY", pc, f"{ws} wait state(s) at HCLK {mhz(hclk)} and "
                            f"VDD {self.soc.vdd:g} V after {event}; RM0390's table needs at least {need}",
                            f"write FLASH_ACR.LATENCY >= {need} before raising the clock")
        for name, hz, cap in (("APB1", self.pclk1, APB1_MAX_MHZ), ("APB2", self.pclk2, APB2_MAX_MHZ)):
            if hz > cap * MHZ:
                raise violation(f"RM0390 RCC_CFGR.PPRE{name[-1]}", pc, f"{name} clock {mhz(hz)} exceeds "
                                f"{cap} MHz after {event}", f"raise the {name} prescaler")

    # --- PWR -------------------------------------------------------------------------------------
    def _od_ready(self) -> bool:
        return bool(self.pwr[0x00] & PWR_ODEN and self.pwr[0x00] & PWR_ODSWEN and self._ready("odsw"))

    def read_pwr(self, off: int) -> int:
        if off == 0x04:
            v = self.pwr[0x04] & ~(CSR_ODRDY | CSR_ODSWRDY)
            v |= CSR_VOSRDY if self.rcc[0x00] & CR_PLLON and self._ready("pll") else 0
            v |= CSR_ODRDY if self.pwr[0x00] & PWR_ODEN and self._ready("od") else 0
            v |= CSR_ODSWRDY if self.pwr[0x00] & PWR_ODSWEN and self._ready("odsw") else 0
            return v
        return self.pwr.get(off, 0)

    def write_pwr(self, off: int, value: int) -> None:
        if off == 0x00:
            old = self.pwr[0x00]
            if value & PWR_ODEN and not old & PWR_ODEN:
                self.ready_at["od"] = self.now() + OD_READY_S
            if value & PWR_ODSWEN and not old & PWR_ODSWEN:
                if not (value & PWR_ODEN and self._ready("od")):
                    raise violation("RM0390 PWR_CR.ODSWEN", self.soc.pc, "over-drive switching enabled before "
                                    "PWR_CSR.ODRDY was set", "wait for ODRDY after setting ODEN")
                self.ready_at["odsw"] = self.now() + OD_READY_S
            self.pwr[0x00] = value
            if (old ^ value) & (PWR_ODEN | PWR_ODSWEN | 0xC000):
                self.check_clock_rules("PWR_CR written")
        else:
            self.pwr[off] = value

    # --- FLASH -----------------------------------------------------------------------------------
    def read_flash(self, off: int) -> int:
        return self.flash.get(off, 0)

    def write_flash(self, off: int, value: int) -> None:
        self.flash[off] = value & ~(3 << 11) if off == 0x00 else value  # ICRST/DCRST read as 0
        if off == 0x00:
            self.check_clock_rules("FLASH_ACR written")
