"""The virtual NUCLEO-F446RE: the silicon ELF on Unicorn's Cortex-M4, timed by the project's
Cortex-M4 timing model, with the F446's clock tree, GPIO, USART, SysTick and DWT at register level.

    >>> vb = VirtualBoard(elf, load_board("nucleo-f446re"), io)   # io: the USART's byte stream
    >>> vb.run()                  # until io says stop; a broken rule raises RuleViolation
    >>> vb.cycles, vb.instructions

Speed: timing is charged once per translated basic block (a block hook, with the block's cost
computed once from the timing table of cycles.py and cached), and peripherals are Unicorn MMIO
regions, so Python runs only at block entries and on peripheral accesses, never per instruction.
A range-limited memory hook over peripheral and system space keeps the PC exact in those
accesses, so each rule names the instruction that broke it. Memory is zero-wait (the timing
table's assumption; no flash wait states or ART cache are charged).
"""

from __future__ import annotations

from pathlib import Path

from ...boards import Board
from ...cycles import _cost_table
from ...errors import TargetError
from ...memmodel import ArtState, FlashModel
from .clock import ClockTree
from .periph import F446_BLOCKS, Gpio, Usart
from .rules import violation
from .scs import SystemControl

PERIPH_BASE, PERIPH_SIZE = 0x4000_0000, 0x2000_0000
PPB_BASE, PPB_SIZE = 0xE000_0000, 0x10_0000
SELF_LOOP = b"\xfe\xe7"  # b . : where the firmware parks after a fault or after main returns
USART_BASES = {1: (0x40011000, True), 2: (0x40004400, False), 3: (0x40004800, False), 6: (0x40011400, True)}


