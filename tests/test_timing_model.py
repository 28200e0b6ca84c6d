"""The Cortex-M4 timing model (mcudeploy.cycles) and the F446RE flash model (mcudeploy.memmodel),
checked on hand-counted instruction sequences.

Expected cycles are counted by hand from the Cortex-M4 TRM (r0p1, table 3-1 "Cortex-M4 instruction
set summary"), with the pipeline refill P = 2 the model assumes: data processing, MUL, SMLAD, SMULL 1;
LDR/STR 2, N+1 for N neighbouring loads/stores (address and data phases pipeline) unless an address
uses the register the load before loaded; LDRD/STRD 3 and LDM/STM/PUSH/POP 1+N, neither pipelined
with a neighbour; +1 for a load/store whose address the instruction just before computed (TRM 3.3.2,
"Load/store timings"); B/BL/BX taken 1+P; a conditional branch not taken 1; POP {..., PC} 1+N+P. The
M4 forwards a loaded value to the next instruction, so a load-use pair costs no extra cycle. Flash figures are
counted from RM0390's ART description with 5 wait states (see memmodel's docstring).

Each program is a vector table, a prologue that sets registers, the sequence under test and a
semihosting BKPT; the cycles of the sequence are the run's count minus the count of the same
program without it (both padded with a NOP on each side so no pipelining crosses the boundary).
"""

import shutil
import subprocess

import pytest
from mcudeploy.cycles import estimate
from mcudeploy.memmodel import F446RE_180MHZ, ArtState, FlashModel

pytest.importorskip("unicorn")
pytest.importorskip("capstone")

GCC = shutil.which("arm-none-eabi-gcc")
pytestmark = pytest.mark.skipif(GCC is None, reason="arm-none-eabi-gcc not installed")

PROLOGUE = """
    movw r2, #0x0000
    movt r2, #0x2000      @ r2 -> SRAM
    movs r0, #0
    movs r1, #3
    movs r3, #5
    movw r6, #0x0000
    movt r6, #0x0800      @ r6 -> flash (the vector table)
"""


def _run(tmp_path, body: str, name: str, flash: FlashModel | None = None, tail: str = ""):
    src = tmp_path / f"{name}.S"
    src.write_text(f"""
    .syntax unified
    .cpu cortex-m4
    .thumb
    .section .isr_vector,"a"
    .word 0x20008000
    .word _start + 1
    .text
    .balign 16
    .thumb_func
    .global _start
_start:
{PROLOGUE}
    .balign 16
    nop
{body}
    nop
    bkpt 0xab
{tail}
""")
    elf, ld = tmp_path / f"{name}.elf", tmp_path / "t.ld"
    ld.write_text("SECTIONS { . = 0x08000000; .isr_vector : { KEEP(*(.isr_vector)) } . = ALIGN(16);"
                  " .text : { *(.text*) } }")
    subprocess.run([GCC, "-mcpu=cortex-m4", "-mthumb", "-nostdlib", "-nostartfiles", "-T", str(ld),
                    "-o", str(elf), str(src)], check=True, capture_output=True, text=True)
    return estimate(elf, flash=flash)


def cycles_of(tmp_path, body: str, tail: str = "", flash: FlashModel | None = None) -> int:
    base = _run(tmp_path, "", "base", flash)
    run = _run(tmp_path, body, "body", flash, tail)
    assert not run.stopped and not base.stopped, (run.stopped, base.stopped)
    if flash is not None:
        return run.cycles_flash - base.cycles_flash
    return run.cycles - base.cycles


@pytest.mark.parametrize("body, expected", [
    ("adds r0, #1\n adds r0, #1\n adds r0, #1\n adds r0, #1", 4),     # 4 x data processing
    ("ldr r4, [r2]", 2),                                             # one load
    ("ldr r4, [r2]\n ldr r5, [r2, #4]", 3),                          # two neighbouring loads pipeline
    ("ldr r4, [r2]\n adds r5, r4, #1", 3),                           # load-use: forwarded, no stall
    ("str r1, [r2]", 2),
    ("str r1, [r2]\n str r1, [r2, #4]\n str r1, [r2, #8]", 4),       # N + 1
    ("ldr r4, [r2]\n adds r0, #1\n ldr r5, [r2]", 5),                # not neighbours: 2 + 1 + 2
    ("mul r4, r1, r3", 1),
    ("mla r4, r1, r3, r4", 1),
    ("smlad r4, r1, r3, r4", 1),
    ("smull r4, r5, r1, r3", 1),
    ("smlal r4, r5, r1, r3", 1),
    ("push {r4-r7}\n pop {r4-r7}", 10),                              # 1 + 4 each
    ("ldm r2, {r4, r5, r7}", 4),
    ("b 1f\n nop\n 1:", 3),                                          # taken: 1 + P, the NOP skipped
    ("cmp r0, #1\n beq 1f\n nop\n 1:", 3),                           # not taken: 1 + 1, NOP runs
    ("cmp r0, #0\n beq 1f\n nop\n 1:", 4),                           # taken: 1 + (1 + P)
    # TRM 3.3.2 "Load/store timings":
    ("ldrd r4, r5, [r2]", 3),                                        # 1 + N, the two words pipelined
    ("ldr r4, [r2]\n ldrd r4, r5, [r2, #8]\n ldr r6, [r2]", 7),     # LDRD pipelines with neither: 2+3+2
    ("strd r4, r5, [r2]\n str r1, [r2, #8]", 5),                     # 3 + 2
    ("ldm r2, {r4, r5}\n ldr r6, [r2]", 5),                          # nothing pipelines after LDM: 3+2
    ("ldr r4, [r2], #4\n ldr r5, [r2], #4", 3),                      # post-increment loads pipeline
    ("ldr r7, [r6]\n ldr r4, [r7]", 4),                              # address from the load before: 2+2
    ("adds r7, r2, #4\n ldr r4, [r7]", 4),                           # address just computed: 1 + 2 + 1
    ("adds r7, r2, #4\n nop\n ldr r4, [r7]", 4),                     # one instruction apart: 1 + 1 + 2
    ("adds r7, r2, #4\n str r1, [r7]", 4),                           # stores too
])
def test_hand_counted_sequences(tmp_path, body, expected):
    assert cycles_of(tmp_path, body) == expected


