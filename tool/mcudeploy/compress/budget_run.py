"""``compress --structured --budget``: prune to a board's budgets, and prove it on the built firmware.

    >>> res = budget_compress(model, x[:1], train=(x, y), test=(xt, yt), budget=parse_budget("ram=4KB"))
    >>> res.report["resources"]      # per resource: budget, estimate, measured (link map / bench)
    >>> res.report["met"]

The steps, and why each:

1. The dense model is compiled, built for the emulated board and benched once. That gives the
   per-layer cycle table and the engine's code bytes the resource functions need, the measured
   dense figures for the report and, with ``board``, what the firmware itself takes (stack,
   buffers, runtime code), which the board's sizes minus those leave for the model.
2. Gates and weights train together to the budget (``gates.train_to_budget``), the penalty
   computed by ``resources.ResourceModel`` on the dense model's int8 graph and plan.
3. The cut-down model is compiled, built and benched; its measured arena (link map), engine
   flash (link map) and est. cycles (bench) are compared with the budget. An estimate is a model
   of the planner and the kernels, so where a measured figure misses, the estimate is recalibrated
   on it (measured / estimated), the weakest channels that lower that resource are closed until
   the recalibrated estimate fits, fine-tuning continues briefly, and it is measured again (at
   most ``max_rounds`` times). ``report["met"]`` says whether the last measurement fits.
4. ``refill`` (off by default): the other direction. Where the build comes out well under the
   budget because the estimate was high (the code generator can plan a pruned model tighter
   than the penalty's model of the planner), the estimate is recalibrated down on the
   measurement, the most important closed channels are reopened while it still fits, fine-tuning
   continues briefly, and it is measured again; should that miss, the last result that met the
   budget is kept. An unused byte of the budget buys no accuracy.
"""

from __future__ import annotations

import copy
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import McdError
from ..train import evaluate
from .budget import Budget, board_budget
from .gates import GATE_FRAC, MIN_WIDTH_FRAC, ChannelGates, relax, scaled_estimate, tighten, train_to_budget
from .measure import compile_to, int8_graph, measure_project
from .resources import ResourceModel
from .structured import analyze, count_macs_params

Data = tuple[np.ndarray, np.ndarray]
UNITS = {"ram": "B (arena)", "flash": "B (engine flash)", "cycles": "estimated_cycles"}


class BudgetMissedError(McdError):
    """The compressed model, as built, does not meet the budget."""

    exit_code = 1


def dense_measure(model: nn.Module, calib: np.ndarray, outdir: Path, board: str = "nucleo-f446re",
                  log: Callable[[str], None] | None = None) -> dict:
    """The dense model compiled, built and benched: the tables and figures pruning starts from."""
    (log or (lambda s: None))("dense model: compile, build, bench")
    compile_to(model, calib, outdir, host_check=False)
    return measure_project(outdir, board)


def _acc(m: nn.Module, data: Data | None) -> float | None:
    return None if data is None else round(100.0 * evaluate(m, *data), 4)


