"""Estimated Cortex-M4 cycles of a bare-metal ELF: a per-instruction timing table applied to an
instruction-exact run in Unicorn (the idea of ../shared/tools/m4cycles.py, which gives the
reference CMSIS-NN figures; this module applies the same table so the numbers compare).

Why: QEMU counts instructions, not cycles; it cannot tell a 1-cycle SMLAD from a 2-cycle load.
The table (Cortex-M4 TRM, zero-wait memory; ``flash=`` adds wait states and the ART, see memmodel):
data processing, MUL/MLA, DSP MACs 1; SDIV/UDIV 7; single LDR/STR 2, or 1 directly after
another single load/store (pipelined) unless its address uses the register the load before it loaded;
LDRD/STRD 3 (1+N; "cannot be pipelined with preceding or following instructions");
LDM/STM/PUSH/POP 1+N (+2 when loading PC), with no pipelining into the next load/store; a load or
store whose address register the instruction just before computed stalls 1 (the TRM's "no forwarding
path" for address generation); a taken branch +2 (pipeline refill); BL 3; VLDR/VSTR 2;
VLDM/VSTM/VPUSH/VPOP 1+N; VMLA/VMLS/VFMA 3; VDIV/VSQRT 14.
Every figure it produces is labelled ``estimated_cycles`` (zero-wait) or ``estimated_cycles_flash``
(with :data:`mcudeploy.memmodel.F446RE_180MHZ` or another flash model).

Usage::

    run = estimate(elf)            # runs to the harness's semihosting BKPT
    run.marks                       # [(mark value, cycles so far, instructions so far)]
    run.output                      # text the firmware wrote to USART1 DR

The harness (firmware_template/bench/) marks layer boundaries by writing the layer index to
0x40011008 and prints its output on USART1 DR (0x40011004).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .memmodel import ArtState, FlashModel

UART_DR, UART_MARK = 0x40011004, 0x40011008

_LOADSTORE = ("ldr", "str")
_MULTI = ("ldm", "stm", "push", "pop")


@dataclass
class Run:
    cycles: int = 0
    instructions: int = 0
    marks: list[tuple[int, int, int]] = field(default_factory=list)
    output: str = ""
    stopped: str = ""
    by_function: dict[str, int] = field(default_factory=dict)  # estimated cycles per symbol
    # with a flash model (``estimate(..., flash=...)``): the same run with wait states and the ART
    cycles_flash: int | None = None
    marks_flash: list[int] = field(default_factory=list)  # estimated_cycles_flash at each mark
    flash_stats: dict = field(default_factory=dict)


def _writes_pc(arm, m: str, regs) -> bool:
    """True when the instruction writes the PC: POP/LDM with PC in the list, or PC as destination."""
    if m.startswith(("pop", "ldm")):
        return any(op.reg == arm.ARM_REG_PC for op in regs)
    return bool(regs) and regs[0].reg == arm.ARM_REG_PC and not m.startswith(("str", "push", "cmp", "tst"))


def _cost_table(md, cs, code: bytes, addr: int, m4cycles_compat: bool = False) -> tuple[int, int, bool]:
    """(cycles, instructions, ends with a branch) of one basic block, before refill penalties.

    The pipeline refill P of a taken branch (including BL, BX, POP {..PC}, LDR PC) is added by the
    caller when the next block is not the fall-through one, so it is counted once. With
    ``m4cycles_compat`` the costs are those of ../shared/tools/m4cycles.py, which adds P a second
    time for BL and for POP/LDM/LDR writing the PC (for comparisons with figures it produced)."""
    total, count, after_mem, last, last_writes_pc = 0, 0, False, None, False
    loaded: set[int] = set()      # registers the single LDR just before loaded
    computed: set[int] = set()    # registers the data-processing instruction just before wrote
    arm = cs.arm
    for ins in md.disasm(code, addr):
        m = ins.mnemonic.split(".")[0]
        regs = [op for op in ins.operands if op.type == arm.ARM_OP_REG]
        writes_pc = _writes_pc(arm, m, regs)
        mem, pipelines = False, False
        address = {r for op in ins.operands if op.type == arm.ARM_OP_MEM
                   for r in (op.mem.base, op.mem.index) if r}
        if m.startswith(_MULTI) and not m.startswith("str"):
            n = len(regs) - (0 if m in ("push", "pop") else 1)
            c = 1 + max(n, 1) + (2 if writes_pc and m4cycles_compat else 0)
            mem, pipelines = True, m4cycles_compat
            address = {arm.ARM_REG_SP} if m in ("push", "pop") else {regs[0].reg} if regs else set()
        elif m.startswith(("vldm", "vstm", "vpush", "vpop")):
            c, mem, pipelines = 1 + len(regs), True, m4cycles_compat
        elif m in ("vldr", "vstr"):
            c, mem, pipelines = 2, True, True
        elif m.startswith(("ldrd", "strd")) and not m4cycles_compat:
            c, mem = 3, True  # the two words pipeline together, nothing pipelines with them
        elif m.startswith(_LOADSTORE):
            c, mem, pipelines = (1 if after_mem and not (address & loaded) else 2), True, True
            if writes_pc and m.startswith("ldr") and m4cycles_compat:
                c += 2
        elif m in ("sdiv", "udiv"):
            c = 7
        elif m in ("bl", "blx"):
            c = 3 if m4cycles_compat else 1  # 1 + P, P added at the taken transfer
        elif m in ("vmla", "vmls", "vfma", "vfms", "vnmla", "vnmls"):
            c = 3
        elif m in ("vdiv", "vsqrt"):
            c = 14
        else:
            c = 1
        if mem and not m4cycles_compat and address & computed:
            c += 1  # the address register was computed by the instruction just before: no forwarding
        if m4cycles_compat:
            after_mem = mem
        else:
            after_mem = pipelines
            loaded = {r for r in ins.regs_access()[1] if r not in address} if mem and m.startswith("ldr") else set()
            branch_ins = m.startswith(("b", "cb", "tb")) and not m.startswith(("bic", "bfi", "bfc"))
            computed = set() if mem or branch_ins else set(ins.regs_access()[1])
        total += c
        count += 1
        last, last_writes_pc = ins, writes_pc
    branch = False
    if last is not None:
        lm = last.mnemonic
        branch = (lm.startswith(("b", "cb", "tb")) and not lm.startswith(("bic", "bfi", "bfc"))) or (
            last_writes_pc if not m4cycles_compat else any(
                op.type == arm.ARM_OP_REG and op.reg == arm.ARM_REG_PC for op in last.operands[:1]))
    return total, count, branch


def estimate(elf_path: Path, max_instructions: int = 2_000_000_000, ram_kb: int = 256,
             per_function: bool = False, flash: FlashModel | None = None,
             m4cycles_compat: bool = False) -> Run:
    """Run the ELF to its BKPT; with ``flash`` also count the wait states that model adds
    (``Run.cycles_flash``), the zero-wait count ``Run.cycles`` is unchanged by it."""
    import capstone as cs
    from elftools.elf.elffile import ELFFile
    from unicorn import (
        UC_ARCH_ARM,
        UC_HOOK_BLOCK,
        UC_HOOK_INTR,
        UC_HOOK_MEM_READ,
        UC_HOOK_MEM_WRITE,
        UC_MODE_MCLASS,
        UC_MODE_THUMB,
        Uc,
        UcError,
    )
    from unicorn import arm_const as A

    uc = Uc(UC_ARCH_ARM, UC_MODE_THUMB | UC_MODE_MCLASS)
    uc.ctl_set_cpu_model(A.UC_CPU_ARM_CORTEX_M4)
    md = cs.Cs(cs.CS_ARCH_ARM, cs.CS_MODE_THUMB | cs.CS_MODE_MCLASS)
    md.detail = True
    for base, size in ((0x08000000, 2 << 20), (0x20000000, ram_kb << 10), (0x40000000, 1 << 20),
                       (0xE0000000, 1 << 20)):
        uc.mem_map(base, size)
    with open(elf_path, "rb") as f:
        elf = ELFFile(f)
        for seg in elf.iter_segments():
            if seg["p_type"] == "PT_LOAD" and seg["p_filesz"]:
                uc.mem_write(seg["p_paddr"], seg.data())
        vec = elf.get_section_by_name(".isr_vector").data()
        funcs = sorted((sym["st_value"] & ~1, sym["st_size"], sym.name)
                       for sym in elf.get_section_by_name(".symtab").iter_symbols()
                       if sym["st_info"]["type"] == "STT_FUNC" and sym["st_size"]) if per_function else []
    sp, pc = int.from_bytes(vec[0:4], "little"), int.from_bytes(vec[4:8], "little")
    uc.mem_write(0x40011000, (0xC0).to_bytes(4, "little"))  # USART SR: TXE | TC

    run = Run()
    blocks: dict[int, tuple[int, int, bool]] = {}
    st = {"prev_end": None, "prev_branch": False}
    out: list[str] = []
    owner: dict[int, str] = {}
    art = ArtState(flash) if flash is not None else None

    def on_block(u, addr, size, _):
        b = blocks.get(addr)
        if b is None:
            b = blocks[addr] = _cost_table(md, cs, bytes(u.mem_read(addr, size)), addr, m4cycles_compat)
        if st["prev_branch"] and addr != st["prev_end"]:
            run.cycles += 2  # taken branch: pipeline refill
        if art is not None:
            art.fetch(addr, size, b[0], run.cycles)
        run.cycles += b[0]
        run.instructions += b[1]
        if funcs:
            name = owner.get(addr)
            if name is None:
                name = owner[addr] = next((f[2] for f in funcs if f[0] <= addr < f[0] + f[1]), "?")
            run.by_function[name] = run.by_function.get(name, 0) + b[0]
        st["prev_end"], st["prev_branch"] = addr + size, b[2]
        if run.instructions > max_instructions:
            u.emu_stop()

    def on_write(u, access, addr, size, value, _):
        if addr == UART_DR:
            out.append(chr(value & 0xFF))
        elif addr == UART_MARK:
            run.marks.append((int(value), run.cycles, run.instructions))
            if art is not None:
                run.marks_flash.append(run.cycles + art.penalty)

    def on_read(u, access, addr, size, value, _):
        art.read(addr)

    def on_intr(u, intno, _):
        u.emu_stop()

    uc.reg_write(A.UC_ARM_REG_SP, sp)
    uc.hook_add(UC_HOOK_BLOCK, on_block)
    uc.hook_add(UC_HOOK_MEM_WRITE, on_write, begin=UART_DR, end=UART_MARK + 3)
    uc.hook_add(UC_HOOK_INTR, on_intr)
    if art is not None:
        uc.hook_add(UC_HOOK_MEM_READ, on_read, begin=flash.base, end=flash.base + flash.size - 1)
    try:
        uc.emu_start(pc | 1, 0xFFFFFFFF)
    except UcError as exc:  # a fault ends the run; report where
        run.stopped = f"{exc} at pc={uc.reg_read(A.UC_ARM_REG_PC):#x}"
    run.output = "".join(out)
    if art is not None:
        run.cycles_flash = run.cycles + art.penalty
        run.flash_stats = art.stats()
    return run
