"""The firmware, built with the real toolchain and run on the emulated NUCLEO-F446RE (QEMU).

Tiers: building for every board needs only arm-none-eabi-gcc + CMake; tests marked ``emulated``
also need qemu-system-arm. They skip, saying what to install, only if those tools are absent.
The engine is the hand-written fixture of tests/fixtures/fc_project (a twin in fc_model.py gives
the exact expected bytes); a real compiled LeNet-5 runs in test_compiled_lenet_matches_reference.
"""

from __future__ import annotations

import shutil
import socket
import struct
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import need_toolchain
from mcudeploy import build as build_mod
from mcudeploy.boards import list_boards, load_board
from mcudeploy.device import open_device
from mcudeploy.errors import DoesNotFitError
from mcudeploy.link import framing
from mcudeploy.link.protocol import DeviceError

FIXTURES = Path(__file__).parent / "fixtures"
sys.path.insert(0, str(FIXTURES))
import fc_model

BOARD = "nucleo-f446re"


def need_qemu():
    need_toolchain()
    if shutil.which("qemu-system-arm") is None:
        pytest.skip("qemu-system-arm absent: apt-get install qemu-system-arm")


@pytest.fixture(scope="module")
def fc_project(tmp_path_factory):
    dst = tmp_path_factory.mktemp("fw") / "fc"
    shutil.copytree(FIXTURES / "fc_project", dst)
    return dst


# --- builds --------------------------------------------------------------------------------------
@pytest.mark.parametrize("board", list_boards())
def test_builds_for_every_board(fc_project, board):
    need_toolchain()
    r = build_mod.build(fc_project, board)
    b = load_board(board)
    assert r.elf.is_file() and r.bin.is_file() and r.map.is_file()
    assert 0 < r.flash_bytes < b.flash.size and 0 < r.ram_bytes < b.ram.size
    assert r.ram_bytes >= b.stack_bytes and r.engine["flash"] > 0
    assert r.bin.stat().st_size <= r.flash_bytes  # the image is what goes into flash


def test_emulated_build_links_against_the_f446re_limits(fc_project):
    need_toolchain()
    r = build_mod.build(fc_project, BOARD, emulate=True)
    ld = (r.elf.parent / "linker.ld").read_text()
    assert "LENGTH = 524288" in ld and "LENGTH = 131072" in ld  # not the F405's 1 MB


def test_rebuild_is_incremental(fc_project):
    need_toolchain()
    first = build_mod.build(fc_project, BOARD)
    mtime = first.elf.stat().st_mtime_ns
    again = build_mod.build(fc_project, BOARD)
    assert again.elf.stat().st_mtime_ns == mtime


@pytest.mark.parametrize("region, decl, board", [
    ("RAM", "static volatile int8_t big[200000];", "nucleo-f446re"),
    ("FLASH", "static const int8_t big[140000] = {1};", "nucleo-g071rb"),
])
def test_model_too_big_is_refused_before_running(tmp_path, region, decl, board):
    need_toolchain()
    prj = tmp_path / "big"
    shutil.copytree(FIXTURES / "fc_project", prj)
    model_c = prj / "engine" / "model.c"
    text = model_c.read_text().replace("static int8_t arena", decl + "\nstatic int8_t arena")
    model_c.write_text(text.replace("HOOK(2);", "HOOK(2);\n    output[0] += big[input[1] & 0x7F];"))
    with pytest.raises(DoesNotFitError, match=rf"{region} needs [\d,]+ bytes but {board} has") as e:
        build_mod.build(prj, board)
    limit = getattr(load_board(board), region.lower()).size
    assert f"has {limit:,}" in str(e.value)


# --- on the emulated board ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def dev(fc_project):
    need_qemu()
    with open_device(fc_project, BOARD, emulate=True) as d:
        yield d


