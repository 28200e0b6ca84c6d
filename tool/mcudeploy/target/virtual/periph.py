"""The STM32F446's peripheral map, GPIO ports and USARTs at register level.

    >>> blk = F446_BLOCKS.find(0x40004400)     # Block('USART2', 0x40004400, 0x400, APB1ENR bit 17)

Every block of RM0390's memory map is listed with the RCC enable bit that clocks it, so an access
anywhere else in peripheral space is an access to nothing (an error here, a bus fault or silently
lost on silicon), and a write to a block whose clock is off is caught (on silicon it is ignored).
Blocks the firmware never touches are listed but not modelled: touching one says so.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

from .rules import mhz, violation

AHB1, APB1, APB2, AHB2 = 0x30, 0x40, 0x44, 0x34  # RCC enable register offsets


@dataclass(frozen=True)
class Block:
    name: str
    base: int
    size: int
    enable: tuple[int, int] | None  # (RCC register offset, bit); None: always clocked

    @property
    def enable_name(self) -> str:
        reg = {AHB1: "AHB1ENR", APB1: "APB1ENR", APB2: "APB2ENR", AHB2: "AHB2ENR"}[self.enable[0]]
        return f"RCC_{reg} bit {self.enable[1]}"


def _blocks() -> list[Block]:
    k = 0x400
    apb1 = [("TIM2", 0x40000000, 0), ("TIM3", 0x40000400, 1), ("TIM4", 0x40000800, 2), ("TIM5", 0x40000C00, 3),
            ("TIM6", 0x40001000, 4), ("TIM7", 0x40001400, 5), ("TIM12", 0x40001800, 6),
            ("TIM13", 0x40001C00, 7), ("TIM14", 0x40002000, 8), ("WWDG", 0x40002C00, 11),
            ("SPI2", 0x40003800, 14), ("SPI3", 0x40003C00, 15), ("SPDIFRX", 0x40004000, 16),
            ("USART2", 0x40004400, 17), ("USART3", 0x40004800, 18), ("UART4", 0x40004C00, 19),
            ("UART5", 0x40005000, 20), ("I2C1", 0x40005400, 21), ("I2C2", 0x40005800, 22),
            ("I2C3", 0x40005C00, 23), ("FMPI2C1", 0x40006000, 24), ("CAN1", 0x40006400, 25),
            ("CAN2", 0x40006800, 26), ("HDMI-CEC", 0x40006C00, 27), ("PWR", 0x40007000, 28),
            ("DAC", 0x40007400, 29)]
    apb2 = [("TIM1", 0x40010000, 0), ("TIM8", 0x40010400, 1), ("USART1", 0x40011000, 4),
            ("USART6", 0x40011400, 5), ("ADC", 0x40012000, 8), ("SDIO", 0x40012C00, 11),
            ("SPI1", 0x40013000, 12), ("SPI4", 0x40013400, 13), ("SYSCFG", 0x40013800, 14),
            ("TIM9", 0x40014000, 16), ("TIM10", 0x40014400, 17), ("TIM11", 0x40014800, 18),
            ("SAI1", 0x40015800, 22), ("SAI2", 0x40015C00, 23)]
    out = [Block(n, b, k, (APB1, bit)) for n, b, bit in apb1]
    out += [Block(n, b, k, (APB2, bit)) for n, b, bit in apb2]
    out += [Block("RTC/BKP", 0x40002800, k, None), Block("IWDG", 0x40003000, k, None),
            Block("EXTI", 0x40013C00, k, None)]
    out += [Block(f"GPIO{'ABCDEFGH'[i]}", 0x40020000 + k * i, k, (AHB1, i)) for i in range(8)]
    out += [Block("CRC", 0x40023000, k, (AHB1, 12)), Block("RCC", 0x40023800, k, None),
            Block("FLASH", 0x40023C00, k, None), Block("BKPSRAM", 0x40024000, 0x1000, (AHB1, 18)),
            Block("DMA1", 0x40026000, k, (AHB1, 21)), Block("DMA2", 0x40026400, k, (AHB1, 22)),
            Block("USB OTG HS", 0x40040000, 0x40000, (AHB1, 29)),
            Block("USB OTG FS", 0x50000000, 0x40000, (AHB2, 7)), Block("DCMI", 0x50050000, k, (AHB2, 0))]
    return sorted(out, key=lambda b: b.base)


class BlockMap:
    def __init__(self, blocks: list[Block]):
        self.blocks = blocks
        self._bases = [b.base for b in blocks]

    def find(self, addr: int) -> Block | None:
        i = bisect_right(self._bases, addr) - 1
        if i >= 0 and addr < self.blocks[i].base + self.blocks[i].size:
            return self.blocks[i]
        return None


F446_BLOCKS = BlockMap(_blocks())
GPIO_RESET = {0: {0x00: 0xA800_0000, 0x08: 0x0C00_0000, 0x0C: 0x6400_0000},
              1: {0x00: 0x0000_0280, 0x08: 0x0000_00C0, 0x0C: 0x0000_0100}}


class Gpio:
    """One GPIO port: MODER, OSPEEDR, AFR are plain registers; BSRR sets and resets ODR bits."""

    def __init__(self, index: int):
        self.index = index
        self.regs = dict(GPIO_RESET.get(index, {}))

    def read(self, off: int) -> int:
        return 0 if off == 0x18 else self.regs.get(off, 0)  # BSRR reads as 0

    def write(self, off: int, value: int) -> None:
        if off == 0x18:
            odr = self.regs.get(0x14, 0)
            self.regs[0x14] = (odr | (value & 0xFFFF)) & ~(value >> 16)
        else:
            self.regs[off] = value

    def af_of(self, pin: int) -> tuple[int, int]:
        """(MODER mode, AF number) of ``pin``: mode 2 is alternate function."""
        mode = (self.regs.get(0x00, 0) >> (2 * pin)) & 3
        af = (self.regs.get(0x20 + 4 * (pin // 8), 0) >> (4 * (pin % 8))) & 0xF
        return mode, af


SR_RXNE, SR_TC, SR_TXE = 1 << 5, 1 << 6, 1 << 7
CR1_RE, CR1_TE, CR1_UE, CR1_OVER8 = 1 << 2, 1 << 3, 1 << 13, 1 << 15


class Usart:
    """A USART (SR/DR register set). Only the board's own instance carries bytes (``io``); its
    baud rate, from BRR and the APB clock the clock tree gives, is checked against the board file
    before the first byte moves after any change of BRR, CR1 or the clocks. Transmission is
    instant (TXE always set): timing of the link is not what this board models."""

    def __init__(self, soc, name: str, apb2: bool, io=None, baud: int = 0, pins=None):
        self.soc, self.name, self.apb2, self.io, self.baud, self.pins = soc, name, apb2, io, baud, pins
        self.regs = {0x00: SR_TXE | SR_TC}
        self.checked = None  # (clock generation, BRR, CR1) last found right

    def pclk(self) -> int:
        return self.soc.clock.pclk2 if self.apb2 else self.soc.clock.pclk1

    def _check(self, direction: str) -> None:
        key = (self.soc.clock.generation, self.regs.get(0x08, 0), self.regs.get(0x0C, 0))
        if key == self.checked:
            return
        pc, brr, cr1, pclk = self.soc.pc, self.regs.get(0x08, 0), self.regs.get(0x0C, 0), self.pclk()
        if cr1 & CR1_OVER8:
            div = ((brr >> 4) & 0xFFF) + (brr & 7) / 8
            real = pclk / (8 * div) if div else 0.0
        else:
            div = brr / 16
            real = pclk / (16 * div) if div else 0.0
        off = abs(real - self.baud) / self.baud * 100
        if off > 2.0:
            raise violation(f"RM0390 {self.name}_BRR baud rate", pc, f"BRR={brr:#x} at {'APB2' if self.apb2 else 'APB1'} "
                            f"{mhz(pclk)} gives {real:.0f} baud, {off:.1f} % off the board file's {self.baud} "
                            f"(limit 2 %) when a byte was {direction}",
                            f"compute BRR from the APB clock the clock tree really gives ({mhz(pclk)})")
        for role, pin in self.pins or ():
            mode, af = self.soc.gpio[pin.port].af_of(pin.pin)
            if mode != 2 or af != self.soc.board.uart.af:
                raise violation(f"RM0390 GPIO{'ABCDEFGH'[pin.port]}_MODER/AFR", pc,
                                f"{self.name} {role} pin {pin.name} is in mode {mode} with AF{af} when a byte was "
                                f"{direction} (needs mode 2, alternate function, AF{self.soc.board.uart.af})",
                                "configure the pin's MODER and AFR before using the USART")
        self.checked = key

    def read(self, off: int) -> int:
        if self.io is None:
            return self.regs.get(off, 0)
        cr1 = self.regs.get(0x0C, 0)
        live = cr1 & CR1_UE and cr1 & CR1_RE
        if off == 0x00:
            sr = self.regs[0x00] & ~SR_RXNE
            return sr | SR_RXNE if live and self.io.rx_ready(self.soc) else sr
        if off == 0x04:
            self.io.note_access()
            if not live or not self.io.rx_ready(self.soc, poll=False):
                return self.regs.get(0x04, 0)
            self._check("received")
            self.regs[0x04] = self.io.rx_byte()
            return self.regs[0x04]
        return self.regs.get(off, 0)

    def write(self, off: int, value: int) -> None:
        if off == 0x00:  # rc_w0 flags: writing 0 clears; TXE/TC reappear at once (instant transmission)
            self.regs[0x00] = SR_TXE | SR_TC
            return
        self.regs[off] = value
        if off == 0x04 and self.io is not None:
            cr1 = self.regs.get(0x0C, 0)
            self.io.note_access()
            if cr1 & CR1_UE and cr1 & CR1_TE:
                self._check("sent")
                self.io.tx_byte(value & 0xFF)
