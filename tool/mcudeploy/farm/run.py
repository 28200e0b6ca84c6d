"""``mcudeploy validate PROJECT --farm HOST:PORT --boards N``: one validation over many farm places.

Usage::

    rep = validate_farm("out/lenet", "127.0.0.1:20408", "nucleo-f446re", boards=4, data="mnist", limit=1000)
    rep["bit_exact"] == rep["samples"]; rep["farm"]["places"]   # per-place samples, seconds, errors

The steps: acquire up to N free places tagged ``board=B`` (a place someone else holds is skipped
and named in the report, never touched), load the firmware into each (gdbload.py: an emulated
place's QEMU on its exporter host), then one thread per place pulls samples from one WorkQueue
until none is left. Each result is appended to the same results file as a one-board run (plus
the place that ran it), so ``--resume`` works the same, and the report is computed from the
file by validate's own metrics. A place whose link fails, or whose exporter leaves the
coordinator, stops taking samples and hands its running one back. Every acquired place is
released at the end, on an error and on Ctrl-C.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from .. import datasets
from .. import reference as R
from ..boards import load_board
from ..build import build
from ..device import open_device
from ..errors import McdError
from ..pipeline import run_module
from ..project import Project
from ..results import check_results, results_header, results_path, start_results
from ..validate import ValidationCancelled, ValidationInterrupted, _metrics, _throughput
from .client import FarmClient, FarmError
from .gdbload import halt, load_elf
from .queue import WorkQueue

FARM_LINK = {"reconnect_timeout": 2.0}  # a farm has other places: give a dead one up fast


class Place:
    """One acquired place and what its worker thread did."""

    def __init__(self, name: str, uart: dict, gdb: dict | None, probe: dict | None = None):
        self.name, self.uart, self.gdb, self.probe = name, uart, gdb, probe
        self.samples, self.seconds, self.error, self.lost = 0, 0.0, None, False
        self.stop = threading.Event()
        self.stats: dict = {}
        self.dev_facts: dict | None = None

    @property
    def url(self) -> str:
        """pyserial's URL of the exported UART: raw TCP (``protocol: raw``, as `farm up` exports QEMU's)
        or RFC 2217 (labgrid's NetworkSerialPort default: how its exporter serves a USB serial port)."""
        scheme = "socket" if self.uart.get("protocol", "rfc2217") == "raw" else "rfc2217"
        return f"{scheme}://{self.uart['host']}:{self.uart['port']}"

    def load(self, project, board) -> None:
        """Put ``project``'s firmware on this place: through its ``gdb`` stub (an emulated place),
        or with pyOCD through its exporter host's probe server (``probe``: farm/probe.py)."""
        if self.gdb is not None:
            load_elf(self.gdb["host"], self.gdb["port"], build(project, board, emulate=True).elf)
        else:
            from .probe import check_probe_server, flash_through_probe_server

            check_probe_server(self.name, self.probe)  # before a minute of building the silicon image
            flash_through_probe_server(self.name, self.probe, board, build(project, board, emulate=False).elf,
                                       self.url)

    def summary(self) -> dict:
        return {"place": self.name, "uart": self.url, "samples": self.samples, "seconds": round(self.seconds, 3),
                "samples_per_s": round(self.samples / self.seconds, 2) if self.seconds and self.samples else None,
                "lost": self.lost, "error": self.error}


def places_for(farm: FarmClient, board: str) -> list[str]:
    """The places tagged ``board=BOARD``, or FarmError saying how to get some."""
    farm.sync()
    names = farm.places_for(board)
    if not names:
        raise FarmError(f"no place on the coordinator at {farm.address} carries board={board}: start emulated "
                        f"ones (`mcudeploy farm up --emulate N --board {board}`) or tag yours (set-tags board=...)")
    return names


def acquire_places(farm: FarmClient, board: str, n: int, wait: float = 0.0) -> tuple[list[str], dict[str, str]]:
    """Up to ``n`` places tagged ``board`` acquired by this client, and the ones others hold.
    ``wait``: seconds to keep asking while every place is held (a sweep's points share the farm)."""
    deadline = time.monotonic() + wait
    while True:
        names = places_for(farm, board)
        held, got = {}, []
        for name in names:
            if len(got) == n:
                break
            holder = farm.holder(name)
            if holder:
                held[name] = holder
                continue
            try:
                farm.acquire(name)
                got.append(name)
            except FarmError:  # taken by another client between our look and our request
                held[name] = farm.holder(name) or "another client"
        if got or time.monotonic() >= deadline:
            return got, held
        time.sleep(0.5)


def validate_farm(project, coordinator: str, board: str, boards: int, data: str, limit: int | None = None,
                  results: Path | None = None, resume: bool = False, fresh: bool = False, progress=None,
                  user: str | None = None, on_started=None, wait: float = 0.0, **link_options) -> dict:
    """Validate ``data`` on up to ``boards`` farm places; the report of ``validate`` plus ``farm``.
    ``on_started(places)`` is called once the places answer (tests use it to act mid-run);
    ``wait``: seconds to wait for a free place when others hold them all."""
    if boards < 1:
        raise McdError(f"--boards {boards}: give at least 1")
    prj = Project(project)
    b = load_board(board)
    x, y = datasets.load_for_project(prj, data, split="test", limit=limit)
    header = results_header(prj, board, data, x)
    explicit = results is not None
    results = Path(results) if explicit else results_path(prj.path, board, True, data, header)
    done = check_results(results, header, resume, fresh, explicit)
    link = {**FARM_LINK, **link_options}
    with FarmClient(coordinator, user=user) as farm:  # an unreachable farm is refused before any work
        places_for(farm, board)
        g = prj.graph
        xq = R.prepare_input(g, x)
        ref_q = R.run(g, xq)
        float_out = run_module(prj.float_model(), torch.from_numpy(x)).numpy()
        build(prj.path, b, emulate=True)  # before any place is held (a real place builds its own at load)
        names, held = acquire_places(farm, board, boards, wait)
        places: list[Place] = []
        try:
            if not names:
                raise FarmError(f"all {len(held)} places carrying board={board} are held by others ("
                                + ", ".join(f"{k}: {v}" for k, v in held.items()) + "): try again later")
            places += _prepare(farm, names, prj.path, b)
            queue = WorkQueue([i for i in range(len(x)) if i not in done])
            queue.done.update(done)
            start_results(results, header, done)
            t0 = time.perf_counter()
            _run(farm, places, queue, prj, b, xq, results, progress, len(x), link, on_started)
            seconds = time.perf_counter() - t0
        finally:
            _give_back(farm, names, places)
    return _report(prj, board, data, x, y, ref_q, float_out, queue, places, held, coordinator, results, done,
                   seconds)


def _give_back(farm: FarmClient, names: list[str], places: list[Place]) -> None:
    """Halt the emulated places (an idle place costs no CPU) and release every acquired one."""
    for p in places:
        if p.gdb is None:
            continue  # a real board keeps running its firmware, as after a local flash
        try:
            halt(p.gdb["host"], p.gdb["port"])
        except McdError:  # a place already gone
            pass
    for name in names:
        try:
            farm.release(name)
        except FarmError:  # the coordinator went away: nothing is held there any more
            pass


@contextmanager
def one_place(project, coordinator: str, board: str, user: str | None = None) -> Iterator[Place]:
    """One free place carrying ``board``, acquired, with the project's firmware loaded; halted and
    released on exit (``profile --farm``: its ``url`` goes where ``--port`` would)."""
    prj, b = Project(project), load_board(board)
    build(prj.path, b, emulate=True)
    with FarmClient(coordinator, user=user) as farm:
        names, held = acquire_places(farm, board, 1)
        places: list[Place] = []
        try:
            if not names:
                raise FarmError(f"all {len(held)} places carrying board={board} are held by others: try again later")
            places += _prepare(farm, names, prj.path, b)
            yield places[0]
        finally:
            _give_back(farm, names, places)


def place_of(farm: FarmClient, name: str) -> Place:
    """The acquired place ``name`` with its resources: ``uart``, and ``gdb`` (emulated) or ``pyocd``
    (a real board's probe served by ``pyocd server`` on its exporter host), or FarmError."""
    res = farm.resources(name)
    if "uart" not in res:
        raise FarmError(f"place {name} has no available 'uart' resource (its exporter is gone?): check "
                        f"`labgrid-client -p {name} show`")
    if "gdb" not in res and "pyocd" not in res:
        raise FarmError(f"place {name} exports neither a 'gdb' stub (emulated) nor a 'pyocd' probe server (a "
                        "real board): add the probe server `mcudeploy farm exporter-config` writes, or use "
                        "emulated places (`mcudeploy farm up --emulate N`)")
    return Place(name, res["uart"], res.get("gdb"), res.get("pyocd"))


def _prepare(farm: FarmClient, names: list[str], project: Path, board) -> list[Place]:
    """Each place's resources, and its firmware loaded."""
    places = []
    for name in names:
        place = place_of(farm, name)
        place.load(project, board)
        places.append(place)
    return places


def _run(farm: FarmClient, places: list[Place], queue: WorkQueue, prj: Project, b, xq, results: Path, progress,
         total: int, link: dict, on_started) -> None:
    """The worker threads, watched from this thread: places whose exporter left are stopped."""
    write = threading.Lock()
    started = threading.Barrier(len(places) + 1, timeout=120)
    f = open(results, "a")  # noqa: SIM115 - closed below, after every worker joined

    def work(p: Place) -> None:
        t = time.perf_counter()
        waited = False
        try:
            with open_device(prj.path, b, emulate=False, port=p.url, **link) as dev:
                p.stats = dev.link.stats  # the Link's own counters, read at the report (a lost place's too)
                p.dev_facts = {"info": dev.info(), "build": dev.build, "emulated": dev.emulated}
                waited = True
                _wait(started)
                t = time.perf_counter()
                while not p.stop.is_set():
                    i = queue.take()
                    if i is None:
                        break
                    if p.stop.is_set():  # its exporter left while this place waited for a sample
                        queue.give_back(i)
                        break
                    try:
                        r = dev.infer(xq[i].tobytes())
                    except BaseException:
                        queue.give_back(i)
                        raise
                    rec = {"i": i, "out": r.output.hex(), "total": r.total_count, "layers": r.layer_counts,
                           "stack": r.stack_high_water, "place": p.name}
                    with write:
                        if queue.complete(i, rec):
                            f.write(json.dumps(rec) + "\n")
                            f.flush()
                            p.samples += 1
                            if progress:
                                progress(len(queue.done), total)
        except Exception as exc:  # noqa: BLE001 - a lost place: its samples go to the others
            p.error, p.lost = f"{type(exc).__name__}: {exc}", True
            if not waited:
                _wait(started)
        finally:
            p.seconds = time.perf_counter() - t

    try:
        run_places(farm, places, work, started, queue, on_started)
    except KeyboardInterrupt:
        f.close()
        raise ValidationCancelled(
            f"interrupted (Ctrl-C): {len(queue.done)} of {total} results saved in {results}; every place was "
            "released; run the same command with --resume to validate the remaining samples") from None
    f.close()
    if queue.remaining():
        errors = "; ".join(f"{p.name}: {p.error}" for p in places if p.error)
        raise ValidationInterrupted(
            f"interrupted: every place was lost after {len(queue.done)} of {total} samples ({errors}). The "
            f"results so far are saved in {results}; run the same command with --resume (each sample counts once)")


def run_places(farm: FarmClient, places: list[Place], work, started: threading.Barrier, queue: WorkQueue,
               on_started=None) -> None:
    """Run ``work(place)`` on one thread per place (samples or models dealt by ``queue``) and watch the
    coordinator until every thread ends: a place whose exporter left is stopped and marked lost (the farm
    no longer vouches for it; its work goes to the others). On Ctrl-C the queue is closed, every thread
    joined, and KeyboardInterrupt raised again for the caller to report."""
    threads = [threading.Thread(target=work, args=(p,), name=f"farm-{p.name}", daemon=True) for p in places]
    try:
        for th in threads:
            th.start()
        _wait(started)
        if on_started:
            on_started(places)
        while any(th.is_alive() for th in threads):
            for th in threads:
                th.join(0.25)
            farm.sync()
            for p in places:
                if not p.stop.is_set() and "uart" not in farm.resources(p.name):
                    p.stop.set()
                    p.lost, p.error = True, p.error or "its exporter left the coordinator"
    except KeyboardInterrupt:
        queue.close()
        for th in threads:
            th.join()
        raise


def _wait(barrier: threading.Barrier) -> None:
    try:
        barrier.wait()
    except threading.BrokenBarrierError:
        pass


def _report(prj, board, data, x, y, ref_q, float_out, queue: WorkQueue, places: list[Place], held: dict,
            coordinator: str, results: Path, resumed: dict, seconds: float) -> dict:
    done = queue.done
    order = sorted(done)
    assert order == list(range(len(x))), "every sample exactly once"
    facts = next(p.dev_facts for p in places if p.dev_facts)
    info, bres = facts["info"], facts["build"]
    dev_q = np.stack([np.frombuffer(bytes.fromhex(done[i]["out"]), np.int8) for i in order])
    rep = {"board": board, "emulated": facts["emulated"], "counter": info.counter, "data": str(data),
           "model_hash": prj.meta["model_hash"]}
    rep.update(_metrics(prj, x, y, ref_q, float_out, dev_q, [done[i]["total"] for i in order],
                        [done[i]["layers"] for i in order]))
    stats = {k: sum(p.stats.get(k, 0) for p in places) for k in
             ("bytes_out", "bytes_in", "retries", "bad_frames", "stale", "timeouts", "reconnects", "resets")}
    stack = max((done[i].get("stack", 0) for i in order), default=0) or info.stack_high_water
    rep.update(flash_bytes=bres.flash_bytes, ram_bytes=bres.ram_bytes, board_flash_bytes=bres.flash_limit,
               board_ram_bytes=bres.ram_limit, stack_peak_bytes=stack, arena_bytes=prj.meta["arena_bytes"],
               results_file=str(results), resumed_samples=len(resumed),
               throughput=_throughput(len(x) - len(resumed), seconds, stats, load_board(board).uart.baud,
                                      facts["emulated"]),
               link={k: stats[k] for k in ("retries", "bad_frames", "stale", "timeouts", "reconnects", "resets")})
    per_place = {}
    for i in order:
        name = done[i].get("place")
        per_place[name] = per_place.get(name, 0) + 1
    rep["farm"] = {"coordinator": coordinator, "places": [p.summary() for p in places],
                   "held_by_others": held, "samples_per_place": per_place}
    return rep