def test_call_and_return(tmp_path):
    # BL 1+P, then the callee's BX LR 1+P: 6 cycles, no refill counted twice
    assert cycles_of(tmp_path, "bl callee", tail=".thumb_func\ncallee:\n bx lr") == 6


def test_call_and_pop_pc(tmp_path):
    # BL 1+P; PUSH {r4, lr} 1+2; POP {r4, pc} 1+2+P
    assert cycles_of(tmp_path, "bl callee", tail=".thumb_func\ncallee:\n push {r4, lr}\n pop {r4, pc}") == 3 + 3 + 5


def test_loop_counts_each_iteration(tmp_path):
    # movs 1; 4 x (subs 1 + bne taken 1+P) - last bne not taken: 1 + 4*1 + 3*3 + 1
    body = "movs r4, #4\n 1:\n subs r4, #1\n bne 1b"
    assert cycles_of(tmp_path, body) == 1 + 4 + 3 * 3 + 1


def test_m4cycles_compat_counts_the_call_refill_twice(tmp_path):
    # ../shared/tools/m4cycles.py (which produced the CMSIS-NN reference figures) charges BL 3 and
    # then the refill again: 5 + BX LR 3 = 8 where the TRM gives 6
    tail = ".thumb_func\ncallee:\n bx lr"
    base, run = _run(tmp_path, "", "base"), _run(tmp_path, "bl callee", "body", tail=tail)
    assert run.cycles - base.cycles == 6
    elf = tmp_path / "body.elf"
    assert estimate(elf, m4cycles_compat=True).cycles - estimate(tmp_path / "base.elf", m4cycles_compat=True).cycles == 8


# --- the flash model on its own: hand-counted from RM0390's ART description, 5 wait states ---

def test_art_data_reads():
    art = ArtState(F446RE_180MHZ)
    assert art.read(0x20000000) == 0  # SRAM: zero wait
    assert art.read(0x08001000) == 5  # first read of a line: 5 wait states
    assert art.read(0x0800100C) == 0  # same 16-byte line: D-cache hit
    assert art.read(0x08001010) == 5  # next line: miss
    # 8 lines fit: read 8 lines twice -> 8 misses then 8 hits
    art = ArtState(F446RE_180MHZ)
    assert sum(art.read(0x08002000 + 16 * (i % 8)) for i in range(16)) == 8 * 5
    # 9 lines in a cycle thrash an 8-line LRU: every read misses
    art = ArtState(F446RE_180MHZ)
    assert sum(art.read(0x08002000 + 16 * (i % 9)) for i in range(18)) == 18 * 5


def test_art_sequential_fetch_and_prefetch():
    # 8 lines of straight-line code, 8 cycles per line: the first line waits 5, the prefetcher has
    # each next line ready after 5 of the 8 cycles
    art = ArtState(F446RE_180MHZ)
    assert art.fetch(0x08000000, 128, 64, now=0) == 5
    assert art.fetch(0x08000000, 128, 64, now=64) == 0  # again: all in the I-cache
    # no prefetch: every line waits
    assert ArtState(FlashModel(prefetch=False)).fetch(0x08000000, 128, 64, now=0) == 8 * 5
    # 4 cycles per line (32-bit instructions) outrun the prefetcher by 1 cycle a line
    assert ArtState(F446RE_180MHZ).fetch(0x08000000, 128, 32, now=0) == 5 + 7 * 1
    # code in SRAM: no wait
    assert ArtState(F446RE_180MHZ).fetch(0x20000000, 128, 32, now=0) == 0


def test_art_icache_holds_64_lines():
    # a loop over 64 lines hits from its second pass; over 65 lines, without prefetch, it never hits
    m = FlashModel(prefetch=False)
    art = ArtState(m)
    assert art.fetch(0x08000000, 64 * 16, 64 * 8, now=0) == 64 * 5
    assert art.fetch(0x08000000, 64 * 16, 64 * 8, now=512) == 0
    art = ArtState(m)
    art.fetch(0x08000000, 65 * 16, 65 * 8, now=0)
    assert art.fetch(0x08000000, 65 * 16, 65 * 8, now=520) == 65 * 5


# --- the flash model inside a run ---

def test_flash_off_by_default(tmp_path):
    run = _run(tmp_path, "ldr r4, [r6]", "body2")
    assert run.cycles_flash is None and run.marks_flash == []


def _loop_reading_lines(n: int, passes: int = 10) -> str:
    loads = "\n".join(f" ldr r4, [r6, #{16 * i}]" for i in range(n))
    return f"movs r5, #{passes}\n 2:\n{loads}\n subs r5, #1\n bne 2b"


def test_flash_run_counts_dcache_misses_of_a_loop(tmp_path):
    # 10 passes over 8 flash lines: 8 misses; over 9 lines: 90 (the LRU thrashes)
    for n, misses in ((8, 8), (9, 90)):
        run = _run(tmp_path, _loop_reading_lines(n), f"loop{n}", F446RE_180MHZ)
        st = run.flash_stats
        assert st["dcache_misses"] == misses and st["dcache_hits"] == 10 * n - misses
        assert run.cycles_flash - run.cycles == st["flash_penalty_cycles"] >= 5 * misses
