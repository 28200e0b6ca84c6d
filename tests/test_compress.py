"""compress: magnitude masks, the budget search, masks kept by hooks, channel groups and surgery,
the compress command end to end (its .pt2 compiles)."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner
from mcudeploy import datasets
from mcudeploy.compress import (
    Finetuner,
    apply_masks,
    channel_groups,
    compress_file,
    compress_model,
    count_macs_params,
    magnitude_masks,
    prunable_weights,
    sparsity_report,
)
from mcudeploy.compress.prune import halving_levels, schedule, search_level
from mcudeploy.compress.structured import analyze, select, shrink
from mcudeploy.errors import McdError
from mcudeploy.paths import ROOT
from mcudeploy.train import example_factory
from torch import nn

EX = torch.zeros(1, 1, 28, 28)


def _seeded(name):
    torch.manual_seed(0)
    return example_factory(name)().eval()


# --- unstructured ----------------------------------------------------------------------------------

def test_global_masks_hit_the_exact_count_and_prune_small_weights_first():
    m = _seeded("lenet5")
    masks = magnitude_masks(m, 0.9)
    total = sum(v.numel() for v in masks.values())
    assert sum(int((v == 0).sum()) for v in masks.values()) == round(0.9 * total)
    w = prunable_weights(m)
    kept = torch.cat([w[n].detach().abs().flatten()[masks[n].flatten() == 1] for n in masks])
    gone = torch.cat([w[n].detach().abs().flatten()[masks[n].flatten() == 0] for n in masks])
    assert gone.max() <= kept.min()
    # one threshold: the layer with the smallest weights (fc1, largest fan-in) loses the most
    rate = {n: float((v == 0).float().mean()) for n, v in masks.items()}
    assert rate["fc1.weight"] == max(rate.values()) and rate["fc1.weight"] > 0.9


def test_layer_scope_dict_and_monotone_masks():
    m = _seeded("lenet5")
    per = magnitude_masks(m, 0.5, scope="layer")
    for n, v in per.items():
        assert int((v == 0).sum()) == round(0.5 * v.numel()), n
    one = magnitude_masks(m, {"fc1.weight": 0.75})
    assert float((one["fc1.weight"] == 0).float().mean()) == 0.75
    assert all(bool((v == 1).all()) for n, v in one.items() if n != "fc1.weight")
    low = magnitude_masks(m, 0.6)
    high = magnitude_masks(m, 0.7, masks=low)
    assert all(bool((high[n] <= low[n]).all()) for n in low)  # pruned once, pruned for good
    with pytest.raises(ValueError, match="no prunable weight"):
        magnitude_masks(m, {"nope": 0.5})


def test_per_layer_fractions_with_a_global_total():
    """--layer-sparsity: named layers get their fraction, the rest one threshold that keeps the
    total at the target; the ramp (prune_to) ends exactly there; bad names are refused."""
    from mcudeploy.compress.prune import prune_to

    m = _seeded("lenet5")
    masks = magnitude_masks(m, 0.9, per_layer={"conv1": 0.7, "conv2.weight": 0.85})
    zeros = {n: int((v == 0).sum()) for n, v in masks.items()}
    sizes = {n: v.numel() for n, v in masks.items()}
    assert zeros["conv1.weight"] == round(0.7 * 150) and zeros["conv2.weight"] == round(0.85 * 2400)
    assert abs(sum(zeros.values()) - 0.9 * sum(sizes.values())) <= 2
    rest = ("fc1.weight", "fc2.weight", "fc3.weight")
    w = prunable_weights(m)
    kept = torch.cat([w[n].detach().abs().flatten()[masks[n].flatten() == 1] for n in rest])
    gone = torch.cat([w[n].detach().abs().flatten()[masks[n].flatten() == 0] for n in rest])
    assert gone.max() <= kept.min()  # one threshold over the layers not named
    m2, final = prune_to(_seeded("lenet5"), 0.9, None, steps=3, per_layer={"conv1": 0.7})
    assert int((final["conv1.weight"] == 0).sum()) == 105
    total = sum(v.numel() for v in final.values())  # earlier rounds' zeros do not skew the total
    assert abs(sum(int((v == 0).sum()) for v in final.values()) - 0.9 * total) <= 2
    assert float((m2.conv1.weight == 0).float().mean()) == pytest.approx(0.7)
    with pytest.raises(ValueError, match="no prunable weight"):
        magnitude_masks(m, 0.9, per_layer={"conv9": 0.5})


def test_apply_masks_writes_positive_zero_and_report_counts():
    m = _seeded("lenet5")
    apply_masks(m, magnitude_masks(m, 0.8))
    rep = sparsity_report(m)
    assert abs(rep["total"]["sparsity"] - 0.8) < 1e-4
    assert not any(bool(torch.signbit(p[p == 0]).any()) for p in prunable_weights(m).values())
    assert [r["name"] for r in rep["layers"]] == ["conv1.weight", "conv2.weight", "fc1.weight",
                                                  "fc2.weight", "fc3.weight"]


@pytest.fixture(scope="module")
def lenet_pt2(tmp_path_factory):
    """An untrained LeNet as a .pt2 with a dynamic batch (exported once: export is slow)."""
    path = tmp_path_factory.mktemp("pt2") / "lenet.pt2"
    ep = torch.export.export(_seeded("lenet5"), (torch.zeros(2, 1, 28, 28),),
                             dynamic_shapes=({0: torch.export.Dim("batch", max=1 << 16)},))
    torch.export.save(ep, str(path))
    return path


def test_exported_module_has_the_same_prunable_weights(lenet_pt2):
    gm = torch.export.load(str(lenet_pt2)).module()
    assert list(prunable_weights(gm)) == list(prunable_weights(_seeded("lenet5")))


def test_schedules():
    assert schedule(0.9, 3)[-1] == 0.9 and schedule(0.9, 3) == sorted(schedule(0.9, 3))
    assert halving_levels(0.5, 0.97) == [0.5, 0.75, 0.875, 0.9375, 0.96875]


def test_search_finds_the_highest_level_within_budget_by_bisection():
    # score falls linearly with the level: 100 - 10 * level; budget 5 points -> level 0.5
    def trial(base, level):
        return {"level": level}, level

    res = search_level({"level": 0.0}, trial, lambda m: 100 - 10 * m["level"], 5.0,
                       [0.2, 0.4, 0.6, 0.8], refine=3)
    assert res.level == pytest.approx(0.5) and res.baseline == 100
    assert [t["pass"] for t in res.trials] == [True, True, False, True, False, False]


# --- fine-tuning -----------------------------------------------------------------------------------

def test_user_hook_cannot_revive_pruned_weights():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 2))
    masks = magnitude_masks(model, 0.5, scope="layer")
    seen = []
    x, y = torch.rand(64, 1, 4, 4), torch.randint(0, 2, (64,))

    def my_loop(m, _masks):  # knows nothing about pruning; momentum would revive weights
        opt = torch.optim.SGD(m.parameters(), lr=0.5, momentum=0.9, weight_decay=1e-3)
        for _ in range(5):
            loss = F.cross_entropy(m(x), y)
            seen.append(float(m[1].weight.detach()[masks["1.weight"] == 0].abs().max()))
            opt.zero_grad()
            loss.backward()
            opt.step()

    out = Finetuner(hook=my_loop)(model, masks)
    assert out is model and max(seen) == 0.0  # zero at every forward
    assert all(bool((p.detach()[masks[n] == 0] == 0).all()) for n, p in model.named_parameters()
               if n in masks)


def test_exported_modules_fine_tune_with_masks(lenet_pt2):
    x, y = datasets.load("mnist", "train", limit=128)
    gm = torch.export.load(str(lenet_pt2)).module()
    masks = magnitude_masks(gm, 0.9)
    apply_masks(gm, masks)
    before = gm.fc2.weight.detach().clone()
    Finetuner(x, y, epochs=1)(gm, masks)
    assert sparsity_report(gm)["total"]["sparsity"] >= 0.9
    assert not torch.equal(before, gm.fc2.weight.detach())
    # an archive exported for batch 1 only is trained one sample at a time
    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(784, 8), nn.ReLU(), nn.Linear(8, 10))
    gm1 = torch.export.export(mlp, (torch.zeros(1, 1, 28, 28),)).module()
    masks = magnitude_masks(gm1, 0.5)
    before = gm1.get_parameter("3.weight").detach().clone()
    Finetuner(x[:16], y[:16], epochs=1, batch_size=8)(gm1, masks)
    assert not torch.equal(before, gm1.get_parameter("3.weight").detach())
    assert sparsity_report(gm1)["total"]["sparsity"] >= 0.5


# --- structured ------------------------------------------------------------------------------------

class Toy(nn.Module):
    """Residual add, concat, depthwise conv, a conv with bias and no BN, flatten -> linear."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 8, 3, padding=1)
        self.b1 = nn.BatchNorm2d(8)
        self.c2 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.b2 = nn.BatchNorm2d(8)
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.pa = nn.Conv2d(8, 6, 1)
        self.pb = nn.Conv2d(8, 4, 3, padding=1)
        self.fc = nn.Linear(10 * 4 * 4, 5)

    def forward(self, x):
        x = F.relu(self.b1(self.c1(x)))
        x = F.relu(x + self.b2(self.c2(x)))
        x = F.relu(self.dw(x))
        x = torch.cat([self.pa(x), F.relu(self.pb(x))], dim=1)
        x = F.max_pool2d(x, 2)
        return self.fc(x.view(x.size(0), -1))