@pytest.mark.emulated
def test_info_describes_the_firmware(dev):
    i = dev.info()
    assert (i.board, i.counter, i.emulated, i.protocol_version) == (BOARD, "emulated_instructions", True, 2)
    assert (i.model_hash, i.input_bytes, i.output_bytes, i.num_layers) == (0x5EED0F01, 16, 4, 2)
    assert (i.input_shape, i.input_zero_point, i.output_zero_point) == ((1, 1, 16), -3, 5)
    assert i.input_scale == pytest.approx(0.05) and i.output_scale == 0.125
    assert i.arena_bytes == 8 and i.max_payload == framing.MAX_PAYLOAD
    assert 0 < i.stack_high_water < 4096 < i.stack_bytes
    assert dev.layer_names() == ["fc1_relu", "fc2"]


@pytest.mark.emulated
def test_outputs_are_bit_exact_and_counts_deterministic(dev):
    rng = np.random.default_rng(0)
    xs = [rng.integers(-128, 128, 16, dtype=np.int8) for _ in range(20)]
    runs = [dev.infer(x.tobytes()) for x in xs]
    for x, r in zip(xs, runs):
        assert r.output == fc_model.run(x).tobytes()
        assert r.counter == "emulated_instructions"
        assert len(r.layer_counts) == 2 and 0 < sum(r.layer_counts) <= r.total_count
    again = [dev.infer(x.tobytes()) for x in xs]  # same inputs, same instruction counts
    assert [(r.total_count, r.layer_counts) for r in runs] == [(r.total_count, r.layer_counts) for r in again]


@pytest.mark.emulated
def test_counter_counts_single_instructions(dev):
    """The calibration loop is exactly 2 instructions per iteration: the count must say so,
    including across SysTick wraps (2^24 ticks, ~3.1 M instructions at icount shift 5)."""
    base = dev.calibrate(1)
    for n in (2, 3, 1000, 1001):
        assert dev.calibrate(n) - base == 2 * (n - 1)
    big = dev.calibrate(4_000_000)  # one wrap: its exception entry and handler add a few
    assert 0 <= big - base - 2 * (4_000_000 - 1) < 20
    assert dev.calibrate(4_000_000) == big


@pytest.mark.emulated
def test_bad_requests_get_error_frames_and_no_out_of_bounds_write(dev):
    x = np.arange(-8, 8, dtype=np.int8)
    good = dev.infer(x.tobytes())
    link = dev.link
    for off, n in [(16, 1), (15, 2), (0xFFFFFFFF, 2), (1 << 31, 4)]:
        with pytest.raises(DeviceError, match="bad arguments"):
            link.request(0x02, struct.pack("<I", off) + b"\x55" * n)
    with pytest.raises(DeviceError, match="bad arguments"):
        link.request(0x02, b"\x00\x00")
    with pytest.raises(DeviceError, match="unknown command"):
        link.request(0x55)
    with pytest.raises(DeviceError, match="bad arguments"):
        link.request(0x04, struct.pack("<IH", 3, 2))  # output is 4 bytes
    with pytest.raises(DeviceError, match="bad arguments"):
        link.request(0x05, struct.pack("<H", 2))      # 2 layers
    after = link.infer(None)  # the input buffer still holds x: nothing was written out of bounds
    assert after.output == good.output and after.total_count == good.total_count


@pytest.mark.emulated
def test_garbage_on_the_wire_gets_error_frames_never_a_hang(dev):
    link = dev.link
    port = link.port
    bad_crc = bytearray(framing.encode(framing.Frame(42, 0x01, b"")))
    bad_crc[-3] ^= 0xFF
    port.write(bytes(bad_crc))
    port.write(b"\x07" * (framing.MAX_ENCODED + 100) + b"\x00")  # longer than any frame
    port.write(b"\x05\x01\x00")                                  # bad COBS
    body = bytes([7, 43, 1])                                     # wrong protocol version
    port.write(framing.cobs_encode(body + struct.pack("<I", __import__("zlib").crc32(body))) + b"\x00")
    codes, deadline = [], time.monotonic() + 5
    while len(codes) < 4 and time.monotonic() < deadline:
        f = link._read_frame(deadline)
        if f is not None and f.type == 0x7F:
            codes.append(f.payload[0])
    assert codes == [1, 2, 3, 4]  # CRC, length, COBS, version
    x = np.arange(16, dtype=np.int8)
    assert dev.infer(x.tobytes()).output == fc_model.run(x).tobytes()


