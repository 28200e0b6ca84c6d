"""``mcudeploy bench --suite mlperf-tiny --farm HOST:PORT --boards N``: the suite's models over farm places.

Usage::

    rep = suite_farm("out/mlperf-tiny", "127.0.0.1:20408", "nucleo-f446re", boards=2, samples=3)
    [(m["name"], m["place"], m["bit_exact"]) for m in rep["models"]]; rep["farm"]["places"]

Each model is compiled and built once, on this host, before any place is held. Then one thread
per acquired place takes the next model from one WorkQueue, loads its firmware into the place
(farm/run.py ``Place.load``: the gdb stub of an emulated place, pyOCD for a real board) and runs
the suite's own ``run_model`` on it: bit-exactness against the numpy reference (and LiteRT for
the official models) and the board's count per inference (emulated_instructions under QEMU,
dwt_cycles on silicon). A place that fails mid-model, or whose exporter leaves the coordinator,
hands the model back and another place runs it from the start, so every model is reported once,
by the place that finished it. Estimated cycles come from the timing model on this host after the
places are released (they do not depend on the place). One report, as ``bench --suite``'s, plus
``farm`` (per place: models, seconds, lost or not).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from .. import progress as progress_mod
from ..boards import load_board
from ..build import build
from ..errors import McdError
from ..mlperf_suite import (
    EVAL_SEED,
    MODELS,
    check_suite,
    estimated_cycles_of,
    run_model,
    suite_project,
    suite_report,
)
from ..validate import ValidationCancelled
from .client import FarmClient, FarmError
from .queue import WorkQueue
from .run import FARM_LINK, Place, _give_back, _wait, acquire_places, place_of, places_for, run_places


def suite_farm(workdir: str | Path, coordinator: str, board: str, boards: int, samples: int = 3,
               names: list[str] | None = None, cycles: bool = False, progress=None, float_ports: bool = False,
               rounding: str = "litert", user: str | None = None, on_model=None, **link_options) -> dict:
    """The suite on up to ``boards`` places carrying ``board``; ``bench --suite``'s report plus
    ``farm``. ``on_model(name, place, done, total)`` is called after each model (tests act mid-run)."""
    if boards < 1:
        raise McdError(f"--boards {boards}: give at least 1")
    check_suite(names, board, float_ports)
    say = progress or (lambda msg: None)
    todo = names or MODELS
    b = load_board(board)
    link = {**FARM_LINK, **link_options}
    with FarmClient(coordinator, user=user) as farm:  # an unreachable farm is refused before any work
        places_for(farm, board)
        prjs = []
        for k, name in enumerate(todo):
            with progress_mod.task(f"mlperf-tiny {name}: compile and build ({k + 1}/{len(todo)})"):
                say(f"{name}: compile and build")
                prj = suite_project(name, Path(workdir), float_ports, rounding)
                build(prj.path, b, emulate=True)  # a real place builds its silicon image when it is flashed
                prjs.append(prj)
        held_names, held = acquire_places(farm, board, boards)
        places: list[Place] = []
        try:
            if not held_names:
                raise FarmError(f"all {len(held)} places carrying board={board} are held by others ("
                                + ", ".join(f"{k}: {v}" for k, v in held.items()) + "): try again later")
            places += [place_of(farm, n) for n in held_names]
            say(f"{len(todo)} model(s) over {len(places)} place(s): {', '.join(p.name for p in places)}")
            queue = WorkQueue(list(range(len(todo))))
            t0 = time.perf_counter()
            _deal(farm, places, queue, todo, prjs, b, samples, link, say, on_model)
            seconds = time.perf_counter() - t0
        finally:
            _give_back(farm, held_names, places)
    models = [queue.done[k] for k in range(len(todo))]
    if cycles:
        from ..zoo import mlperf_tiny as mt

        for m, name, prj in zip(models, todo, prjs):
            with progress_mod.task(f"mlperf-tiny {name}: estimated cycles (timing model, this host)"):
                m.update(estimated_cycles_of(prj, mt.sample_inputs(name, samples, seed=EVAL_SEED)[:1]))
    emulated = next(p.gdb is not None for p in places if p.name == models[0]["place"])
    rep = suite_report(models, board, emulated, float_ports, rounding)
    per = {p.name: [m["name"] for m in models if m["place"] == p.name] for p in places}
    rep["farm"] = {"coordinator": coordinator, "seconds": round(seconds, 2), "held_by_others": held,
                   "models_per_place": per,
                   "places": [{"place": p.name, "uart": p.url, "models": per[p.name], "seconds": round(p.seconds, 2),
                               "lost": p.lost, "error": p.error} for p in places]}
    return rep


def _deal(farm: FarmClient, places: list[Place], queue: WorkQueue, todo: list[str], prjs: list, b, samples: int,
          link: dict, say, on_model) -> None:
    """One thread per place pulls models; this thread watches the coordinator for lost exporters."""
    lock = threading.Lock()
    started = threading.Barrier(len(places) + 1, timeout=120)

    def work(p: Place) -> None:
        _wait(started)
        t = time.perf_counter()
        try:
            while not p.stop.is_set():
                k = queue.take()
                if k is None:
                    break
                if p.stop.is_set():  # its exporter left while this place waited for a model
                    queue.give_back(k)
                    break
                t_model = time.perf_counter()
                try:
                    p.load(prjs[k].path, b)
                    t_run = time.perf_counter()
                    m = run_model(todo[k], prjs[k], b.name, samples, emulate=False, port=p.url, **link)
                except BaseException:
                    queue.give_back(k)  # another place runs the whole model again
                    raise
                now = time.perf_counter()  # flash, then run_model: the board's part and the host's references
                m.update(project=str(prjs[k].path), place=p.name, load_seconds=round(t_run - t_model, 2),
                         seconds_on_place=round(now - t_model, 2))
                with lock:
                    if queue.complete(k, m):
                        p.samples += 1
                        say(f"{todo[k]} on {p.name}: {m['bit_exact']}/{m['samples']} bit-exact, "
                            f"{m['count_per_inference']:,} {m['counter']} ({len(queue.done)}/{len(todo)})")
                        if on_model:
                            on_model(todo[k], p.name, len(queue.done), len(todo))
        except Exception as exc:  # noqa: BLE001 - a lost place: its model goes to the others
            p.error, p.lost = f"{type(exc).__name__}: {exc}", True
            say(f"place {p.name} lost ({p.error}): its model goes to another place")
        finally:
            p.seconds = time.perf_counter() - t

    try:
        run_places(farm, places, work, started, queue)
    except KeyboardInterrupt:
        raise ValidationCancelled(f"interrupted (Ctrl-C) after {len(queue.done)} of {len(todo)} models; every "
                                  "place was released; run the command again (compiled models are reused)") from None
    if queue.remaining():
        errors = "; ".join(f"{p.name}: {p.error}" for p in places if p.error)
        raise FarmError(f"every place was lost after {len(queue.done)} of {len(todo)} models ({errors}): start "
                        "places again (`mcudeploy farm up`) and run the suite again (compiled models are reused)")
