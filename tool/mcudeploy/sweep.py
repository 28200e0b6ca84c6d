"""``sweep``: compress at several budgets or sparsities, and compile, build, bench and validate each point.

    >>> points = parse_points(budgets="ram=8KB:6KB:4KB")            # or sparsity="0.5,0.7,0.9"
    >>> rep = run_sweep(Spec("examples/resnet_small.py:resnet_small", "w.pt", "fashion-mnist"), points, "out/sw")
    >>> rep["points"][0]["measured"]["ram"], rep["files"]           # sweep.json, pareto.png/.svg, index.html

Every point ends in ``DIR/points/<key>/point.json``, written whole (temporary name, then rename) when
the point is done, so an interrupted sweep resumes where it stopped: the same command skips the points
that have one. ``DIR/sweep.json`` names the settings; a directory with other settings is refused (a
resumed sweep must mean the same sweep), and a directory this tool did not write is never used.

Points run in parallel, one process each (each starts its own emulator), on ``jobs`` workers
(default: the machine's cores). The dense model is measured first: budget points start from its
tables (cycles per layer, the engine's code bytes) and every plot marks it.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path

from .compress.budget import BudgetError, parse_value
from .errors import McdError, OutputError

CONFIG = "sweep.json"


@dataclass(frozen=True)
class Spec:
    model: str
    weights: str | None
    data: str
    eval_data: str | None = None
    limit: int | None = None
    eval_limit: int | None = None
    epochs: float = 2
    lr: float = 1e-3
    emulate_samples: int = 20
    board: str = "nucleo-f446re"
    # budget points' schedule (budget_compress; None or False: its defaults). Named in the sweep's
    # settings only when given, so a sweep written before they existed still resumes.
    distill: bool = False
    gate_frac: float | None = None
    refill: float | None = None
    min_width_frac: float | None = None


TUNING = ("distill", "gate_frac", "refill", "min_width_frac")


def spec_config(spec: Spec) -> dict:
    """The spec as the sweep's settings: the schedule's options only where given."""
    return {k: v for k, v in asdict(spec).items() if k not in TUNING or _given(v)}


def _given(v) -> bool:  # 0.0 (no width floor) is given; None and False are not (0.0 == False in Python)
    return v is not None and v is not False


def parse_points(budgets: str | None = None, sparsity: str | None = None) -> list[dict]:
    """``ram=8KB:6KB,cycles=2M:1M`` (lists zipped, a single value repeated) or ``0.5,0.7``."""
    if (budgets is None) == (sparsity is None):
        raise McdError("give exactly one of --budgets (e.g. ram=8KB:6KB:4KB) or --sparsity (e.g. 0.5,0.7,0.9)")
    if sparsity is not None:
        out = []
        for s in sparsity.split(","):
            try:
                v = float(s)
            except ValueError:
                v = -1.0
            if not 0 < v < 1:
                raise McdError(f"--sparsity item '{s.strip()}': expected a fraction of channels in (0, 1), "
                               "e.g. --sparsity 0.5,0.7,0.9")
            out.append({"key": f"sparsity-{v:g}", "sparsity": v})
        return out
    lists: dict[str, list[int]] = {}
    for item in budgets.split(","):
        name, sep, vals = item.partition("=")
        name = name.strip().lower()
        if not sep or name not in ("ram", "flash", "cycles") or name in lists:
            raise BudgetError(f"--budgets item '{item.strip()}': expected NAME=V1:V2:... with NAME one of ram, "
                              "flash, cycles, each once (e.g. --budgets ram=8KB:6KB:4KB)")
        lists[name] = [parse_value(name, v.strip()) for v in vals.split(":")]
    n = max(len(v) for v in lists.values())
    if any(len(v) not in (1, n) for v in lists.values()):
        raise BudgetError(f"--budgets '{budgets}': every resource needs {n} values or one (repeated)")
    return [{"key": "budget-" + "-".join(f"{k}{v[i if len(v) > 1 else 0]}" for k, v in lists.items()),
             "budget": {k: v[i if len(v) > 1 else 0] for k, v in lists.items()}} for i in range(n)]


def _check_dir(out: Path, config: dict) -> None:
    cfg = out / CONFIG
    if out.exists() and any(out.iterdir()):
        if not cfg.is_file():
            raise OutputError(f"'{out}' is not empty and is not a sweep directory (no {CONFIG}): choose a new "
                              "or empty directory")
        old = json.loads(cfg.read_text()).get("config")
        if old != config:
            raise OutputError(f"'{out}' holds a sweep with other settings: use a new directory to sweep these, "
                              "or the same settings to resume it")


def _write(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str))
    tmp.replace(path)


def run_point(spec: dict, point: dict, pdir: str, dense: dict | None, farm: dict | None = None) -> dict:
    """One point in its own process: compress, compile, build + link map, bench, host top-1, emulator
    (or, with ``farm`` = {coordinator, boards, wait}, the board farm's places: farm/run.py)."""
    import torch

    from . import datasets
    from .compress import compress_model, load_module
    from .compress.budget import Budget
    from .compress.budget_run import budget_compress
    from .compress.measure import compile_to, int8_accuracy, measure_project

    torch.set_num_threads(1)
    s = Spec(**spec)
    pd = Path(pdir)
    pd.mkdir(parents=True, exist_ok=True)
    model, _ = load_module(s.model, s.weights)
    train = datasets.load_spec(s.data, "train", s.limit)
    test = datasets.load_spec(s.eval_data or s.data, "test", s.eval_limit)
    example = torch.from_numpy(test[0][:1])
    calib = train[0][:200]
    rec: dict = {"key": point["key"]}
    if "budget" in point:
        tuning = {k: getattr(s, k) for k in TUNING if _given(getattr(s, k))}
        res = budget_compress(model, example, train, test, Budget(**point["budget"]), epochs=s.epochs, lr=s.lr,
                              workdir=pd / "work", dense=dense, **tuning)
        rec.update(method="budget", budget=point["budget"], met=res.report["met"],
                   estimate={r["resource"]: r["estimate"] for r in res.report["resources"]})
        model = res.model
    elif "sparsity" in point:
        res = compress_model(model, example, train=train, test=test, sparsity=point["sparsity"], structured=True,
                             epochs=max(1, round(s.epochs)), lr=s.lr, distill=s.distill)
        rec.update(method="sparsity", sparsity=point["sparsity"])
        model = res.model
    else:
        rec.update(method="dense")
    if rec["method"] != "dense":
        rec["float_accuracy"] = res.report["accuracy"]
        rec["channel_groups"] = res.report.get("channel_groups")
    prj = pd / "project"
    compile_to(model.eval(), calib, prj)
    m = measure_project(prj, s.board)
    rec["measured"] = {k: m[k] for k in ("ram", "flash", "cycles", "planner_arena_bytes", "weight_bytes",
                                         "runtime_ram_bytes", "runtime_flash_bytes", "engine_code_bytes")}
    rec["layer_cycles"] = m["layer_cycles"]
    acc = int8_accuracy(prj, *test, pd / "host")
    rec.update(int8_top1=acc["top1"], int8_samples=acc["samples"], host_bit_exact=acc["host_bit_exact"])
    if s.emulate_samples and farm:
        from .farm.run import validate_farm

        v = validate_farm(prj, farm["coordinator"], s.board, farm["boards"], s.eval_data or s.data,
                          limit=s.emulate_samples, results=pd / "validate.jsonl", fresh=True, wait=farm["wait"])
        rec["emulated"] = {k: v[k] for k in ("samples", "bit_exact", "count_per_inference", "counter")}
        rec["emulated"]["farm_places"] = v["farm"]["samples_per_place"]
    elif s.emulate_samples:
        from .validate import validate

        v = validate(prj, s.board, True, s.eval_data or s.data, limit=s.emulate_samples,
                     results=pd / "validate.jsonl", fresh=True)
        rec["emulated"] = {k: v[k] for k in ("samples", "bit_exact", "count_per_inference", "counter")}
    if "budget" in rec:
        rec["met"] = all(rec["measured"][k] <= v for k, v in rec["budget"].items())
    _write(pd / "point.json", rec)
    return rec


def run_sweep(spec: Spec, points: list[dict], out: str | Path, jobs: int | None = None, progress=None,
              farm: dict | None = None) -> dict:
    """``farm`` ({coordinator, boards, wait}): each point's samples are validated on up to ``boards``
    farm places instead of a local emulator. Not part of the sweep's settings: a sweep may be
    resumed on another farm, or locally."""
    out = Path(out)
    config = {"spec": spec_config(spec), "points": points}
    _check_dir(out, config)
    out.mkdir(parents=True, exist_ok=True)
    _write(out / CONFIG, {"config": config, "status": "running"})
    say = progress or (lambda s: None)
    done: dict[str, dict] = {}
    for p in [{"key": "dense"}, *points]:
        f = out / "points" / p["key"] / "point.json"
        if f.is_file():
            done[p["key"]] = json.loads(f.read_text())
    if done:
        say(f"resuming: {len(done)} of {len(points) + 1} points already done")
    if "dense" not in done:
        say("dense: compress none, compile, build, bench, validate")
        done["dense"] = run_point(asdict(spec), {"key": "dense"}, str(out / "points" / "dense"), None,
                                  **({"farm": farm} if farm else {}))
    dense = dict(done["dense"]["measured"], layer_cycles=done["dense"]["layer_cycles"])
    todo = [p for p in points if p["key"] not in done]
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(todo) or 1))
    if todo:
        say(f"{len(todo)} points on {jobs} worker(s), " + (f"validated on the farm {farm['coordinator']}" if farm
                                                           else "each with its own emulator"))
        # a farm client's gRPC must not cross a fork (the dense point used one here): fresh processes then
        ctx = {"mp_context": get_context("spawn")} if farm else {}
        extra = {"farm": farm} if farm else {}
        with ProcessPoolExecutor(max_workers=jobs, **ctx) as ex:
            futs = {ex.submit(run_point, asdict(spec), p, str(out / "points" / p["key"]), dense, **extra): p
                    for p in todo}
            for fut in as_completed(futs):
                p = futs[fut]
                done[p["key"]] = fut.result()
                say(f"point {p['key']} done ({sum(1 for q in points if q['key'] in done)}/{len(points)})")
    rep = {"config": config, "status": "done", "dense": done["dense"],
           "points": [done[p["key"]] for p in points]}
    files = _outputs(rep, out)
    rep["files"] = [str(f) for f in files]
    _write(out / CONFIG, rep)
    return rep


