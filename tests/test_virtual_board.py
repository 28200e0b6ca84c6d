"""The virtual NUCLEO-F446RE (target/virtual/): the silicon image on the Cortex-M4 timing model.

Clock rules are tested on a tiny probe image built from the real F4 port (fixtures/clock_probe.py)
with one bug planted per test; LeNet-5's silicon ELF is validated through the socket as any board."""

from __future__ import annotations

import re
import shutil

import pytest
from clock_probe import PLANTED, build_probe
from mcudeploy.boards import load_board
from mcudeploy.errors import McdError

pytestmark = pytest.mark.skipif(not shutil.which("arm-none-eabi-gcc"), reason="arm-none-eabi-gcc not installed")
pytest.importorskip("unicorn")
BOARD = "nucleo-f446re"

# each planted bug, and the rule (one line, naming the instruction) that must catch it
CAUGHT = {
    "pll-selected-too-early": r"RM0390 RCC_CFGR\.SW at pc=0x080\w{5}: SYSCLK switched to the PLL before RCC_CR\.PLLRDY",
    "flash-latency-too-low": r"RM0390 FLASH_ACR\.LATENCY at pc=0x080\w{5}: 4 wait state\(s\) at HCLK 180 MHz and "
                             r"VDD 3\.3 V .*needs at least 5",
    "over-drive-skipped": r"RM0390 PWR over-drive at pc=0x080\w{5}: HCLK 180 MHz > 168 MHz without over-drive ready",
    "usart-clock-off": r"RM0390 RCC_APB1ENR clock enable at pc=0x080\w{5}: USART2 register \+0x\w+ written while its "
                       r"bus clock is off \(RCC_APB1ENR bit 17 = 0",
    "wrong-divisor": r"RM0390 USART2_BRR baud rate at pc=0x080\w{5}: BRR=0x30d at APB1 45 MHz gives 57618 baud, "
                     r"50\.0 % off the board file's 115200 \(limit 2 %\)",
    "unmapped-peripheral": r"RM0390 memory map at pc=0x080\w{5}: write of 0x40007c00, reserved peripheral space",
    "wrong-alternate-function": r"RM0390 GPIOA_MODER/AFR at pc=0x080\w{5}: USART2 TX pin PA2 is in mode 2 with AF8",
}


def _boot(elf, script: bytes = b"", native: bool = True):
    from mcudeploy.target.virtual.board import VirtualBoard
    from mcudeploy.target.virtual.uart_io import ScriptUart, Stop

    io = ScriptUart(script)
    vb = VirtualBoard(elf, load_board(BOARD), io, native=native)
    with pytest.raises(Stop):  # the firmware booted and waits for the host
        vb.run()
    return vb, bytes(io.tx)


def test_silicon_port_boots_at_180_mhz_with_dwt_counting(tmp_path):
    elf = build_probe(tmp_path / "ok")
    vb, out = _boot(elf, b"hi")
    assert (vb.clock.hclk, vb.clock.pclk1, vb.clock.pclk2) == (180_000_000, 45_000_000, 90_000_000)
    assert vb.clock.flash[0] & 0xF == 5 and vb.clock.read_pwr(0x04) & (3 << 16) == 3 << 16  # 5 WS, ODRDY+ODSWRDY
    assert out[:2] == b"ok" and out[6:] == b"hi"  # bytes out, bytes in (echoed)
    cycles = int.from_bytes(out[2:6], "little")  # 1000 loop iterations timed through counter_dwt.c
    assert 1000 < cycles < 100_000
    _, again = _boot(elf, b"hi")
    assert again == out  # the timing model is deterministic
    slow, by_python = _boot(elf, b"hi", native=False)
    assert by_python == out and (slow.cycles, slow.instructions) == (vb.cycles, vb.instructions)  # C hook == Python


@pytest.mark.parametrize("bug", sorted(PLANTED))
def test_planted_clock_bug_is_caught_with_one_line(tmp_path, bug):
    from mcudeploy.target.virtual import RuleViolation
    from mcudeploy.target.virtual.board import VirtualBoard
    from mcudeploy.target.virtual.uart_io import ScriptUart

    vb = VirtualBoard(build_probe(tmp_path / bug, bug), load_board(BOARD), ScriptUart())
    with pytest.raises(RuleViolation) as exc:
        vb.run()
    msg = str(exc.value)
    assert "\n" not in msg and re.search(CAUGHT[bug], msg), msg
    pc = int(re.search(r"pc=(0x\w+)", msg).group(1), 16)
    assert 0x0800_0000 <= pc < 0x0808_0000  # an instruction of the image


def test_flash_wait_state_table():
    from mcudeploy.target.virtual.rules import min_wait_states

    assert [min_wait_states(f * 1_000_000, 3.3) for f in (16, 30, 31, 90, 150, 151, 180)] == [0, 0, 1, 2, 4, 5, 5]
    assert min_wait_states(180_000_000, 2.5) == 7 and min_wait_states(168_000_000, 1.9) == 8


