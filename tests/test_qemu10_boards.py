"""The QEMU 10 boards (b-l475e-iot01a M4 with an RCC model, mps2-an500 M7, mps2-an505 M33,
microbit M0): the tiny fc fixture runs bit-exact through the framed protocol on each, the counter
counts single instructions, and the L4 port's planted clock mistakes show (or not) as documented
in firmware_template/board/stm32l4/port.c.

Skipped, saying why, where no qemu-system-arm >= 10 is found (target/qemu_find.py); under
MCUDEPLOY_REQUIRE_ALL=1 (CI) such a skip fails, as conftest.py does for every missing tool.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import need_toolchain
from mcudeploy import build as build_mod
from mcudeploy.boards import load_board
from mcudeploy.device import open_device
from mcudeploy.errors import LinkError, TargetError
from mcudeploy.link.protocol import Link
from mcudeploy.target.qemu import QemuTarget
from mcudeploy.target.qemu_find import qemu_available

FIXTURES = Path(__file__).parent / "fixtures"
sys.path.insert(0, str(FIXTURES))
import fc_model

NEW_BOARDS = ("b-l475e-iot01a", "mps2-an500", "mps2-an505", "microbit")


def need_emulator(board: str):
    need_toolchain()
    why = qemu_available(load_board(board))
    if why:
        pytest.skip(why)


def _copy(tmp_path_factory, name: str) -> Path:
    dst = tmp_path_factory.mktemp(name) / "fc"
    shutil.copytree(FIXTURES / "fc_project", dst)
    return dst


@pytest.fixture(scope="module")
def fc_project(tmp_path_factory):
    return _copy(tmp_path_factory, "q10")


def _xs(n: int = 3):
    rng = np.random.default_rng(14)
    return [rng.integers(-128, 128, 16, dtype=np.int8) for _ in range(n)]


@pytest.mark.emulated
@pytest.mark.parametrize("board", NEW_BOARDS)
def test_new_board_runs_bit_exact_and_counts_instructions(fc_project, board):
    need_emulator(board)
    with open_device(fc_project, board, emulate=True) as dev:
        info = dev.info()
        assert (info.board, info.counter, info.emulated) == (board, "emulated_instructions", True)
        for x in _xs():
            r = dev.infer(x.tobytes())
            assert r.output == fc_model.run(x).tobytes()
            assert 0 < sum(r.layer_counts) <= r.total_count
        base = dev.calibrate(1)  # 2 instructions per iteration: the SysTick scale is the machine's
        assert [dev.calibrate(n) - base for n in (2, 1001)] == [2, 2000]


@pytest.mark.emulated
def test_the_l4_runs_the_same_m4_instructions_as_the_f446re(fc_project):
    """Same -mcpu, same engine: the per-inference count on the L4 (SysTick on the HCLK QEMU derives
    from the firmware's PLL set-up) equals the netduinoplus2's (a fixed 168 MHz): a clock tree that
    ran the core at another rate would scale the L4's figure."""
    need_emulator("b-l475e-iot01a")
    need_emulator("nucleo-f446re")
    x = _xs(1)[0].tobytes()
    counts = []
    for board in ("b-l475e-iot01a", "nucleo-f446re"):
        with open_device(fc_project, board, emulate=True) as dev:
            r = dev.infer(x)
            counts.append((r.total_count, r.layer_counts))
    assert counts[0] == counts[1]


def _run_planted(tmp_path_factory, bug: int):
    board = load_board("b-l475e-iot01a")
    r = build_mod.build(_copy(tmp_path_factory, f"bug{bug}"), board, emulate=True, options={"MCD_CLOCK_BUG": bug})
    target = QemuTarget(board)
    target.start(r.elf)
    try:
        with Link.open(target.uart_url, retries=2, infer_timeout=5) as link:
            link.info()
            x = _xs(1)[0]
            assert link.infer(x.tobytes()).output == fc_model.run(x).tobytes()  # the engine is fine
        target.check_clocks()
    finally:
        target.stop()


@pytest.mark.emulated
@pytest.mark.parametrize("bug, caught_by", [
    (1, "0 baud"),             # USART1's clock never enabled: QEMU's USART sees a 0 Hz kernel clock
    (3, "2285714 baud"),       # BRR for 4 MHz while the PLL gives 80 MHz: 20x the rate
    (2, "does not answer"),    # SW = PLL before PLLON: QEMU then refuses PLLON, PLLRDY never comes
])
def test_planted_clock_bugs_are_caught_on_the_l4(tmp_path_factory, bug, caught_by):
    need_emulator("b-l475e-iot01a")
    with pytest.raises((TargetError, LinkError)) as exc:
        _run_planted(tmp_path_factory, bug)
    msg = str(exc.value)
    assert caught_by in msg or (caught_by == "does not answer" and "no reply" in msg)


@pytest.mark.emulated
def test_the_correct_l4_clock_tree_passes_the_check(tmp_path_factory):
    need_emulator("b-l475e-iot01a")
    _run_planted(tmp_path_factory, 0)


@pytest.fixture(scope="module")
def conv_project(tmp_path_factory):
    """A compiled conv + fc net on 8x8 inputs (random weights): profile needs the graph."""
    import torch
    from conftest import compile_module

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                              torch.nn.Linear(4 * 6 * 6, 10)).eval()
    x = np.random.default_rng(0).standard_normal((32, 1, 8, 8)).astype(np.float32)
    return compile_module(net, x, tmp_path_factory.mktemp("q10p") / "conv").outdir


@pytest.mark.emulated
@pytest.mark.parametrize("board", NEW_BOARDS)
def test_profile_on_each_new_board(conv_project, board):
    """The profile loop (two inferences checked against the reference, per-layer counts, flash and
    RAM against the board's limits) on every QEMU 10 board, as `mcudeploy profile --emulate` runs it."""
    from mcudeploy.profile import profile

    need_emulator(board)
    rep = profile(conv_project, board, True, None, None, False)
    b = load_board(board)
    assert rep["counter"] == "emulated_instructions" and rep["deterministic"]
    assert [row["name"] for row in rep["layers"]] and all(row["count"] > 0 for row in rep["layers"])
    assert sum(row["count"] for row in rep["layers"]) <= rep["total_count"]
    assert 0 < rep["flash_bytes"] <= rep["board_flash_bytes"] == b.flash.size
    assert 0 < rep["ram_bytes"] <= rep["board_ram_bytes"]