def _outputs(rep: dict, out: Path) -> list[Path]:
    from .sweep_plot import pareto_figure, write_plots

    def flat(p):
        return dict(p["measured"], int8_top1=p["int8_top1"], key=p["key"])

    series: dict[str, list[dict]] = {}
    for p in rep["points"]:
        series.setdefault(p["method"], []).append(flat(p))
    fig = pareto_figure(series, flat(rep["dense"]), Path(rep["config"]["spec"]["model"]).name)
    files = write_plots(fig, out / "pareto")
    html = out / "index.html"
    tmp = html.with_name("index.html.tmp")
    tmp.write_text(_html(rep))
    tmp.replace(html)
    return [*files, html]


def _html(rep: dict) -> str:
    import html as h

    d = rep["dense"]
    rows = []
    for p in [d, *rep["points"]]:
        m, e = p["measured"], p.get("emulated") or {}
        rows.append("<tr>" + "".join(f"<td>{h.escape(str(v))}</td>" for v in (
            p["key"], f"{m['ram']:,}", f"{m['flash']:,}", f"{m['cycles']:,}", f"{p['int8_top1']:.2f}",
            f"{d['int8_top1'] - p['int8_top1']:+.2f}", f"{e.get('bit_exact', '-')}/{e.get('samples', '-')}",
            p.get("met", ""))) + "</tr>")
    spec = rep["config"]["spec"]
    return ("<!doctype html><meta charset='utf-8'><title>mcudeploy sweep</title>"
            f"<h1>Sweep of {h.escape(spec['model'])} on {h.escape(spec['data'])}</h1>"
            "<p>Arena RAM and engine flash from the emulated board's firmware link map, estimated_cycles from "
            "bench (Cortex-M4 timing model), int8 top-1 of the host-compiled engine on held-out samples, "
            "bit-exact samples on the emulated board (QEMU) over the UART.</p><img src='pareto.svg' width='100%'>"
            "<table border=1 cellpadding=4><tr><th>point</th><th>arena B</th><th>engine flash B</th>"
            "<th>est. cycles</th><th>int8 top-1 %</th><th>vs dense (points)</th><th>emulated bit-exact</th>"
            "<th>budget met</th></tr>" + "".join(rows) + "</table>")