def test_target_reports_a_boot_time_rule_as_the_error(tmp_path):
    from mcudeploy.target.virtual import RuleViolation, VirtualTarget

    t = VirtualTarget(load_board(BOARD))
    with pytest.raises(RuleViolation, match=r"^virtual nucleo-f446re: RM0390 FLASH_ACR\.LATENCY at pc=0x080"):
        t.start(build_probe(tmp_path / "lat", "flash-latency-too-low"))
    assert t.proc is None  # nothing left running


def test_a_rule_broken_mid_run_is_kept_as_the_reason(tmp_path):
    import socket
    import time

    from mcudeploy.target.virtual import VirtualTarget

    t = VirtualTarget(load_board(BOARD))
    t.start(build_probe(tmp_path / "ok"))
    try:
        assert t.failure() is None
        with socket.create_connection(("127.0.0.1", t.port), timeout=5) as s:
            s.sendall(b"a")
            assert s.recv(16).endswith(b"a")  # echoed through the USART
            s.sendall(b"X")
            deadline = time.monotonic() + 5
            while t.failure() is None and time.monotonic() < deadline:
                time.sleep(0.05)
        assert re.match(r"RM0390 memory map at pc=0x080\w{5}: write of 0x40007c00", t.failure() or "")
    finally:
        t.stop()


def test_only_the_f446re_is_modelled():
    from mcudeploy.target.virtual import VirtualTarget

    with pytest.raises(McdError, match="models the STM32F446RE; nucleo-g071rb is a STM32G071RB"):
        VirtualTarget(load_board("nucleo-g071rb"))


def test_lenet_silicon_elf_bit_exact_and_dwt_agrees_with_bench(lenet_project, tmp_path):
    from mcudeploy.build import build
    from mcudeploy.profile import profile
    from mcudeploy.validate import validate

    if shutil.which("cmake") is None:
        pytest.skip("cmake not installed")
    rep = validate(lenet_project.outdir, BOARD, "virtual", "mnist", limit=4, results=tmp_path / "r.jsonl")
    assert rep["bit_exact"] == rep["samples"] == 4
    assert rep["counter"] == "estimated_dwt_cycles" and rep["emulated"]  # not silicon
    silicon = build(lenet_project.outdir, BOARD, emulate=False)
    assert not silicon.emulated  # the image `flash` programs, not -DMCD_EMULATED
    prof = profile(lenet_project.outdir, BOARD, "virtual", data="mnist")
    assert prof["counter"] == "estimated_dwt_cycles" and prof["deterministic"]
    for layer in prof["layers"]:  # the firmware's DWT path vs bench's harness, same timing model
        assert abs(layer["vs_estimate_pct"]) < 3, layer
    assert abs(prof["total_count"] / prof["estimated_cycles"] - 1) < 0.005


def test_emulate_virtual_on_the_command_line(tmp_path, capsys):
    from mcd_cli import run_cli

    code, _out, err = run_cli(capsys, ["flash", tmp_path, "--emulate", "virtual", "--detach"])
    assert code == 2 and "--detach/--stop keep a QEMU emulator running" in err
    code, _out, err = run_cli(capsys, ["validate", tmp_path, "--emulate", "quantum", "--data", "digits"])
    assert code == 2 and "'quantum' is not one of 'qemu', 'virtual'" in err


def test_flash_model_follows_flash_acr_and_agrees_with_bench(lenet_project, monkeypatch):
    """MCUDEPLOY_VIRTUAL_FLASH=1: the DWT counts include the wait states of the flash as the silicon
    port's FLASH_ACR sets it (5 at 180 MHz, ART caches and prefetch on), so they land on bench's
    estimated_cycles_flash (the same memmodel, at the same 5 wait states), not on the zero-wait figure."""
    from mcudeploy.bench import bench_project
    from mcudeploy.profile import profile
    from mcudeploy.project import Project
    from mcudeploy.target.virtual import FLASH_MODEL_ENV

    if shutil.which("cmake") is None:
        pytest.skip("cmake not installed")
    monkeypatch.setenv(FLASH_MODEL_ENV, "1")
    prof = profile(lenet_project.outdir, BOARD, "virtual", data="mnist", estimate_cycles=False)
    from mcudeploy import datasets

    x, _ = datasets.load_for_project(Project(lenet_project.outdir), "mnist", split="test", limit=1)
    b = bench_project(Project(lenet_project.outdir), x)
    assert prof["deterministic"]
    total = prof["total_count"]
    assert total > 1.05 * b["estimated_cycles"]  # the wait states are charged
    assert abs(total / b["estimated_cycles_flash"] - 1) < 0.03, (total, b["estimated_cycles_flash"])
