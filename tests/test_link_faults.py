"""The link's fault paths on the emulated board, without a real board.

* A fault-injecting proxy (mcudeploy/link/faultproxy.py) between the host and QEMU's UART socket
  drops, flips and duplicates bytes, delays chunks and disconnects: validation must still end with
  every sample bit-exact, counted once.
* The emulator killed mid-run: validation stops with a message saying how to resume, and
  ``resume=True`` gives the same report as an uninterrupted run. Killed and restarted within the
  reconnect window: the run carries on by itself.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path

import pytest
from mcudeploy.boards import load_board
from mcudeploy.build import build
from mcudeploy.link.faultproxy import FaultProxy
from mcudeploy.target import QemuTarget
from mcudeploy.validate import ValidationInterrupted, validate

pytestmark = [pytest.mark.emulated,
              pytest.mark.skipif(not (shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc")),
                                 reason="qemu-system-arm / arm-none-eabi-gcc not installed")]
BOARD = "nucleo-f446re"
RUN_STATS = {"throughput", "link", "results_file", "resumed_samples"}  # timing and transport counts


def _same(a: dict, b: dict) -> dict:
    return {k: v for k, v in a.items() if k not in RUN_STATS} == {k: v for k, v in b.items() if k not in RUN_STATS}


def _indices(results: Path) -> list[int]:
    return [json.loads(line)["i"] for line in results.read_text().splitlines()[1:]]


@pytest.fixture
def qemu(request):
    """A QEMU target for a project's emulated build, started; stopped after the test."""
    targets = []

    def start(project) -> QemuTarget:
        b = load_board(BOARD)
        t = QemuTarget(b)
        t.start(build(project, b, emulate=True).elf)
        targets.append(t)
        return t

    yield start
    for t in targets:
        t.stop()


@pytest.mark.slow
def test_300_samples_through_a_faulty_link_are_all_bit_exact_and_counted_once(digits_project, qemu, tmp_path):
    t = qemu(digits_project)
    results = tmp_path / "r.jsonl"
    with FaultProxy(("127.0.0.1", t.port), seed=4, drop=0.0055, flip=0.0055, dup=0.002, delay=0.01,
                    max_delay=0.02, disconnect_after=[30_000, 60_000]) as proxy:
        rep = validate(digits_project, BOARD, True, "digits", limit=300, port=proxy.url, results=results)
        stats = proxy.stats
        damaged = {d: proxy.fraction_damaged(d) for d in ("to_device", "to_host")}
    print(json.dumps({"proxy": stats, "damaged": damaged, "link": rep["link"], "throughput": rep["throughput"]}))
    assert rep["samples"] == 300 and rep["bit_exact"] == 300
    assert sorted(_indices(results)) == list(range(300))  # none lost, none twice
    assert all(f >= 0.01 for f in damaged.values())  # >= 1% of bytes dropped or corrupted, each way
    assert stats["disconnects"] == 2 and rep["link"]["reconnects"] >= 2
    assert rep["link"]["retries"] > 100 and rep["link"]["bad_frames"] > 0
    assert rep["accuracy_device"] > 0.9


def test_lenet_inputs_are_chunked_through_a_faulty_link(lenet_project, qemu, tmp_path):
    """784-byte inputs: a whole-frame chunk almost never survives 1% damage, smaller ones do."""
    t = qemu(lenet_project.outdir)
    with FaultProxy(("127.0.0.1", t.port), seed=7, drop=0.0055, flip=0.0055, dup=0.002) as proxy:
        rep = validate(lenet_project.outdir, BOARD, True, "mnist", limit=6, port=proxy.url,
                       results=tmp_path / "r.jsonl")
    assert rep["bit_exact"] == 6 and rep["link"]["retries"] > 0
    assert rep["throughput"]["bytes_to_device"] > 6 * 784


def test_3_percent_damaged_bytes_both_ways_every_sample_once_and_bit_exact(digits_project, qemu, tmp_path):
    """Each byte, each way: dropped with probability 1.5 %, one bit flipped with 1.5 %. No --resume."""
    t = qemu(digits_project)
    results = tmp_path / "r.jsonl"
    with FaultProxy(("127.0.0.1", t.port), seed=11, drop=0.015, flip=0.015) as proxy:
        rep = validate(digits_project, BOARD, True, "digits", limit=40, port=proxy.url, results=results)
        damaged = {d: proxy.fraction_damaged(d) for d in ("to_device", "to_host")}
    assert rep["samples"] == 40 and rep["bit_exact"] == 40
    assert sorted(_indices(results)) == list(range(40))  # none lost, none twice
    assert all(f >= 0.025 for f in damaged.values()), damaged
    assert rep["link"]["retries"] > 0


def test_killed_emulator_then_resume_gives_the_uninterrupted_report(lenet_project, qemu, tmp_path):
    prj, n = lenet_project.outdir, 24
    full = validate(prj, BOARD, True, "mnist", limit=n, results=tmp_path / "full.jsonl")

    t = qemu(prj)
    results = tmp_path / "cut.jsonl"

    def kill_after_9(k, _n):
        if k == 9:
            t.kill()

    with pytest.raises(ValidationInterrupted) as e:
        validate(prj, BOARD, True, "mnist", limit=n, port=t.uart_url, results=results, progress=kill_after_9,
                 reconnect_timeout=1.0)
    msg = str(e.value)
    assert "stopped after 9 of 24 samples" in msg and "--resume" in msg and str(results) in msg
    assert _indices(results) == list(range(9))

    t.reset()  # the emulator is back (a fresh machine on the same port)
    resumed = validate(prj, BOARD, True, "mnist", limit=n, port=t.uart_url, results=results, resume=True)
    assert resumed["resumed_samples"] == 9
    assert sorted(_indices(results)) == list(range(n))
    assert _same(resumed, full)


def test_emulator_restarted_mid_run_is_reconnected_and_the_run_completes(lenet_project, qemu, tmp_path):
    prj, n = lenet_project.outdir, 16
    full = validate(prj, BOARD, True, "mnist", limit=n, results=tmp_path / "full.jsonl")
    t = qemu(prj)
    restarted = threading.Event()

    def restart_after_5(k, _n):
        if k == 5:
            t.kill()

            def back():
                time.sleep(0.5)
                t.reset()
                restarted.set()

            threading.Thread(target=back, daemon=True).start()

    results = tmp_path / "r.jsonl"
    rep = validate(prj, BOARD, True, "mnist", limit=n, port=t.uart_url, results=results,
                   progress=restart_after_5, reconnect_timeout=15.0)
    assert restarted.is_set() and rep["link"]["reconnects"] >= 1
    assert sorted(_indices(results)) == list(range(n))
    assert _same(rep, full)