class VirtualBoard:
    """One run of one ELF. ``io`` carries USART bytes (see server.py and tests): it needs
    ``rx_ready(board, poll=True)``, ``rx_byte()``, ``tx_byte(b)`` and ``note_access()``."""

    def __init__(self, elf: str | Path, board: Board, io, vdd: float = 3.3, native: bool = True,
                 flash_model: bool = False):
        if board.mcu.upper() != "STM32F446RE":
            raise TargetError(f"the virtual board models the STM32F446RE, not {board.mcu} ({board.name}): use "
                              "--emulate (QEMU) for it")
        self.board, self.io, self.vdd, self.native = board, io, vdd, native
        # the flash as FLASH_ACR sets it up (latency, ART caches, prefetch): memmodel.py, charged in Python
        self.art = ArtState(FlashModel(wait_states=0, prefetch=False, icache_lines=0, dcache_lines=0)) \
            if flash_model else None
        self._acr_seen = None
        self.clock = ClockTree(self)
        self.scs = SystemControl(self)
        self.gpio = [Gpio(i) for i in range(8)]
        self.usarts: dict[int, Usart] = {}
        for inst, (base, apb2) in USART_BASES.items():
            own = inst == board.uart.instance
            pins = (("TX", board.uart.tx), ("RX", board.uart.rx)) if own else None
            self.usarts[base] = Usart(self, f"USART{inst}", apb2, io if own else None, board.uart.baud, pins)
        self._handlers = self._page_handlers()
        self._error: BaseException | None = None
        self._setup_cpu(Path(elf))

    # --- the CPU and its memory ------------------------------------------------------------------
    def _setup_cpu(self, elf: Path) -> None:
        import capstone as cs
        from elftools.common.exceptions import ELFError
        from elftools.elf.elffile import ELFFile
        from unicorn import (
            UC_ARCH_ARM,
            UC_HOOK_BLOCK,
            UC_HOOK_INTR,
            UC_HOOK_MEM_READ,
            UC_HOOK_MEM_UNMAPPED,
            UC_HOOK_MEM_WRITE,
            UC_MODE_MCLASS,
            UC_MODE_THUMB,
            Uc,
        )
        from unicorn import arm_const as A

        self._A = A
        uc = self.uc = Uc(UC_ARCH_ARM, UC_MODE_THUMB | UC_MODE_MCLASS)
        uc.ctl_set_cpu_model(A.UC_CPU_ARM_CORTEX_M4)
        b = self.board
        uc.mem_map(b.flash.origin, b.flash.size)
        uc.mem_map(b.ram.origin, b.ram.size)
        with open(elf, "rb") as f:
            try:
                e = ELFFile(f)
            except ELFError as exc:
                raise TargetError(f"{elf} is not an ELF image ({exc}): give the firmware.elf `mcudeploy build` "
                                  "made") from None
            for seg in e.iter_segments():  # what a programmer writes: the load image, into flash
                if seg["p_type"] == "PT_LOAD" and seg["p_filesz"]:
                    addr = seg["p_paddr"]
                    if not b.flash.origin <= addr < b.flash.origin + b.flash.size:
                        raise TargetError(f"{elf}: a load segment at {addr:#x} is outside {b.name}'s flash: "
                                          "not an image a programmer could write; build it for this board")
                    uc.mem_write(addr, seg.data())
        vec = bytes(uc.mem_read(b.flash.origin, 8))  # boot from flash: SP and reset vector at its start
        self._sp, self._reset = int.from_bytes(vec[:4], "little"), int.from_bytes(vec[4:], "little")
        uc.mmio_map(PERIPH_BASE, PERIPH_SIZE, self._guard(self._periph_read), None, self._periph_write, None)
        uc.mmio_map(PPB_BASE, PPB_SIZE, self._guard(self._ppb_read), None, self._ppb_write, None)
        # a hook over MMIO space makes Unicorn keep the PC exact there: rules name the instruction
        uc.hook_add(UC_HOOK_MEM_READ | UC_HOOK_MEM_WRITE, _noop, begin=PERIPH_BASE, end=PPB_BASE + PPB_SIZE - 1)
        uc.hook_add(UC_HOOK_MEM_UNMAPPED, self._unmapped)
        uc.hook_add(UC_HOOK_INTR, self._exception)
        md = cs.Cs(cs.CS_ARCH_ARM, cs.CS_MODE_THUMB | cs.CS_MODE_MCLASS)
        md.detail = True
        self._timing_hook(uc, md, cs, UC_HOOK_BLOCK)

    def _timing_hook(self, uc, md, cs, UC_HOOK_BLOCK) -> None:
        """Charge each block's cost (timing table of cycles.py) at its entry, +2 for a taken branch:
        in C (native.py) where a host compiler exists, else in Python (~3x slower)."""
        from .native import NativeBlockHook

        def cost(code: bytes, addr: int) -> tuple[int, int, bool, bool]:
            cyc, n, br = _cost_table(md, cs, code, addr)
            return cyc, n, br, code == SELF_LOOP

        self._timer = NativeBlockHook.attach(uc, cost) if self.native and self.art is None else None
        if self._timer is not None:
            return
        self._timer = timer = _PyTimer()
        costs: dict[int, tuple[int, int, bool, bool]] = {}
        state = [0, False]  # end address of the previous block, did it end in a branch
        art = self.art
        if art is not None:
            from unicorn import UC_HOOK_MEM_READ

            def on_flash_read(u, access, addr, size, value, _):
                art.read(addr)

            uc.hook_add(UC_HOOK_MEM_READ, on_flash_read, begin=self.board.flash.origin,
                        end=self.board.flash.origin + self.board.flash.size - 1)

        def on_block(u, addr, size, _):
            key = (addr << 8) | size
            c = costs.get(key)
            if c is None:
                c = costs[key] = cost(bytes(u.mem_read(addr, size)), addr)
            timer.cycles += c[0] + 2 if state[1] and addr != state[0] else c[0]
            timer.instructions += c[1]
            if art is not None:
                self._art_sync()
                art.fetch(addr, size, c[0], timer.cycles)
            state[0], state[1] = addr + size, c[2]
            if c[3]:
                timer.selfloop_pc = addr
                u.emu_stop()

        uc.hook_add(UC_HOOK_BLOCK, on_block)

    def _art_sync(self) -> None:
        """The flash model as FLASH_ACR now reads: LATENCY wait states, PRFTEN, ICEN, DCEN (RM0390 3.8.1)."""
        acr = self.clock.read_flash(0x00)
        if acr == self._acr_seen:
            return
        self._acr_seen = acr
        self.art.m = FlashModel(wait_states=acr & 0xF, prefetch=bool(acr & (1 << 8)),
                                icache_lines=64 if acr & (1 << 9) else 0, dcache_lines=8 if acr & (1 << 10) else 0)
        self.art.icache.lines, self.art.dcache.lines = self.art.m.icache_lines, self.art.m.dcache_lines

    @property
    def cycles(self) -> int:
        """Estimated core cycles since reset (the timing model; with ``flash_model``, plus the wait
        states of the flash as FLASH_ACR configures it)."""
        return self._timer.cycles + (self.art.penalty if self.art is not None else 0)

    @property
    def instructions(self) -> int:
        return self._timer.instructions

    def _guard(self, read):
        """A read callback must return a number: an error in it is kept, the run stopped, and the
        error raised by ``run`` (Unicorn's binding would print a ctypes warning instead)."""

        def guarded(uc, off, size, ud):
            try:
                return read(uc, off, size, ud)
            except BaseException as exc:  # noqa: BLE001 - re-raised by run()
                if self._error is None:
                    self._error = exc
                uc.emu_stop()
                return 0

        return guarded

    @property
    def pc(self) -> int:
        return self.uc.reg_read(self._A.UC_ARM_REG_PC)

    def run(self) -> None:
        """Run from the reset vector until ``io`` stops it (raises) or a rule is broken."""
        self.uc.reg_write(self._A.UC_ARM_REG_SP, self._sp)
        self._go(self._reset)

    def resume(self) -> None:
        """Continue a run that ``io`` stopped (tests feed the next bytes in between)."""
        self._go(self.pc)

    def _go(self, pc: int) -> None:
        self._error = None
        self.uc.emu_start(pc | 1, 0xFFFF_FFFF)  # exceptions of write hooks re-raise here
        if self._error is not None:
            raise self._error
        if self._timer.selfloop_pc:
            raise TargetError(f"virtual board: the firmware stopped in an endless loop at pc="
                              f"{self._timer.selfloop_pc:#010x} (its fault handler, or main returned): run it on "
                              "QEMU with gdb to see why")

    def _exception(self, uc, intno, _):
        raise TargetError(f"virtual board: the firmware raised CPU exception {intno} (a fault, BKPT or SVC) at "
                          f"pc={self.pc:#010x}; the firmware uses none: debug it on QEMU with gdb")

    def _unmapped(self, uc, access, addr, size, value, _):
        raise violation("Cortex-M4 memory map", self.pc, f"access to {addr:#010x}, outside {self.board.name}'s "
                        "flash, SRAM and peripherals (a wild pointer or stack overflow)",
                        "check the pointer; the linker script gives the valid ranges")

    # --- peripherals -----------------------------------------------------------------------------
    def _page_handlers(self) -> dict[int, tuple]:
        c = self.clock
        h = {0x40023800: (c.read_rcc, c.write_rcc), 0x40007000: (c.read_pwr, c.write_pwr),
             0x40023C00: (c.read_flash, c.write_flash)}
        for g in self.gpio:
            h[0x40020000 + 0x400 * g.index] = (g.read, g.write)
        for base, u in self.usarts.items():
            h[base] = (u.read, u.write)
        return {page: (rd, wr, F446_BLOCKS.find(page)) for page, (rd, wr) in h.items()}

    def _lookup(self, addr: int, kind: str):
        page = addr & ~0x3FF
        hit = self._handlers.get(page)
        if hit is not None:
            return hit
        blk = F446_BLOCKS.find(addr)
        if blk is None:
            raise violation("RM0390 memory map", self.pc, f"{kind} of {addr:#010x}, reserved peripheral space "
                            "(no peripheral of the STM32F446 is there)", "check the register address against "
                            "RM0390's memory map")
        raise TargetError(f"virtual board at pc={self.pc:#010x}: {kind} of {addr:#010x} ({blk.name}), a "
                          "peripheral the virtual board does not model; run this firmware on QEMU or silicon")

    def _periph_read(self, uc, off, size, _):
        addr = PERIPH_BASE + off
        rd, _wr, blk = self._lookup(addr, "read")
        if blk.enable is not None and not self.clock.clock_enabled(*blk.enable):
            return 0  # a peripheral without its clock reads as 0
        v = rd((addr & 0x3FF) & ~3)
        return (v >> (8 * (addr & 3))) & ((1 << (8 * size)) - 1)

    def _periph_write(self, uc, off, size, value, _):
        addr = PERIPH_BASE + off
        rd, wr, blk = self._lookup(addr, "write")
        reg = (addr & 0x3FF) & ~3
        if blk.enable is not None and not self.clock.clock_enabled(*blk.enable):
            raise violation(f"RM0390 {blk.enable_name.split()[0]} clock enable", self.pc,
                            f"{blk.name} register +{reg:#x} written while its bus clock is off "
                            f"({blk.enable_name} = 0; the write is lost on silicon)",
                            f"set {blk.enable_name} (and read it back) before touching {blk.name}")
        if size < 4:
            shift, mask = 8 * (addr & 3), (1 << (8 * size)) - 1
            value = (rd(reg) & ~(mask << shift)) | ((value & mask) << shift)
        wr(reg, value & 0xFFFF_FFFF)

    def _ppb_read(self, uc, off, size, _):
        v = self.scs.read(off & ~3)
        return (v >> (8 * (off & 3))) & ((1 << (8 * size)) - 1)

    def _ppb_write(self, uc, off, size, value, _):
        if size < 4:
            shift, mask = 8 * (off & 3), (1 << (8 * size)) - 1
            value = (self.scs.read(off & ~3) & ~(mask << shift)) | ((value & mask) << shift)
        self.scs.write(off & ~3, value & 0xFFFF_FFFF)


class _PyTimer:
    cycles = instructions = selfloop_pc = 0


def _noop(*_args) -> None:
    return None