def _randomize_bn(m):
    g = torch.Generator().manual_seed(1)
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):
            n = mod.num_features
            mod.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
            mod.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            mod.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            mod.bias.data.copy_(torch.randn(n, generator=g) * 0.1)
    return m.eval()


def test_groups_follow_residual_adds_and_concats():
    got = channel_groups(_seeded("resnet_small"), EX)
    assert [(g["producers"], g["channels"], g["prunable"]) for g in got] == [
        (["stem.0", "block1.b.0"], 16, True), (["block1.a.0"], 16, True), (["block2.a.0"], 32, True),
        (["block2.b.0", "block2.proj.0"], 32, True), (["branch3.0"], 16, True),
        (["branch1.0"], 16, True), (["fc"], 10, False)]
    toy = channel_groups(Toy(), torch.zeros(1, 1, 8, 8))
    assert [(g["producers"], g["channels"]) for g in toy] == [
        (["c1", "c2"], 8), (["pa"], 6), (["pb"], 4), (["fc"], 5)]


def test_surgery_equals_zeroing_the_removed_channels():
    """Removing channels must compute exactly what the full model computes with those channels
    zeroed at their source (filter, bias and BatchNorm affine set to 0)."""
    torch.manual_seed(0)
    for model, ex in ((_randomize_bn(Toy()), torch.rand(4, 1, 8, 8)),
                      (_randomize_bn(_seeded("resnet_small")), torch.rand(4, 1, 28, 28))):
        an = analyze(model, ex)
        drop = select(an.groups, 0.5)
        zeroed = copy.deepcopy(model)
        with torch.no_grad():
            for name, u in an.uses.items():
                idx = [k for k, i in enumerate(u["out"]) if an.find(i) in drop]
                mod = zeroed.get_submodule(name)
                if u["kind"] in ("conv", "linear", "bn", "depthwise"):
                    mod.weight[idx] = 0
                    if mod.bias is not None:
                        mod.bias[idx] = 0
        small = shrink(copy.deepcopy(model), an, drop)
        assert count_macs_params(small, ex)["params"] < count_macs_params(model, ex)["params"]
        with torch.no_grad():
            torch.testing.assert_close(small(ex), zeroed(ex), rtol=1e-5, atol=1e-5)


