"""Combine-Net tools in compress: Kneedle on synthetic curves, adaptive BatchNorm on a pruned
digits net, the distillation loss by hand, and `compress --distill` / `--knee` end to end.

The knees below were also cross-checked once against the PyPI ``kneed`` 0.9.0 package (same
index on every curve here); it is not a dependency.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner
from mcudeploy.compress import compress_model, prune_channels
from mcudeploy.compress.adaptive_bn import recalibrate_bn
from mcudeploy.compress.distill import Distiller, distill_loss
from mcudeploy.compress.knee import knee_index, sweep_rates
from mcudeploy.errors import McdError
from mcudeploy.train import evaluate

X21 = np.linspace(0, 1, 21)

FIXTURES = Path(__file__).parent / "fixtures"
sys.path.insert(0, str(FIXTURES))
from bn_mlp import bn_mlp


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    """One torch thread here and in the fine-tuning loops: on a loaded machine two threads that meet
    at a barrier after every op of this tiny MLP wait for each other (the module took 10 min with 2)."""
    monkeypatch.setenv("MCUDEPLOY_TORCH_THREADS", "1")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def trained(digits):
    """A BatchNorm MLP trained on the digits train split (8 epochs, about a second): ~98 % held-out."""
    (x, y), _ = digits
    torch.set_num_threads(1)
    torch.manual_seed(0)
    m = bn_mlp()
    opt = torch.optim.Adam(m.parameters(), lr=0.01)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y).long()
    gen = torch.Generator().manual_seed(0)
    m.train()
    for _ in range(8):
        for idx in torch.randperm(len(yt), generator=gen).split(64):
            opt.zero_grad()
            F.cross_entropy(m(xt[idx]), yt[idx]).backward()
            opt.step()
    return m.eval()


# --- Kneedle ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("y, shape, knee", [
    (1 - X21 ** 4, ("concave", "decreasing"), 0.65),     # analytic (1/4)^(1/3) = 0.630, nearest grid point
    (np.where(X21 <= 0.6, 1 - 0.05 * X21, 0.97 * (1 - X21) / 0.4), ("concave", "decreasing"), 0.6),
    (np.exp(-8 * X21), ("convex", "decreasing"), 0.25),  # analytic ln(8/(1-e^-8))/8 = 0.26
    (np.log1p(20 * X21), ("concave", "increasing"), 0.3),
    (X21 ** 3, ("convex", "increasing"), 0.6),           # analytic 1/sqrt(3) = 0.577
])
def test_kneedle_finds_the_known_knee(y, shape, knee):
    assert X21[knee_index(X21, y, *shape)] == pytest.approx(knee)


def test_kneedle_edge_cases():
    assert knee_index([0.1, 0.3, 0.5, 0.7, 0.9], [90, 89.5, 88, 80, 40]) == 3
    assert knee_index(X21, 1 - X21) is None                   # a straight line does not bend
    assert knee_index([0.1, 0.2], [90, 10]) is None           # too short
    order = np.random.default_rng(0).permutation(21)          # unsorted rates: same knee
    assert X21[order][knee_index(X21[order], (1 - X21 ** 4)[order])] == pytest.approx(0.65)
    rates = sweep_rates()
    assert rates[0] == 0.1 and rates[-1] == 0.95 and len(rates) == 18


# --- adaptive BatchNorm ----------------------------------------------------------------------------

def test_adaptive_bn_changes_statistics_and_wins_back_accuracy(digits, trained):
    (x, _y), (xt, yt) = digits
    pruned, _ = prune_channels(trained, torch.from_numpy(xt[:1]), 0.5)
    bn = pruned[2]
    mean0, var0, mom0 = bn.running_mean.clone(), bn.running_var.clone(), bn.momentum
    stale = evaluate(pruned, xt, yt)
    w = pruned[1].weight.clone()
    assert recalibrate_bn(pruned, x, samples=512) == 2
    assert not pruned.training and bn.momentum == mom0 and torch.equal(pruned[1].weight, w)
    assert (bn.running_mean - mean0).abs().max() > 1e-3 and (bn.running_var - var0).abs().max() > 1e-3
    # momentum None: the stored mean is the plain average of the 8 batches' means
    h = pruned[1](pruned[0](torch.from_numpy(x))).detach()
    idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))[:512]
    assert torch.allclose(bn.running_mean, h[idx].mean(0), atol=1e-5)
    fresh = evaluate(pruned, xt, yt)
    # seeds 0-5, rate 0.5: +15 to +51 points (stale 36-80 %, recalibrated 68-91 %); 5 is a safe floor
    assert fresh - stale >= 0.05, (stale, fresh)


def test_adaptive_bn_in_compress_judges_candidates(digits, trained):
    (x, y), (xt, yt) = digits
    kw = {"train": (x, y), "test": (xt, yt), "sparsity": 0.5, "structured": True, "epochs": 0}
    plain = compress_model(trained, torch.from_numpy(xt[:1]), **kw)
    abn = compress_model(trained, torch.from_numpy(xt[:1]), adaptive_bn=True, **kw)
    assert abn.report["settings"]["adaptive_bn"] == 512
    assert abn.report["accuracy"]["after"] - plain.report["accuracy"]["after"] >= 5.0


# --- distillation ----------------------------------------------------------------------------------

def test_distill_loss_is_kl_times_t_squared_plus_ce():
    s = torch.tensor([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])
    t = torch.tensor([[2.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
    y = torch.tensor([1, 2])
    T, alpha = 4.0, 0.7
    ps, pt = np.exp(s.numpy() / T), np.exp(t.numpy() / T)
    ps, pt = ps / ps.sum(1, keepdims=True), pt / pt.sum(1, keepdims=True)
    kl = float(np.mean(np.sum(pt * (np.log(pt) - np.log(ps)), axis=1)))
    q = np.exp(s.numpy()) / np.exp(s.numpy()).sum(1, keepdims=True)
    ce = float(-np.mean(np.log(q[[0, 1], y.numpy()])))
    want = alpha * kl * T * T + (1 - alpha) * ce
    assert float(distill_loss(s, t, y, T, alpha)) == pytest.approx(want, rel=1e-5)
    assert float(distill_loss(s, s, y, T, 1.0)) == pytest.approx(0.0, abs=1e-6)
    d = Distiller(t, y, T, alpha)
    assert float(d(s[[1]], torch.tensor([1]))) == pytest.approx(float(distill_loss(s[[1]], t[[1]], y[[1]], T, alpha)))
    with pytest.raises(McdError, match="alpha"):
        Distiller(t, y, 4.0, 1.5)


def _write_model(tmp_path, trained):
    w = tmp_path / "bn_mlp.pt"
    torch.save(trained.state_dict(), w)
    return f"{FIXTURES}/bn_mlp.py:bn_mlp", str(w)


def test_compress_distill_end_to_end(tmp_path, trained):
    from mcudeploy.cli import cli

    spec, w = _write_model(tmp_path, trained)
    runs = {}
    for name, extra in (("plain", []), ("distill", ["--distill", "--distill-temperature", "3"])):
        out, rep = tmp_path / f"{name}.pt2", tmp_path / f"{name}.json"
        r = CliRunner().invoke(cli, ["compress", spec, "--weights", w, "--data", "digits", "--sparsity", "0.8",
                                     "--steps", "1", "--epochs", "1", "--limit", "400", "-o", str(out), "--json",
                                     str(rep), *extra])
        assert r.exit_code == 0, r.output + str(r.exception)
        runs[name] = (json.loads(rep.read_text()), dict(torch.export.load(str(out)).state_dict))
    doc = runs["distill"][0]
    assert doc["settings"]["distill"] == {"temperature": 3.0, "alpha": 0.7}
    assert runs["plain"][0]["settings"]["distill"] is None
    assert doc["accuracy"]["after"] > 80.0
    # the loss changed what fine-tuning learned: same masks, different surviving weights
    a, b = runs["plain"][1]["1.weight"], runs["distill"][1]["1.weight"]
    assert torch.equal(a == 0, b == 0) and not torch.allclose(a, b)
    r = CliRunner().invoke(cli, ["compress", spec, "--weights", w, "--data", "digits", "--sparsity", "0.8",
                                 "--distill", "--epochs", "0", "-o", str(tmp_path / "x.pt2")])
    assert isinstance(r.exception, McdError) and r.exception.exit_code == 2, r.output
    assert "--epochs >= 1" in str(r.exception) and not (tmp_path / "x.pt2").exists()


# --- knee ------------------------------------------------------------------------------------------

def test_compress_knee_picks_a_rate_and_the_pt2_compiles(tmp_path, trained):
    from mcudeploy.cli import cli
    from mcudeploy.pipeline import compile_model

    spec, w = _write_model(tmp_path, trained)
    out, rep = tmp_path / "knee.pt2", tmp_path / "knee.json"
    r = CliRunner().invoke(cli, ["compress", spec, "--weights", w, "--data", "digits", "--structured", "--knee",
                                 "--adaptive-bn", "--epochs", "1", "--limit", "400", "-o", str(out), "--json", str(rep)])
    assert r.exit_code == 0, r.output + str(r.exception)
    doc = json.loads(rep.read_text())
    k = doc["knee"]
    assert len(k["curve"]) == 18 and 0.1 <= k["rate"] <= 0.95
    assert k["rate"] == doc["settings"]["sparsity"] == doc["settings"]["channel_ratio"]
    assert f"knee (Kneedle) at rate {k['rate']:.2f}" in r.output and "<- knee" in r.output
    assert "unseen_after" in doc["accuracy"]
    res = compile_model(str(out), None, "digits", tmp_path / "prj", calib_limit=16, host_check=False)
    assert res.report["params"] < 64 * 64 + 64 * 64 + 64 * 10
    r = CliRunner().invoke(cli, ["compress", spec, "--weights", w, "--data", "digits", "--knee",
                                 "--sparsity", "0.5", "-o", str(tmp_path / "y.pt2")])
    assert isinstance(r.exception, McdError) and "exactly one of" in str(r.exception)
