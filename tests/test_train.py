"""The trainer: masks keep pruned weights at exactly zero, runs are reproducible, training learns."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from mcudeploy import datasets, train
from mcudeploy.paths import ROOT
from torch import nn


def _toy(n=256, seed=0):
    """Two classes of noisy 1x4x4 images: class 1 has a brighter left half."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.random((n, 1, 4, 4), dtype=np.float32) * 0.5
    x[y == 1, :, :, :2] += 0.5
    return x, y


def _mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 2))


def test_masks_keep_pruned_weights_exactly_zero():
    model = _mlp()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    mask = (torch.rand(32, 16, generator=torch.Generator().manual_seed(1)) > 0.7).float()
    seen = []
    train.train_classifier(model, *_toy(), epochs=3, masks={"1.weight": mask},
                           callback=lambda e, loss, m: seen.append((e, loss)))
    w = model[1].weight.detach()
    pruned = w[mask == 0]
    assert torch.equal(pruned, torch.zeros_like(pruned))
    assert not torch.signbit(pruned).any()  # +0.0, not -0.0
    changed = w[mask == 1] != before["1.weight"][mask == 1]
    assert changed.float().mean() > 0.5  # the kept ones trained (a dead ReLU row may not)
    assert not torch.equal(model[3].weight, before["3.weight"])   # unmasked layers trained
    assert [e for e, _ in seen] == [0, 1, 2] and seen[-1][1] < seen[0][1]


def test_bad_mask_is_rejected():
    with pytest.raises(ValueError, match="matches no parameter"):
        train.train_classifier(_mlp(), *_toy(), epochs=1, masks={"1.weight": torch.ones(16, 32)})
    with pytest.raises(ValueError, match="matches no parameter"):
        train.train_classifier(_mlp(), *_toy(), epochs=1, masks={"nope": torch.ones(2)})


def test_training_is_deterministic_and_learns():
    a = train.train_classifier(_mlp(), *_toy(), epochs=5, batch_size=16)
    b = train.train_classifier(_mlp(), *_toy(), epochs=5, batch_size=16)
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k
    assert train.evaluate(a, *_toy(seed=1)) > 0.95


def test_evaluate_counts_top1_and_restores_mode():
    class Const(nn.Module):
        def forward(self, x):
            return torch.tensor([0.0, 1.0, 0.0]).expand(len(x), 3)

    m = Const().train()
    y = np.array([1, 1, 0, 2, 1, 1, 1, 0], dtype=np.int64)
    assert train.evaluate(m, np.zeros((8, 1, 2, 2), np.float32), y, batch_size=3) == 5 / 8
    assert m.training


@pytest.mark.parametrize("name", ["lenet5", "resnet_small", "dwnet"])
def test_examples_build_and_export(name):
    model = train.example_factory(name)().eval()
    x = torch.rand(2, 1, 28, 28)
    assert model(x).shape == (2, 10)
    torch.export.export(model, (x[:1],))


def test_lenet5_learns_mnist_well_above_chance():
    """A short run on 1,000 training images must clearly beat chance (10 %) on held-out images."""
    x, y = datasets.load("mnist", "train", limit=1000)
    xt, yt = datasets.load("mnist", "test", limit=500)
    torch.manual_seed(0)
    model = train.example_factory("lenet5")()
    before = train.evaluate(model, xt, yt)
    train.train_classifier(model, x, y, epochs=3, batch_size=16)  # ~190 steps, about 1 s
    after = train.evaluate(model, xt, yt)
    assert before < 0.3 and after > 0.8, (before, after)  # measured: 0.10 -> 0.92


def test_cached_trained_trains_once(tmp_path, monkeypatch):
    monkeypatch.setattr(train, "CACHE", tmp_path)
    model, path = train.cached_trained("lenet5", "mnist", epochs=1, limit=300)
    assert path.is_file() and path.parent == tmp_path / "trained"
    meta = __import__("json").loads(path.with_suffix(".json").read_text())
    assert meta["train_samples"] == 300 and 0.0 <= meta["test_accuracy"] <= 1.0

    def no_training(*a, **k):
        raise AssertionError("cached_trained retrained instead of loading the cache")

    monkeypatch.setattr(train, "train_classifier", no_training)
    again, path2 = train.cached_trained("lenet5", "mnist", epochs=1, limit=300)
    assert path2 == path and not again.training
    for va, vb in zip(model.state_dict().values(), again.state_dict().values()):
        assert torch.equal(va, vb)
    with pytest.raises(AssertionError):  # another key (epochs) is another model
        train.cached_trained("lenet5", "mnist", epochs=2, limit=300)


def test_train_script(tmp_path):
    out = tmp_path / "lenet5.pt"
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "train.py"), "lenet5", "--data", "mnist",
                           "--epochs", "1", "--limit", "500", "-o", str(out)],
                          check=False, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "held-out accuracy" in proc.stdout and out.is_file()
    state = torch.load(out, weights_only=True)
    train.example_factory("lenet5")().load_state_dict(state)