def test_literal_reshape_freezes_channels_instead_of_breaking():
    lenet = _seeded("lenet5")

    class Literal(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = lenet

        def forward(self, x):
            x = F.max_pool2d(F.relu(self.inner.conv1(x)), 2)
            x = F.max_pool2d(F.relu(self.inner.conv2(x)), 2).view(-1, 400)
            return self.inner.fc3(F.relu(self.inner.fc2(F.relu(self.inner.fc1(x)))))

    groups = {g["producers"][0]: g["prunable"] for g in channel_groups(Literal(), EX)}
    assert groups == {"inner.conv1": True, "inner.conv2": False, "inner.fc1": True,
                      "inner.fc2": True, "inner.fc3": False}


def test_resnet_macs_and_structured_result():
    m = _seeded("resnet_small")
    assert count_macs_params(m, EX)["macs"] == 1_885_056
    res = compress_model(m, EX, sparsity=0.3, structured=True)
    assert res.report["macs_reduction"] > 0.4 and res.report["params_reduction"] > 0.4
    assert res.model.fc.in_features < 32 and m.fc.in_features == 32  # the original is untouched
    assert all(r.get("shape_before") for r in res.report["layers"] if r["name"] != "stem.0.weight")


# --- end to end ------------------------------------------------------------------------------------

def test_compress_command_writes_a_pt2_that_compiles(lenet, tmp_path):
    from mcudeploy.cli import cli
    from mcudeploy.pipeline import compile_model

    _model, weights = lenet
    out, rep = tmp_path / "pruned.pt2", tmp_path / "rep.json"
    r = CliRunner().invoke(cli, ["compress", f"{ROOT}/examples/lenet5.py:lenet5", "--weights",
                                 str(weights), "--data", "mnist", "--sparsity", "0.9", "--steps", "1",
                                 "--epochs", "1", "--limit", "2000", "--eval-limit", "500",
                                 "-o", str(out), "--json", str(rep)])
    assert r.exit_code == 0, r.output + str(r.exception)
    doc = json.loads(rep.read_text())
    assert doc["total"]["sparsity"] == pytest.approx(0.9, abs=1e-4)
    assert doc["accuracy"]["before"] - doc["accuracy"]["after"] < 3.0
    ep = torch.export.load(str(out))
    w = dict(ep.state_dict)
    nz = sum(int((w[n] != 0).sum()) for n in ("conv1.weight", "conv2.weight", "fc1.weight",
                                              "fc2.weight", "fc3.weight"))
    assert nz == doc["total"]["nonzeros"]
    res = compile_model(str(out), None, "mnist", tmp_path / "prj", calib_limit=32, host_check=False)
    assert res.report["params"] == 61_706


def test_structured_needs_a_module_and_budget_search_runs(lenet_pt2, tmp_path):
    pt2 = lenet_pt2
    with pytest.raises(McdError, match="needs the model as an nn.Module"):
        compress_file(str(pt2), None, "mnist", tmp_path / "o.pt2", sparsity=0.3, structured=True)
    with pytest.raises(McdError, match="exactly one"):
        compress_model(_seeded("lenet5"), EX, sparsity=0.5, max_accuracy_drop=1.0)
    # an untrained model on 200 samples: the search must still stop and report its trials
    res = compress_file(str(pt2), None, "mnist", tmp_path / "o.pt2", max_accuracy_drop=1.0,
                        limit=200, eval_limit=200, epochs=0)
    s = res.report["search"]
    assert s["trials"] and res.report["accuracy"]["unseen_after"] is not None
    assert np.isclose(res.report["total"]["sparsity"], s["level"], atol=1e-4)
    assert (tmp_path / "o.pt2").is_file()


def test_structured_budget_search_keeps_the_last_level_that_passed():
    x, y = datasets.load("fashion-mnist", "test", limit=64)
    m = _seeded("resnet_small")
    res = compress_model(m, EX, test=(x, y), max_accuracy_drop=100.0, structured=True, epochs=0)
    assert res.report["search"]["level"] == 0.7 and all(t["pass"] for t in res.report["search"]["trials"])
    assert res.report["channel_groups"][0]["channels_after"] == 5  # 16 - round(0.7 * 16)
    assert res.report["macs_after"] == count_macs_params(res.model, EX)["macs"]
