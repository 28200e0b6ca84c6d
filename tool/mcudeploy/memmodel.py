"""The F446RE's flash as the core sees it: wait states behind ST's ART accelerator.

Why: the zero-wait figure of :mod:`mcudeploy.cycles` is what the core would do if flash were as
fast as SRAM. At 180 MHz the F446RE's flash needs 5 wait states (RM0390, table 5: 2.7-3.6 V,
150 < HCLK <= 180 MHz), and the ART accelerator hides most of them. Peers' silicon figures
(X-CUBE-AI's MLPerf Tiny results) include them, so a comparison needs them too.

The model, after RM0390 section 3.4 "Read interface" (the "ART accelerator"):
- flash is read 128 bits (one 16-byte line) at a time; a read that the ART cannot serve costs
  ``wait_states`` extra cycles (the first access of the line takes 1 + WS cycles);
- instruction cache: 64 lines of 128 bits; data cache: 8 lines of 128 bits (literal pools and
  ``const`` weights are data reads from flash); both modelled as fully associative with LRU
  replacement (RM0390 does not give the organisation; this is the simplest reading);
- prefetch: while the core executes line L, the ART reads line L+1; if the core reaches L+1 at
  least WS cycles later, the fetch costs nothing, else it waits for the remainder;
- SRAM (0x2000_0000) and peripherals are zero-wait; instruction and data accesses are not made
  to compete for the flash port (the AHB bus matrix gives I-code and D-code separate paths).
What it leaves out: the prefetch of a branch target, and the cost of the cache refill on a
taken branch back into a line just evicted by a data read (both caches are separate here).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

LINE = 16


@dataclass(frozen=True)
class FlashModel:
    """The parameters; the defaults are the F446RE at 180 MHz with ART and prefetch on."""

    wait_states: int = 5
    icache_lines: int = 64
    dcache_lines: int = 8
    prefetch: bool = True
    base: int = 0x08000000
    size: int = 2 << 20
    name: str = "F446RE flash at 180 MHz: 5 wait states, ART 64-line I-cache, 8-line D-cache, prefetch"


F446RE_180MHZ = FlashModel()


class _Lru:
    """A fully associative LRU set of line numbers."""

    def __init__(self, lines: int):
        self.lines, self.d = lines, OrderedDict()

    def hit(self, line: int) -> bool:
        """True on a hit; on a miss the line is filled (evicting the least recently used)."""
        if line in self.d:
            self.d.move_to_end(line)
            return True
        self.d[line] = None
        if len(self.d) > self.lines:
            self.d.popitem(last=False)
        return False


class ArtState:
    """Running state of one flash model over one program run; ``penalty`` is the extra cycles
    so far (add them to the zero-wait count)."""

    def __init__(self, model: FlashModel = F446RE_180MHZ):
        self.m = model
        self.icache, self.dcache = _Lru(model.icache_lines), _Lru(model.dcache_lines)
        self.penalty = 0
        self.i_miss = self.i_hit = self.d_miss = self.d_hit = 0
        self._next_line: int | None = None  # line the prefetcher is reading
        self._next_ready = 0  # time (zero-wait cycles + penalty) at which it is in the buffer

    def in_flash(self, addr: int) -> bool:
        return self.m.base <= addr < self.m.base + self.m.size

    def fetch(self, addr: int, size: int, cycles: int, now: int) -> int:
        """Instruction fetch of one basic block at ``addr`` (``size`` bytes) that takes ``cycles``
        zero-wait cycles, starting at zero-wait time ``now``; returns the extra cycles."""
        if not self.in_flash(addr) or size <= 0:
            return 0
        ws, extra = self.m.wait_states, 0
        first, last = addr // LINE, (addr + size - 1) // LINE
        per_line = cycles / (last - first + 1)
        t = now + self.penalty
        for k, line in enumerate(range(first, last + 1)):
            t_here = t + int(k * per_line) + extra
            if self.icache.hit(line):
                self.i_hit += 1
            else:
                self.i_miss += 1
                if self.m.prefetch and line == self._next_line:
                    extra += max(0, self._next_ready - t_here)
                else:
                    extra += ws
            if self.m.prefetch:
                # the next sequential line is read while this one executes (if not cached already)
                self._next_line = line + 1
                self._next_ready = t + int(k * per_line) + extra + ws
        self.penalty += extra
        return extra

    def read(self, addr: int) -> int:
        """A data read at ``addr``; returns the extra cycles (0 outside flash or on a D-cache hit)."""
        if not self.in_flash(addr):
            return 0
        if self.dcache.hit(addr // LINE):
            self.d_hit += 1
            return 0
        self.d_miss += 1
        self.penalty += self.m.wait_states
        return self.m.wait_states

    def stats(self) -> dict:
        return {"flash_model": self.m.name, "icache_hits": self.i_hit, "icache_misses": self.i_miss,
                "dcache_hits": self.d_hit, "dcache_misses": self.d_miss, "flash_penalty_cycles": self.penalty}