def budget_compress(model: nn.Module, example: torch.Tensor, train: Data, test: Data | None,
                    budget: Budget, board=None, emulated_board: str = "nucleo-f446re", epochs: float = 2,
                    lr: float = 1e-3, batch_size: int = 64, margin: float = 0.97, max_rounds: int = 3,
                    calib_samples: int = 200, workdir: str | Path | None = None, gate_lr: float | None = None,
                    log: Callable[[str], None] | None = None, dense: dict | None = None, distill: bool = False,
                    distill_temperature: float = 4.0, distill_alpha: float = 0.7, gate_frac: float = GATE_FRAC,
                    refill: float | None = None, min_width_frac: float = MIN_WIDTH_FRAC, seed: int = 0):
    """Prune a copy of ``model`` to ``budget`` (and/or what ``board`` leaves); see the module doc.

    ``distill``: the task loss of the whole schedule (gates and fine-tuning) is the distillation
    loss against the dense model's outputs (``distill.py``), which are computed once before
    pruning starts: a pruned net learns more per sample from the dense model's soft outputs than
    from the labels alone. ``gate_frac``: the share of the schedule in which the gates learn (the
    rest fine-tunes the frozen network); a gate step costs several plain steps (the penalty plans
    the arena), so a long schedule can give the gates a smaller share of it. ``refill`` (e.g. 0.95):
    a measured resource under that share of its budget, and under its estimate, is refilled (step 4
    of the module doc). ``min_width_frac``: no channel group closes below
    ``max(4, ceil(min_width_frac * its dense channels))`` (``gates.width_floor``; 0 turns it off).
    ``seed``: the schedule's batch order and torch's generator (a repeat with another seed)."""
    from .run import CompressResult

    say = log or (lambda s: None)
    t0 = time.perf_counter()
    if train is None or train[1] is None or len(train[0]) == 0:
        raise McdError("budget-driven pruning trains gates with the task loss: it needs labelled training data")
    tmp = None
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="mcd-budget-")
        workdir = tmp.name
    wd = Path(workdir)
    try:
        example = example[:1].float()
        calib = train[0][:calib_samples]
        model = copy.deepcopy(model).eval()
        if dense is None:  # a sweep measures the dense model once and passes it to every point
            dense = dense_measure(model, calib, wd / "dense", emulated_board, say)
        if board is not None:
            budget = board_budget(board, dense["runtime_ram_bytes"], dense["runtime_flash_bytes"], budget)
        limits = budget.items()
        if not limits:
            raise McdError("no budget: give --budget ram=...,flash=...,cycles=... and/or --board")
        _ep, g, p = int8_graph(model, calib)
        an = analyze(model, example)
        rm = ResourceModel.build(an, g, p, dense["layer_cycles"], dense["engine_code_bytes"])
        ones = torch.ones(len(rm.roots))
        scale = {"ram": dense["ram"] / max(float(rm.arena(ones)), 1.0),  # 1 unless the map and the plan differ
                 "flash": dense["flash"] / max(float(rm.flash(ones)), 1.0),
                 "cycles": dense["cycles"] / max(float(rm.cycles(ones)), 1.0)}
        targets = {r: margin * v for r, v in limits.items()}
        say("budget: " + ", ".join(f"{r} {v:,} {UNITS[r]}" for r, v in limits.items())
            + "; dense: " + ", ".join(f"{r} {dense[r]:,}" for r in limits))
        acc_before = _acc(model, test)
        teacher = None
        if distill:
            from .distill import Distiller

            teacher = Distiller.from_teacher(model, *train, temperature=distill_temperature, alpha=distill_alpha)
            say(teacher.describe())
        gates = ChannelGates(model, an, rm, min_width_frac=min_width_frac)
        hist = train_to_budget(model, gates, targets, *train, epochs=epochs, lr=lr, batch_size=batch_size,
                               gate_lr=gate_lr, gate_frac=gate_frac, scale=scale, log=say, loss_fn=teacher, seed=seed)
        rounds = []
        small = measured = best = None
        for rnd in range(max_rounds):
            small = gates.shrunk(model)
            est = scaled_estimate(rm, gates.hard(), scale, limits)
            compile_to(small, calib, wd / f"check{rnd}", host_check=False)
            measured = measure_project(wd / f"check{rnd}", emulated_board)
            misses = {r: measured[r] for r, v in limits.items() if measured[r] > v}
            rounds.append({"estimate": {r: round(v) for r, v in est.items()},
                           "measured": {r: measured[r] for r in limits}, "misses": sorted(misses)})
            say(f"measured after build (round {rnd + 1}): " + ", ".join(
                f"{r} {measured[r]:,} / {v:,}{' MISS' if r in misses else ''}" for r, v in limits.items()))
            if not misses:
                best = (rnd, small, measured, gates.hard().clone(), dict(scale))
            if rnd == max_rounds - 1:
                break
            if misses:
                for r in misses:  # recalibrate the estimate on the measurement, then cut to it
                    scale[r] *= measured[r] / max(est[r], 1.0)
                if not tighten(gates, targets, scale):
                    break
            else:
                slack = [r for r, v in limits.items()
                         if refill is not None and measured[r] < refill * v and measured[r] < est[r]]
                if not slack:
                    break
                for r in slack:  # the estimate was high: recalibrate it down, then reopen to it
                    scale[r] *= measured[r] / max(est[r], 1.0)
                opened = relax(gates, targets, scale)
                if not opened:
                    break
                rounds[-1]["reopened"] = len(opened)
                say(f"  measured under the estimate: {len(opened)} channels reopened to use the budget")
            train_to_budget(model, gates, targets, *train, epochs=max(0.25, epochs / 4), lr=lr / 3,
                            batch_size=batch_size, scale=scale, log=say, loss_fn=teacher, seed=seed)
        if best is not None and best[0] != len(rounds) - 1:  # a refill that missed: keep what met it
            kept, small, measured, h, scale = best
            gates.set_hard(h)
            rounds.append({"kept_round": kept + 1})
            say(f"kept round {kept + 1}, the last that met the budget")
        est = scaled_estimate(rm, gates.hard(), scale, limits)
        acc_after = _acc(small, test)
        resources = [{"resource": r, "unit": UNITS[r], "budget": v, "estimate": round(est[r]),
                      "measured": measured[r], "dense": dense[r], "met": measured[r] <= v}
                     for r, v in limits.items()]
        report = _report(model, small, example, an, gates, limits, resources, dense, measured, rounds, hist,
                         acc_before, acc_after, board, epochs, lr, batch_size, margin)
        report["settings"].update(distill=teacher.describe() if teacher is not None else None, gate_frac=gate_frac,
                                  refill=refill, min_width_frac=min_width_frac, seed=seed)
        report["seconds"] = round(time.perf_counter() - t0, 2)
        if workdir is not None and tmp is None:
            report["project"] = str(wd / f"check{best[0] if best is not None else len(rounds) - 1}")
        return CompressResult(small, report)
    finally:
        if tmp is not None:
            tmp.cleanup()


