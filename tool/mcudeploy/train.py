"""A small deterministic classification trainer, for the examples, the tests and fine-tuning.

    >>> from mcudeploy import datasets, train
    >>> x, y = datasets.load("mnist", "train")
    >>> model = train.train_classifier(train.example_factory("lenet5")(), x, y, epochs=3)
    >>> train.evaluate(model, *datasets.load("mnist", "test"))        # top-1 accuracy in [0, 1]
    >>> model, path = train.cached_trained("lenet5", "mnist", epochs=3) # trained once, then reused

Determinism: the batch order comes from a seeded ``torch.Generator`` and the thread count is fixed
at 2, so the same model, data and arguments give the same weights on the same machine. Pruning
masks are re-applied after every optimizer step (Adam's moments would otherwise revive pruned
weights), so masked weights stay exactly +0.0 throughout fine-tuning.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import datasets, progress
from .cachefile import atomic_write, produce_once
from .errors import McdError
from .paths import CACHE, ROOT

EXAMPLES = ROOT / "examples"
# Weights trained by cached_trained and committed (same file names as in the cache): a fresh clone's
# tests and demo load them instead of training for minutes. A changed example, recipe or data set
# changes the name, so stale files are never used, only retrained past (see examples/weights/README.md).
SHIPPED = EXAMPLES / "weights"
# (data, epochs, train samples) per example: each trains in well under a minute on 2 cores
RECIPES = {"lenet5": ("mnist", 6, None), "resnet_small": ("fashion-mnist", 2, 20000),
           "dwnet": ("fashion-mnist", 2, 20000)}
HPARAMS = {"lr": 3e-3, "batch_size": 64, "seed": 0}


def train_threads() -> int:
    """Threads of the training loops: MCUDEPLOY_TORCH_THREADS, else 2 (the fixed default)."""
    v = os.environ.get("MCUDEPLOY_TORCH_THREADS", "2")
    if not v.isdigit() or int(v) < 1:
        raise McdError(f"MCUDEPLOY_TORCH_THREADS={v!r}: expected a whole number >= 1 (or unset for 2)")
    return int(v)


def train_classifier(model: nn.Module, x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor,
                     epochs: int = 3, lr: float = 3e-3, batch_size: int = 64,
                     callback: Callable[[int, float, nn.Module], None] | None = None,
                     masks: dict[str, torch.Tensor] | None = None, seed: int = 0,
                     loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
                     label: str = "train") -> nn.Module:
    """Train ``model`` in place with Adam on cross-entropy and return it (in eval mode).

    The learning rate follows a cosine from ``lr`` to 0 over all steps: short runs then end on a
    settled model instead of wherever the last noisy step left it.

    ``masks`` maps parameter names (as in ``named_parameters``) to 0/1 tensors of the same shape;
    a 0 keeps that weight at exactly zero. Fine-tuning a pruned model usually wants a smaller ``lr``
    (e.g. 1e-3) and an epoch or two. ``callback(epoch, mean_loss, model)`` runs after each epoch.
    ``loss_fn(logits, idx)`` replaces cross-entropy (``idx``: the batch's rows of ``x``, e.g. to
    look up a teacher's outputs for distillation). Sets torch's (process-wide) thread count to 2, or to
    MCUDEPLOY_TORCH_THREADS (tests and benchmarks on a shared, loaded machine use 1: two threads
    that meet at a barrier after every small op wait for each other's time slices).
    ``label`` names the step in the progress output (progress.py): batches done, epoch, loss.
    """
    torch.set_num_threads(train_threads())
    x, y = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.int64)
    params = dict(model.named_parameters())
    zero = {}
    for name, m in (masks or {}).items():
        if name not in params or params[name].shape != m.shape:
            raise ValueError(f"mask '{name}' {tuple(m.shape)} matches no parameter of that shape")
        zero[name] = torch.as_tensor(m) == 0
    _apply_masks(params, zero)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps = epochs * -(-len(y) // batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(steps, 1))
    gen = torch.Generator().manual_seed(seed)
    model.train()
    with progress.task(label, total=steps, unit="batches") as bar:
        for epoch in range(epochs):
            total, count = 0.0, 0
            for idx in torch.randperm(len(y), generator=gen).split(batch_size):
                bar.advance(detail=f"epoch {epoch + 1}/{epochs}" + (f", loss {total / count:.3f}" if count else ""))
                if len(idx) < 2 and len(y) > 1:
                    continue  # a lone trailing sample: BatchNorm cannot train on a batch of one
                out = model(x[idx])
                loss = nn.functional.cross_entropy(out, y[idx]) if loss_fn is None else loss_fn(out, idx)
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
                _apply_masks(params, zero)
                total, count = total + loss.item() * len(idx), count + len(idx)
            if callback is not None:
                callback(epoch, total / max(count, 1), model)
    return model.eval()


def _apply_masks(params: dict[str, nn.Parameter], zero: dict[str, torch.Tensor]) -> None:
    with torch.no_grad():
        for name, z in zero.items():
            params[name].masked_fill_(z, 0.0)  # +0.0, unlike p * mask which gives -0.0 for p < 0


def evaluate(model: nn.Module, x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor,
             batch_size: int = 500) -> float:
    """Top-1 accuracy in [0, 1], computed in eval mode (the model's mode is restored after)."""
    x, y = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.int64)
    was_training = model.training
    model.eval()
    correct = 0
    with torch.no_grad():
        for xb, yb in zip(x.split(batch_size), y.split(batch_size)):
            correct += int((model(xb).argmax(1) == yb).sum())
    model.train(was_training)
    return correct / max(len(y), 1)


def example_factory(name: str) -> Callable[[], nn.Module]:
    """The factory ``NAME()`` of ``examples/NAME.py`` (examples are files, not a package)."""
    path = EXAMPLES / f"{name}.py"
    if not path.is_file():
        known = sorted(p.stem for p in EXAMPLES.glob("*.py") if p.stem != "train")
        raise ValueError(f"no example '{name}' in {EXAMPLES}; examples: {', '.join(known)}")
    spec = importlib.util.spec_from_file_location(f"_mcd_example_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


def cached_trained(name: str, data: str | None = None, epochs: int | None = None,
                   limit: int | None = -1) -> tuple[nn.Module, Path]:
    """Train ``examples/NAME.py`` on ``data``'s train split once; later calls load the cached weights
    (or the committed ones of ``examples/weights/``, under the same name).

    ``data``, ``epochs`` and ``limit`` (train samples; None for the whole split) left at their
    defaults take the example's entry in ``RECIPES``. The cache key holds all of them, the data
    set's source, the hyperparameters and a hash of the example's source, so editing the model
    retrains it. A JSON twin beside the weights records the held-out accuracy and training time.
    """
    r_data, r_epochs, r_limit = RECIPES.get(name, ("mnist", 3, None))
    data, epochs = data or r_data, epochs or r_epochs
    limit = r_limit if limit == -1 else limit
    source = (EXAMPLES / f"{name}.py").read_bytes() if (EXAMPLES / f"{name}.py").is_file() else b""
    key = json.dumps([name, data, datasets.source(data), epochs, limit, HPARAMS], sort_keys=True)
    digest = hashlib.sha256(key.encode() + source).hexdigest()[:12]
    path = CACHE / "trained" / f"{name}-{data}-e{epochs}-{digest}.pt"
    with torch.random.fork_rng():  # seeded initial weights, without touching the caller's RNG
        torch.manual_seed(HPARAMS["seed"])
        model = example_factory(name)()
    found = _cached_weights(path)
    if found is None:
        # two processes (test workers, two shells) on an empty cache: the second waits for the
        # first's weights instead of training the same model again
        with produce_once(path):
            found = _cached_weights(path)
            if found is None:
                _train_into(model, path, name, data, epochs, limit)
                return model, path
    from .frontend.archive import load_state_dict  # the cache is a file too: checked like --weights

    model.load_state_dict(load_state_dict(found, label="cached weights"))
    return model.eval(), found


def _cached_weights(path: Path) -> Path | None:
    """The cache's weights file ``path``, else the committed one of that name, else None."""
    return next((f for f in (path, SHIPPED / path.name) if f.is_file()), None)


def _train_into(model: nn.Module, path: Path, name: str, data: str, epochs: int, limit: int | None) -> None:
    """Train ``model`` by the recipe and write its weights to ``path`` (and the JSON twin), atomically."""
    t0 = time.perf_counter()
    x, y = datasets.load(data, "train", limit=limit)
    train_classifier(model, x, y, epochs=epochs, lr=HPARAMS["lr"], batch_size=HPARAMS["batch_size"],
                     seed=HPARAMS["seed"], label=f"train {name} on {data} (once: cached for later runs)")
    seconds = time.perf_counter() - t0
    acc = evaluate(model, *datasets.load(data, "test"))
    meta = {"model": name, "data": data, "source": datasets.source(data), "epochs": epochs, **HPARAMS,
            "train_samples": len(y), "train_seconds": round(seconds, 2), "test_accuracy": acc}
    with atomic_write(path.with_suffix(".json")) as tmp:
        tmp.write_text(json.dumps(meta, indent=2) + "\n")
    with atomic_write(path) as tmp:  # parallel test workers never read half a file
        torch.save(model.state_dict(), tmp)
