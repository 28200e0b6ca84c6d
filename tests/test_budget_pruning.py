"""Budget-driven structured pruning (compress --budget) and the sweep, on a digits-sized residual CNN.

The resource functions are checked against mcudeploy's own stages as oracles: the estimated arena at
any channel mask equals the memory planner's arena of the really pruned model's int8 graph, and the
estimated weight bytes equal ``layer_bytes`` of that graph; the gated network computes what the
shrunk one does. The end-to-end test builds the firmware and checks the budget in its link map.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from mcudeploy.codegen.kernels import layer_bytes
from mcudeploy.compress.budget import Budget, BudgetError, parse_budget
from mcudeploy.compress.gates import ChannelGates
from mcudeploy.compress.measure import int8_graph
from mcudeploy.compress.resources import ResourceModel, compiled_arena_bytes
from mcudeploy.compress.structured import analyze

sys.path.insert(0, str(Path(__file__).parent / "fixtures"))
from digits_resnet import digits_resnet
from mcd_cli import run_cli


@pytest.fixture(scope="module")
def trained(digits):
    """The fixture net after 4 epochs on the digits train split (a few seconds on one thread)."""
    (x, y), _ = digits
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small batches: threads only contend
    torch.manual_seed(0)
    m = digits_resnet()
    opt = torch.optim.Adam(m.parameters(), lr=0.01)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y).long()
    m.train()
    for _ in range(4):
        for idx in torch.randperm(len(yt), generator=torch.Generator().manual_seed(0)).split(64):
            opt.zero_grad()
            F.cross_entropy(m(xt[idx]), yt[idx]).backward()
            opt.step()
    torch.set_num_threads(threads)
    return m.eval()


@pytest.fixture(scope="module")
def model_rm(trained, digits):
    (x, _), _ = digits
    an = analyze(trained, torch.from_numpy(x[:1]))
    _ep, g, p = int8_graph(trained, x[:64])
    return trained, an, ResourceModel.build(an, g, p, {op.name: 1000 * (i + 1) for i, op in enumerate(g.ops)})


# --- budgets ---------------------------------------------------------------------------------------

def test_parse_budget_units():
    assert parse_budget("ram=24KB,flash=96KB,cycles=2M") == Budget(24 * 1024, 96 * 1024, 2_000_000)
    assert parse_budget(" RAM = 1.5KiB ") == Budget(ram=1536)
    assert parse_budget("cycles=300K").items() == {"cycles": 300_000}


@pytest.mark.parametrize("text, says", [
    ("ram=12QB", "ram='12QB'"), ("ram", "expected NAME=VALUE"), ("speed=3", "unknown resource 'speed'"),
    ("ram=1KB,ram=2KB", "names 'ram' twice"), ("", "budget is empty"), ("cycles=-5", "cycles='-5'"),
    ("ram=nan", "ram='nan'"), ("flash=0", "at least 1"), ("cycles=2MB", "cycles='2MB'"),
])
def test_bad_budget_is_one_line(capsys, text, says):
    with pytest.raises(BudgetError, match=says.replace("(", r"\(").replace(")", r"\)")):
        parse_budget(text)
    code, _out, err = run_cli(capsys, ["compress", "no_such.py:f", "--data", "digits", "--structured",
                                      "--budget", text, "-o", "x.pt2"])
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and says in lines[0] and "Traceback" not in err, err


def test_budget_needs_structured(capsys):
    code, _out, err = run_cli(capsys, ["compress", "no_such.py:f", "--data", "digits", "--budget", "ram=1KB",
                                       "-o", "x.pt2"])
    assert code == 2 and err.count("\n") == 1 and "--structured" in err


@pytest.mark.parametrize("args, says", [
    (["compress", "--sparsity", "0.5", "--gate-frac", "0.1"], "--gate-frac tune budget-driven pruning"),
    (["compress", "--sparsity", "0.5", "--refill", "0.9", "--min-width", "0.2"], "--refill/--min-width tune"),
    (["sweep", "--sparsity", "0.5", "--refill", "0.9"], "--refill tune budget-driven points"),
])
def test_tuning_options_need_a_budget(capsys, args, says):
    code, _out, err = run_cli(capsys, [args[0], "no_such.py:f", "--data", "digits", *args[1:], "-o", "x.pt2"])
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and says in lines[0] and "Traceback" not in err, err


@pytest.mark.parametrize("opt, value", [("--gate-frac", "0"), ("--gate-frac", "1.5"), ("--refill", "-1"),
                                        ("--min-width", "nan"), ("--min-width", "2")])
def test_tuning_option_values_are_checked_while_parsing(capsys, opt, value):
    code, _out, err = run_cli(capsys, ["compress", "no_such.py:f", "--data", "digits", "--structured", "--budget",
                                       "ram=1KB", opt, value, "-o", "x.pt2"])
    assert code == 2 and f"Invalid value for '{opt}'" in err and "Traceback" not in err, err


def test_tuning_options_reach_the_schedule(capsys, tmp_path, monkeypatch):
    """compress --gate-frac/--refill/--min-width arrive in budget_compress as its keyword arguments,
    absent ones leave its defaults; sweep carries them (and --distill) in its settings."""
    from mcudeploy.cli import sweep_cmd
    from mcudeploy.compress import budget_run
    from mcudeploy.errors import McdError

    seen = []

    def capture(*a, **kw):
        seen.append(kw)
        raise McdError("captured")

    monkeypatch.setattr(budget_run, "budget_compress", capture)
    fixture = Path(__file__).parent / "fixtures" / "digits_resnet.py"
    base = ["compress", f"{fixture}:digits_resnet", "--data", "digits", "--limit", "64", "--structured",
            "--budget", "ram=2KB", "-o", tmp_path / "m.pt2"]
    code, _out, err = run_cli(capsys, [*base, "--gate-frac", "0.05", "--refill", "0.9", "--min-width", "0.25"])
    assert code != 0 and "captured" in err, err
    assert (seen[0]["gate_frac"], seen[0]["refill"], seen[0]["min_width_frac"]) == (0.05, 0.9, 0.25)
    run_cli(capsys, base)
    assert not {"gate_frac", "refill", "min_width_frac"} & set(seen[1])
    assert not (tmp_path / "m.pt2").exists()

    specs = []
    monkeypatch.setattr(sweep_cmd, "run_sweep", lambda spec, *a, **k: specs.append(spec) or (_ for _ in ()).throw(
        McdError("captured")))
    run_cli(capsys, ["sweep", "m.py:f", "--data", "digits", "--budgets", "ram=2KB", "--distill", "--gate-frac",
                     "0.05", "--min-width", "0", "-o", tmp_path / "sw"])
    s = specs[0]
    assert (s.distill, s.gate_frac, s.refill, s.min_width_frac) == (True, 0.05, None, 0.0)


def test_sweep_settings_name_the_schedule_only_when_given():
    """A sweep written before the schedule options existed has the same settings as one that gives
    none of them (it resumes); giving one makes them other settings."""
    from mcudeploy import sweep

    plain = sweep.Spec("m.py:f", None, "digits")
    assert set(sweep.spec_config(plain)) == {"model", "weights", "data", "eval_data", "limit", "eval_limit",
                                            "epochs", "lr", "emulate_samples", "board"}
    tuned = sweep.spec_config(sweep.Spec("m.py:f", None, "digits", distill=True, min_width_frac=0.0))
    assert tuned["distill"] is True and tuned["min_width_frac"] == 0.0 and "gate_frac" not in tuned


# --- the resource functions ------------------------------------------------------------------------

def _random_mask(gates: ChannelGates, seed: int, p: float = 0.5) -> torch.Tensor:
    h = (torch.rand(len(gates.theta), generator=torch.Generator().manual_seed(seed)) > p).float()
    h[list(gates.keep_one())] = 1.0
    return h


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_estimate_equals_planner_and_codegen_after_pruning(model_rm, digits, seed):
    """At a mask, the arena is the planner's and the weight bytes are layer_bytes' of the pruned model."""
    (x, _), _ = digits
    model, an, rm = model_rm
    gates = ChannelGates(model, an, rm)
    h = _random_mask(gates, seed)
    gates.mask = h
    small = gates.shrunk(model)
    _ep, g2, p2 = int8_graph(small, x[:64])
    assert float(rm.arena(h)) == compiled_arena_bytes(g2) <= p2.arena_bytes  # what compile plans (layout passes)
    stored = sum(sum(layer_bytes(g2, op).values()) for op in g2.ops if "weight" in op.arrays)
    assert abs(float(rm.flash(h)) - stored) <= 0.02 * stored, (float(rm.flash(h)), stored)


def test_gated_network_equals_shrunk(model_rm, digits):
    (x, _), _ = digits
    model, an, rm = model_rm
    gates = ChannelGates(model, an, rm)
    gates.mask = _random_mask(gates, 3)
    gates.current = gates.hard()
    gates.attach(model)
    try:
        with torch.no_grad():
            want = model(torch.from_numpy(x[:32]))
    finally:
        gates.detach()
    with torch.no_grad():
        got = gates.shrunk(model)(torch.from_numpy(x[:32]))
    assert torch.allclose(got, want, atol=1e-4)


def test_penalty_gradient_acts_on_the_peak(model_rm):
    """d arena / d gate is H*W for channels live at the peak step and 0 for the others."""
    _model, _an, rm = model_rm
    G = torch.ones(len(rm.roots), requires_grad=True)
    live = rm.live_bytes(G.detach())
    peak = int(live.argmax())
    rm.arena(G).backward()
    grad = G.grad
    assert (grad > 0).any() and (grad == 0).any()
    # every channel with a gradient belongs to a buffer live at the peak step
    on_peak = set()
    for key, lo, hi, _f in rm.buffers:
        if lo <= peak <= hi and not key.startswith("scratch:") and key in rm.tensors:
            on_peak.update(rm.tensors[key].idx.tolist())
    assert {int(i) for i in torch.nonzero(grad).flatten()} <= on_peak | {
        int(i) for key, lo, hi, _f in rm.buffers if lo <= peak <= hi and key.startswith("scratch:")
        for i in rm.tensors[next(op for op in rm.graph.ops if op.name == key[8:]).inputs[0]].idx.tolist()}


@pytest.mark.parametrize("resource", ["ram", "flash", "cycles"])
def test_penalty_descent_lowers_the_resource(model_rm, resource):
    """Gradient steps on the penalty alone lower the resource of the hard network."""
    model, an, rm = model_rm
    gates = ChannelGates(model, an, rm)
    before = float(rm.resource(resource, gates.hard()))
    opt = torch.optim.SGD([gates.theta], lr=50.0 / before)
    for _ in range(30):
        opt.zero_grad()
        rm.resource(resource, torch.sigmoid(gates.theta)).backward()
        assert torch.isfinite(gates.theta.grad).all() and gates.theta.grad.abs().sum() > 0
        opt.step()
    after = float(rm.resource(resource, gates.hard()))
    assert after < 0.9 * before, (before, after)



def test_distillation_is_the_task_loss_of_the_gate_schedule(model_rm, digits):
    """With ``loss_fn`` (a Distiller of the dense model) every step, the Taylor importance included,
    trains on it: called with the batch's row indices, and a teacher whose soft outputs disagree
    with the labels moves the network towards the teacher, not towards the labels."""
    from mcudeploy.compress.distill import Distiller
    from mcudeploy.compress.gates import train_to_budget

    model, an, rm = model_rm
    (x, y), _ = digits
    x, y = x[:512], y[:512]
    seen = []
    teacher = Distiller(torch.nn.functional.one_hot(torch.from_numpy((y + 1) % 10).long(), 10).float() * 20,
                        y, temperature=1.0, alpha=1.0)  # the teacher says "the next class", confidently

    def spy(logits, idx):
        assert len(idx) == len(logits) and int(idx.max()) < len(x)
        seen.append(idx.clone())
        return teacher(logits, idx)

    student = copy.deepcopy(model)
    gates = ChannelGates(student, an, rm)
    dense_arena = float(rm.arena(gates.hard()))
    hist = train_to_budget(student, gates, {"ram": 0.8 * dense_arena}, x, y, epochs=4, lr=1e-2, loss_fn=spy)
    assert len(seen) == min(8, len(x) // 64) + hist["steps"]  # the importance batches and every step
    small = gates.shrunk(student)
    with torch.no_grad():
        pred = small(torch.from_numpy(x)).argmax(1).numpy()
    assert (pred == (y + 1) % 10).mean() > max(0.3, (pred == y).mean())
    assert float(rm.arena(gates.hard())) <= 0.8 * dense_arena

# --- end to end: the budget is met on the built firmware --------------------------------------------

def test_budget_met_after_compile(trained, digits, tmp_path):
    from conftest import need_toolchain
    from mcudeploy.compress.budget_run import budget_compress
    from mcudeploy.compress.measure import arena_from_map

    need_toolchain()
    (x, y), (xt, yt) = digits
    _ep, _g, p = int8_graph(trained, x[:64])
    budget = Budget(ram=int(0.6 * p.arena_bytes))
    res = budget_compress(trained, torch.from_numpy(x[:1]), (x, y), (xt, yt), budget, epochs=2, lr=3e-3,
                          workdir=tmp_path)
    r = res.report
    ram = r["resources"][0]
    assert r["met"] and ram["measured"] <= budget.ram and ram["resource"] == "ram"
    link_map = Path(r["project"]) / "firmware" / "nucleo-f446re" / "build-emu" / "firmware.map"
    assert arena_from_map(link_map) == ram["measured"] == json.loads(
        (Path(r["project"]) / "project.json").read_text())["arena_bytes"]
    assert ram["estimate"] == ram["measured"]  # the estimate is the planner's own arena
    assert r["accuracy"]["after"] > 50.0, r["accuracy"]  # still a classifier (chance: 10 %) after 2 epochs
    assert any(g["channels_after"] < g["channels_before"] for g in r["channel_groups"])


def _run_with_builds(trained, digits, tmp_path, monkeypatch, factors, refill=0.95, budget_frac=0.6, **kw):
    """budget_compress with the build replaced by the planner's arena of each round's model times
    ``factors[round]``: a code generator that plans the pruned model tighter (< 1) or looser (> 1)
    than the penalty's model of the planner. Returns the result and each round's (open channels,
    measured arena)."""
    from mcudeploy.compress import budget_run

    (x, y), (xt, yt) = digits
    _ep, g, p = int8_graph(trained, x[:64])
    dense = {"ram": p.arena_bytes, "flash": 1, "cycles": 1, "engine_code_bytes": 0,
             "layer_cycles": {op.name: 1000 * (i + 1) for i, op in enumerate(g.ops)}}
    builds: dict[str, tuple[int, int]] = {}

    def fake_compile(small, calib, outdir, host_check=True):
        arena = compiled_arena_bytes(int8_graph(small, calib)[1])
        chans = sum(m.out_channels for m in small.modules() if isinstance(m, torch.nn.Conv2d))
        builds[str(outdir)] = (chans, int(factors[len(builds)] * arena))

    monkeypatch.setattr(budget_run, "compile_to", fake_compile)
    monkeypatch.setattr(budget_run, "measure_project",
                        lambda outdir, board=None: {"ram": builds[str(outdir)][1], "flash": 0, "cycles": 0})
    budget = Budget(ram=int(budget_frac * p.arena_bytes))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        res = budget_run.budget_compress(trained, torch.from_numpy(x[:1]), (x[:640], y[:640]), (xt, yt), budget,
                                         epochs=1, lr=3e-3, dense=dense, refill=refill, workdir=tmp_path,
                                         **kw)
    finally:
        torch.set_num_threads(threads)
    return res, budget, list(builds.values())


def test_refill_reopens_channels_when_the_build_is_under_the_estimate(trained, digits, tmp_path, monkeypatch):
    res, budget, builds = _run_with_builds(trained, digits, tmp_path, monkeypatch, [0.75, 0.75, 0.75])
    r = res.report
    assert len(builds) >= 2 and r["rounds"][0]["reopened"] > 0
    assert builds[1][0] > builds[0][0]  # more channels in the second build
    assert r["met"] and builds[0][1] < r["resources"][0]["measured"] <= budget.ram
    assert r["project"].endswith(f"check{len(builds) - 1}")
    # without refill the first build is the answer
    res0, _b, builds0 = _run_with_builds(trained, digits, tmp_path / "off", monkeypatch, [0.75], refill=None)
    assert len(builds0) == 1 and res0.report["resources"][0]["measured"] == builds0[0][1]


def test_refill_that_misses_keeps_the_last_result_that_met(trained, digits, tmp_path, monkeypatch):
    res, budget, builds = _run_with_builds(trained, digits, tmp_path, monkeypatch, [0.75, 3.0, 10.0])
    r = res.report
    assert builds[1][1] > budget.ram  # the refilled build missed
    assert r["met"] and r["resources"][0]["measured"] == builds[0][1] <= budget.ram
    assert r["rounds"][-1] == {"kept_round": 1} and r["project"].endswith("check0")
    chans = sum(m.out_channels for m in res.model.modules() if isinstance(m, torch.nn.Conv2d))
    assert chans == builds[0][0]  # the model returned is the one of the first build


# --- the width floor ---------------------------------------------------------------------------------

def test_seed_repeats_the_schedule_and_another_seed_changes_it(trained, digits, tmp_path, monkeypatch):
    """budget_compress(seed=...) (benchmarks/budget_pruning.py --seed): the same seed gives the same
    pruned weights, another seed another batch order and so other weights; its report names it."""
    runs = {}
    for tag, seed in (("a", 0), ("b", 0), ("c", 1)):
        res, _b, _builds = _run_with_builds(trained, digits, tmp_path / tag, monkeypatch, [1.0] * 3, refill=None,
                                            seed=seed)
        runs[tag] = (res.model.state_dict(), res.report["settings"]["seed"])
    same = all(torch.equal(v, runs["b"][0][k]) for k, v in runs["a"][0].items())
    differ = any(not torch.equal(v, runs["c"][0][k]) for k, v in runs["a"][0].items() if v.is_floating_point())
    assert same and differ and (runs["a"][1], runs["c"][1]) == (0, 1)


def test_width_floor_values():
    from mcudeploy.compress.gates import width_floor

    assert width_floor(128, 128, 0.125) == 16 and width_floor(32, 32, 0.125) == 4  # max(4, ceil(f * width))
    assert width_floor(3, 3, 0.125) == 3 and width_floor(100, 100, 0.125) == 13 and width_floor(64, 64, 0) == 1


def _open_per_group(gates: ChannelGates, h: torch.Tensor) -> list[int]:
    return [int((h[idx] > 0).sum()) for idx in gates.groups]


def test_tighten_stops_at_the_width_floor(model_rm):
    """An unreachable target: with the floor every group keeps its floor (and the estimate stays over,
    which the build then reports as a miss); without it the same descent cuts groups below it."""
    from mcudeploy.compress.gates import over_budget, scaled_estimate, tighten

    model, an, rm = model_rm
    counts = {}
    for frac in (0.5, 0.0):
        gates = ChannelGates(model, an, rm, min_width_frac=frac)
        gates.mask = torch.ones(len(gates.theta))
        tighten(gates, {"ram": 1.0}, {})
        h = gates.hard()
        counts[frac] = _open_per_group(gates, h)
        assert all(n >= f for n, f in zip(counts[frac], gates.floors))
        assert over_budget(scaled_estimate(rm, h, {}, ["ram"]), {"ram": 1.0})
        if frac:
            assert gates.floors == [max(4, -(-len(g) // 2)) for g in gates.groups]
            with torch.no_grad():  # logits all closed: hard() still opens each group to its floor
                gates.theta.fill_(-1.0)
            gates.mask = None
            assert _open_per_group(gates, gates.hard()) == gates.floors
    assert any(a < f for a, f in zip(counts[0.0], ChannelGates(model, an, rm, min_width_frac=0.5).floors))


def test_width_floor_holds_and_budget_met_or_missed_clearly(trained, digits, tmp_path, monkeypatch):
    """End to end (builds replaced by the planner's arena): a reachable budget is met with every group
    at or above its floor; a floor of the whole width cannot reach it, and the run says so."""
    from mcudeploy.compress.budget_run import missed_message
    from mcudeploy.compress.gates import width_floor

    res, budget, _b = _run_with_builds(trained, digits, tmp_path / "a", monkeypatch, [1.0, 1.0, 1.0], refill=None,
                                       min_width_frac=0.5)
    r = res.report
    assert r["met"] and r["settings"]["min_width_frac"] == 0.5
    pruned = [g for g in r["channel_groups"] if g["prunable"]]
    assert any(g["channels_after"] < g["channels_before"] for g in pruned)
    assert all(g["channels_after"] >= width_floor(g["channels_before"], g["channels_before"], 0.5) for g in pruned)
    res, budget, _b = _run_with_builds(trained, digits, tmp_path / "b", monkeypatch, [1.0, 1.0, 1.0], refill=None,
                                       min_width_frac=1.0)
    r = res.report
    assert not r["met"] and r["resources"][0]["measured"] > budget.ram
    assert all(g["channels_after"] == g["channels_before"] for g in r["channel_groups"])
    msg = missed_message(r)
    assert "\n" not in msg and "width floor" in msg and f"budget {budget.ram:,}" in msg


# --- the sweep resumes ------------------------------------------------------------------------------

def _fake_point(spec, point, pdir, dense):
    """Stands in for run_point: records the call; 'budget-ram2000' fails once (an interruption)."""
    calls = Path(spec["model"]).parent / "calls.txt"
    with open(calls, "a") as f:
        f.write(point["key"] + "\n")
    if point["key"] == "budget-ram2000" and not (Path(spec["model"]).parent / "failed").exists():
        (Path(spec["model"]).parent / "failed").write_text("1")
        raise KeyboardInterrupt
    rec = {"key": point["key"], "method": point.get("budget") and "budget" or "dense",
           "measured": {"ram": 4000 - len(point["key"]), "flash": 9000, "cycles": 100_000},
           "layer_cycles": {}, "int8_top1": 90.0, "emulated": {"samples": 2, "bit_exact": 2}}
    Path(pdir).mkdir(parents=True, exist_ok=True)
    (Path(pdir) / "point.json").write_text(json.dumps(rec))
    return rec


def test_sweep_resumes(tmp_path, monkeypatch):
    from mcudeploy import sweep

    monkeypatch.setattr(sweep, "run_point", _fake_point)
    spec = sweep.Spec(str(tmp_path / "m.py:f"), None, "digits")
    points = sweep.parse_points(budgets="ram=3000:2000:1000")
    out = tmp_path / "sw"
    with pytest.raises(KeyboardInterrupt):
        sweep.run_sweep(spec, points, out, jobs=1)
    first = (tmp_path / "calls.txt").read_text().split()
    assert first[:3] == ["dense", "budget-ram3000", "budget-ram2000"]
    rep = sweep.run_sweep(spec, points, out, jobs=1)
    second = (tmp_path / "calls.txt").read_text().split()[len(first):]
    assert "dense" not in second and "budget-ram3000" not in second and "budget-ram2000" in second
    assert [p["key"] for p in rep["points"]] == [p["key"] for p in points]
    for f in ("pareto.png", "pareto.svg", "index.html", "sweep.json"):
        assert (out / f).stat().st_size > 0
    assert json.loads((out / "sweep.json").read_text())["status"] == "done"
    with pytest.raises(Exception, match="other settings"):
        sweep.run_sweep(spec, sweep.parse_points(sparsity="0.5"), out, jobs=1)


def test_sweep_refuses_a_foreign_directory(tmp_path):
    from mcudeploy import sweep
    from mcudeploy.errors import OutputError

    (tmp_path / "mine.txt").write_text("keep")
    with pytest.raises(OutputError, match="not a sweep directory"):
        sweep.run_sweep(sweep.Spec("m.py:f", None, "digits"), sweep.parse_points(sparsity="0.5"), tmp_path)
    assert (tmp_path / "mine.txt").read_text() == "keep"


@pytest.mark.parametrize("budgets, says", [("ram=1KB:2KB,cycles=1M:2M:3M", "needs 3 values"),
                                           ("speed=1:2", "expected NAME=V1:V2"), ("ram=1QB:2KB", "ram='1QB'")])
def test_sweep_bad_budgets_one_line(capsys, budgets, says):
    code, _out, err = run_cli(capsys, ["sweep", "m.py:f", "--data", "digits", "--budgets", budgets, "-o", "x"])
    assert code == 2 and err.count("\n") == 1 and says in err, err


def test_board_budget_is_what_the_firmware_leaves():
    from mcudeploy.boards import load_board
    from mcudeploy.compress.budget import board_budget

    b = load_board("nucleo-f446re")
    got = board_budget(b, runtime_ram=9_000, runtime_flash=7_000, base=Budget(ram=4096, cycles=10))
    assert got == Budget(ram=4096, flash=b.flash.size - 7_000, cycles=10)   # the tighter RAM wins
    assert board_budget(b, 9_000, 7_000).ram == b.ram.size - 9_000
    with pytest.raises(BudgetError, match="leaves no room"):
        board_budget(b, b.ram.size, 7_000)


def test_missed_budget_message_is_one_line():
    from mcudeploy.compress.budget_run import BudgetMissedError, missed_message

    rep = {"resources": [{"resource": "ram", "measured": 5000, "budget": 4096, "unit": "B (arena)", "met": False},
                         {"resource": "cycles", "measured": 10, "budget": 20, "unit": "estimated_cycles", "met": True}]}
    msg = missed_message(rep)
    assert "\n" not in msg and "ram measured 5,000 > budget 4,096" in msg and "cycles" not in msg
    assert BudgetMissedError.exit_code != 0