def _report(model, small, example, an, gates, limits, resources, dense, measured, rounds, hist, acc_before,
            acc_after, board, epochs, lr, batch_size, margin) -> dict:
    open_ = gates.hard()
    pos = {r: i for i, r in enumerate(gates.rm.roots)}
    groups = [{"producers": g.producers, "prunable": g.prunable, "channels_before": len(g.channels),
               "channels_after": sum(1 for r in g.channels if r not in pos or open_[pos[r]] > 0)}
              for g in an.groups]
    cb, ca = count_macs_params(model, example), count_macs_params(small, example)
    keep = ("ram", "flash", "cycles", "planner_arena_bytes", "weight_bytes", "firmware_flash_bytes",
            "firmware_ram_bytes", "runtime_ram_bytes", "runtime_flash_bytes", "engine_code_bytes")
    acc = {"before": acc_before, "after": acc_after}
    if acc_before is not None and acc_after is not None:
        acc["drop_points"] = round(acc_before - acc_after, 4)
    return {
        "mode": "budget", "budget": limits, "board": getattr(board, "name", None),
        "met": all(r["met"] for r in resources), "resources": resources,
        "dense_measured": {k: dense.get(k) for k in keep}, "measured": {k: measured.get(k) for k in keep},
        "measured_on": "emulated nucleo-f446re firmware: arena symbol and engine/ objects from the link "
                       "map, estimated_cycles from bench",
        "rounds": rounds, "training": hist, "accuracy": acc, "accuracy_unit": "top-1 %, float model",
        "channel_groups": groups, "macs_before": cb["macs"], "macs_after": ca["macs"],
        "params_before": cb["params"], "params_after": ca["params"],
        "settings": {"epochs": epochs, "lr": lr, "batch_size": batch_size, "margin": margin},
    }


def budget_file(model: str, weights: str | None, data: str, output: str | Path, budget: Budget,
                board: str | None = None, eval_data: str | None = None, limit: int | None = None,
                eval_limit: int | None = None, **kwargs):
    """Load, ``budget_compress``, and export to ``output`` (.pt2) only when the measured result meets
    the budget; the report is returned either way (``report["met"]``)."""
    from .. import datasets
    from ..boards import load_board
    from ..frontend import export_module
    from .run import load_module

    if not str(output).endswith(".pt2"):
        raise McdError(f"output '{output}' must end in .pt2 (a torch.export archive)")
    b = load_board(board) if board else None
    module, exported = load_module(model, weights)
    if exported:
        raise McdError("budget pruning removes channels, which needs the model as an nn.Module: give "
                       "FILE.py:FACTORY with --weights, not a .pt2 archive")
    if eval_data is None and str(data) not in datasets.NAMES:
        raise McdError(f"'{data}' is a file: name the held-out samples with --eval-data")
    train = datasets.load_spec(data, "train", limit)
    test = datasets.load_spec(eval_data or data, "test", eval_limit)
    if train[1] is None:
        raise McdError(f"the training data '{data}' has no labels (y); the gates train on the task loss")
    example = torch.from_numpy(test[0][:1])
    res = budget_compress(module, example, train, test if test[1] is not None else None, budget, board=b, **kwargs)
    res.report.update(model=str(model), weights=weights, data=str(data), eval_data=str(eval_data or data),
                      output=str(output) if res.report["met"] else None)
    if res.report["met"]:
        ep = export_module(res.model, example)
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(str(output) + ".tmp.pt2")
        torch.export.save(ep, str(tmp))
        tmp.replace(output)
    return res


def missed_message(report: dict) -> str:
    """One line: which measured figures miss which budget, and what to do."""
    parts = [f"{r['resource']} measured {r['measured']:,} > budget {r['budget']:,} {r['unit']}"
             for r in report["resources"] if not r["met"]]
    return ("the pruned model misses its budget after compile and build: " + "; ".join(parts)
            + ". Nothing was written; raise the budget to at least the measured figure (the closest this model "
            "came after pruning every group it could down to its width floor, max(4, 1/8 of its channels) unless "
            "budget_compress was given another min_width_frac), or give more --epochs")