@pytest.mark.emulated
def test_link_resumes_after_the_host_drops_half_a_frame(dev):
    link = dev.link
    link.port.write(framing.encode(framing.Frame(1, 0x02, bytes(100)))[:40])  # no delimiter
    x = np.full(16, 3, dtype=np.int8)
    r = dev.infer(x.tobytes())  # the first request is glued to the half frame; the retry works
    assert r.output == fc_model.run(x).tobytes()


@pytest.mark.emulated
def test_reset_restarts_the_firmware(dev):
    x = np.arange(16, dtype=np.int8)
    count = dev.infer(x.tobytes()).total_count
    before = dev.info(refresh=True).stack_high_water
    dev.reset()
    assert dev.info().stack_high_water <= before
    r = dev.infer(x.tobytes())
    assert r.output == fc_model.run(x).tobytes()
    assert r.total_count == count  # a fresh QEMU counts the same instructions


@pytest.mark.emulated
def test_qemu_is_stopped_on_exit(fc_project):
    need_qemu()
    with open_device(fc_project, BOARD, emulate=True) as d:
        port = d.target.port
        proc = d.target.proc
    assert proc.poll() is not None
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=0.5)


# --- a real board (only with --board-hw) -----------------------------------------------------------
@pytest.mark.hardware
def test_fixture_on_hardware(request, fc_project):
    board = request.config.getoption("--board-hw")
    if not board:
        pytest.skip("no physical board given (pytest --board-hw nucleo-f446re)")
    need_toolchain()
    with open_device(fc_project, board, emulate=False) as d:
        info = d.info()
        assert info.board == board and not info.emulated
        assert info.counter == load_board(board).counter
        x = np.arange(-8, 8, dtype=np.int8)
        assert d.infer(x.tobytes()).output == fc_model.run(x).tobytes()
        per_iter = (d.calibrate(100_001) - d.calibrate(1)) / 100_000
        assert 2 <= per_iter <= 6  # subs + taken bne: 1 + 1..4 cycles depending on the core


# --- a real compiled model ------------------------------------------------------------------------
@pytest.mark.emulated
@pytest.mark.slow
def test_compiled_lenet_matches_reference(lenet_project, mnist):
    """`mcudeploy compile`'s LeNet-5 on the emulated F446RE: every output byte equals the numpy
    reference, and the instruction count of an input is the same every time it runs."""
    need_qemu()
    from mcudeploy import reference

    g = lenet_project.graph
    _, _, xte, _ = mnist
    xq = reference.prepare_input(g, xte[:10])
    want = reference.run(g, xq)
    with open_device(lenet_project.outdir, BOARD, emulate=True) as d:
        info = d.info()
        assert (info.input_bytes, info.num_layers) == (xq.shape[1], len(d.layer_names()))
        assert info.model_hash == int(lenet_project.graph.meta["model_hash"][:8], 16)
        first = [d.infer(x.tobytes()) for x in xq]
        for r, w in zip(first, want):
            assert r.output == w.astype(np.int8).tobytes()
            assert len(r.layer_counts) == info.num_layers and sum(r.layer_counts) <= r.total_count
        again = [d.infer(x.tobytes()) for x in xq[:3]]
        assert [(r.total_count, r.layer_counts) for r in again] == \
            [(r.total_count, r.layer_counts) for r in first[:3]]
        assert d.build.flash_bytes < d.build.flash_limit and d.info(refresh=True).stack_high_water > 0
