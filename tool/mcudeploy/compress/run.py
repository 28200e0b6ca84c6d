"""``compress``: prune a model (unstructured or structured), fine-tune it, measure it, export it.

    >>> res = compress_model(model, example, train=(x, y), test=(xt, yt), sparsity=0.9)
    >>> res = compress_model(model, example, train=(x, y), test=(xt, yt), max_accuracy_drop=1.0)
    >>> res = compress_model(model, example, train=(x, y), test=(xt, yt), sparsity=0.3, structured=True)
    >>> res.model, res.report["accuracy"], res.report["total"]
    >>> compress_file("examples/lenet5.py:lenet5", "lenet5.pt", "mnist", "pruned.pt2", sparsity=0.9)

Held-out data and the search. Accuracy is always float top-1 on ``test`` (the data set's test
split), never on data the fine-tuning saw. With a fixed ``sparsity`` nothing is selected on it, so
the whole split is reported. With ``max_accuracy_drop`` the search *chooses* a level by looking at
accuracy, which would make the same split's figure optimistic; so the test split is cut in two
fixed halves (even / odd positions): the search judges on the even half ("val") and the report adds
the odd half ("unseen"), which no decision looked at.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .. import datasets
from ..errors import DataError, McdError, ModelLoadError
from ..train import evaluate
from .adaptive_bn import bn_layers, recalibrate_bn
from .distill import Distiller
from .finetune import Finetuner, Hook, allow_train_mode
from .knee import sweep, sweep_rates
from .lowbit import BITS, lowbit_finetune, lowbit_report
from .prune import halving_levels, masks_from_zeros, prune_to, search_level, sparsity_report
from .structured import count_macs_params, prune_channels

Data = tuple[np.ndarray, np.ndarray]
STRUCTURED_LEVELS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]


@dataclass
class CompressResult:
    model: nn.Module
    report: dict
    masks: dict = field(default_factory=dict)


def _acc(model: nn.Module, data: Data | None) -> float | None:
    if data is None or data[1] is None or len(data[1]) == 0:
        return None
    return round(100.0 * evaluate(model, *data), 4)


def compress_model(model: nn.Module, example: torch.Tensor, train: Data | None = None,
                   test: Data | None = None, sparsity: float | None = None,
                   max_accuracy_drop: float | None = None, structured: bool = False,
                   scope: str | None = None, steps: int = 3, epochs: int = 2, lr: float = 1e-3,
                   batch_size: int = 64, hook: Hook | None = None,
                   log: Callable[[str], None] | None = None,
                   layer_sparsity: dict[str, float] | None = None, weight_bits: int = 8,
                   adaptive_bn: bool = False, knee: bool = False, distill: bool = False,
                   distill_temperature: float = 4.0, distill_alpha: float = 0.7, adaptive_bn_samples: int = 512,
                   knee_rates: list[float] | None = None) -> CompressResult:
    """Prune ``model`` (a copy for structured pruning, in place otherwise) and fine-tune it.

    ``sparsity``: fraction of conv/linear weights zeroed (unstructured) or of channels removed per
    group (structured). ``max_accuracy_drop``: instead, the highest level whose accuracy (points
    of top-1 %) stays within that budget. ``steps``: unstructured pruning to a fixed sparsity is
    done in that many prune + fine-tune rounds. ``hook(model, masks)`` replaces the built-in
    fine-tuning loop (``train`` then may be None). ``layer_sparsity``: fixed fractions for the
    layers it names (unstructured, with ``sparsity``; e.g. prune the layers where the cycles are
    harder), the others share the global threshold that keeps the total at ``sparsity``.
    ``weight_bits`` 2 (ternary) or 4 (int4): after any pruning, quantization-aware fine-tuning of
    the conv/linear weights to that width (``lowbit``); alone, without pruning.

    Combine-Net's tools, each off by default: ``adaptive_bn`` re-estimates BatchNorm statistics
    of every pruned candidate on ``adaptive_bn_samples`` training samples before it is judged or
    fine-tuned (``adaptive_bn.py``); ``knee`` (instead of ``sparsity``) sweeps ``knee_rates``,
    prunes without fine-tuning, and takes the Kneedle knee of held-out accuracy against rate
    (``knee.py``); ``distill`` fine-tunes against the dense model's outputs (``distill.py``).
    """
    if weight_bits not in (8,) + BITS:
        raise McdError(f"weight bits {weight_bits}: expected 2 (ternary), 4 (int4) or 8 (int8, no change)")
    if weight_bits != 8 and sparsity is None and max_accuracy_drop is None and not knee:
        sparsity = 0.0
    if (sparsity is not None) + (max_accuracy_drop is not None) + bool(knee) != 1:
        raise McdError("give exactly one of a target sparsity, a maximum accuracy drop or the knee search")
    if layer_sparsity and (structured or sparsity is None):
        raise McdError("per-layer sparsity goes with unstructured pruning to a fixed --sparsity")
    if (max_accuracy_drop is not None or knee) and (test is None or test[1] is None):
        raise DataError("the accuracy-budget and knee searches need labelled held-out data")
    if adaptive_bn and (train is None or len(train[0]) == 0):
        raise DataError("adaptive BatchNorm needs training samples (x) to re-estimate statistics on")
    if distill and (train is None or train[1] is None or epochs <= 0):
        raise McdError("distillation fine-tunes against the dense model: it needs labelled training "
                       "data and --epochs >= 1")
    t0 = time.perf_counter()
    say = log or (lambda s: None)
    scope = scope or ("layer" if structured else "global")
    ft = None
    if hook is not None or (train is not None and train[1] is not None and epochs > 0):
        teacher = Distiller.from_teacher(model, *train, distill_temperature, distill_alpha) if distill else None
        ft = Finetuner(*(train if train is not None else (None, None)), epochs=epochs, lr=lr,
                       batch_size=batch_size, hook=hook, log=log, distill=teacher)
    if ft is not None and sparsity is not None and not knee:  # a fixed plan: "round 2/3" (a search: "round 7")
        ft.rounds = (1 if structured else steps if sparsity != 0.0 else 0) + int(weight_bits != 8)
    if ft is None and epochs > 0:
        say("no labelled training data and no hook: pruning without fine-tuning")
    example = example[:1].float()
    allow_train_mode(model)
    before_cost = count_macs_params(model, example) if structured else _dense_cost(model, example)
    before_sparsity = sparsity_report(model)
    acc = {"before": _acc(model, test)}
    val = unseen = None
    if adaptive_bn and not bn_layers(model):
        say("adaptive BN: the model has no BatchNorm modules (an archive's are frozen): nothing to recalibrate")

    def tune(m, mk):
        """What follows every pruning step: adaptive BN (if asked), then fine-tuning (if any)."""
        if adaptive_bn:
            recalibrate_bn(m, train[0], adaptive_bn_samples)
        return ft(m, mk) if ft else m
    if max_accuracy_drop is not None or knee:
        val = (test[0][0::2], test[1][0::2])
        unseen = (test[0][1::2], test[1][1::2])
        acc.update(val_before=_acc(model, val), unseen_before=_acc(model, unseen))

    masks: dict = {}
    search = knee_res = None
    plan = None
    if knee:
        knee_res = _knee(model, example, structured, scope, knee_rates, train if adaptive_bn else None,
                         adaptive_bn_samples, lambda m: _acc(m, val), say)
        sparsity = knee_res["rate"]
    if structured:
        def trial(base, level):
            pruned, p = prune_channels(base, example, level, scope, inplace=True)
            return tune(pruned, {}), p
        if sparsity is not None:
            model, plan = trial(copy.deepcopy(model), sparsity)
        else:
            res = search_level(model, trial, lambda m: _acc(m, val), max_accuracy_drop, STRUCTURED_LEVELS,
                               refine=2, incremental=False, log=say)
            model, plan, search = res.model, res.extra, res
    elif weight_bits != 8 and sparsity == 0.0:
        pass  # low-bit weights only: no pruning round
    else:
        if sparsity is not None:
            model, masks = prune_to(model, sparsity, tune if ft or adaptive_bn else None, scope, steps,
                                    per_layer=layer_sparsity)
        else:
            def trial(base, level):
                return prune_to(base, level, tune if ft or adaptive_bn else None, scope, 1,
                                masks=masks_from_zeros(base))
            res = search_level(model, trial, lambda m: _acc(m, val), max_accuracy_drop,
                               halving_levels(0.5, 0.99), refine=3, incremental=True, log=say)
            model, masks, search = res.model, res.extra or {}, res
    if weight_bits != 8:
        if acc["before"] is not None and sparsity != 0.0:
            acc["pruned"] = _acc(model, test)
        model = lowbit_finetune(model, weight_bits, ft, masks)

    acc["after"] = _acc(model, test)
    if val is not None:
        acc.update(val_after=_acc(model, val), unseen_after=_acc(model, unseen))
    if acc["before"] is not None and acc["after"] is not None:
        acc["drop_points"] = round(acc["before"] - acc["after"], 4)
    after_cost = count_macs_params(model, example) if structured else _dense_cost(model, example)
    rep = sparsity_report(model)
    report = {
        "mode": "structured" if structured else "unstructured",
        "settings": {"sparsity": sparsity, "layer_sparsity": layer_sparsity or None,
                     "max_accuracy_drop": max_accuracy_drop, "scope": scope, "weight_bits": weight_bits,
                     "steps": steps, "finetune": ("hook" if hook else f"{epochs} epochs, lr {lr}, "
                                                  f"batch {batch_size}") if ft else "none",
                     "adaptive_bn": adaptive_bn_samples if adaptive_bn else None, "knee": knee,
                     "distill": {"temperature": distill_temperature, "alpha": distill_alpha} if distill else None},
        "accuracy": acc,
        "accuracy_unit": "top-1 %, float model",
        "test_samples": None if test is None else len(test[0]),
        "train_samples": None if train is None else len(train[0]),
        "layers": _layer_rows(before_sparsity, rep, before_cost, after_cost),
        "total": dict(rep["total"], sparsity_before=before_sparsity["total"]["sparsity"]),
        "macs_before": before_cost["macs"], "macs_after": after_cost["macs"],
        "params_before": before_cost["params"], "params_after": after_cost["params"],
    }
    if report["macs_after"] and not structured:
        # what a sparse kernel that skips zero weights executes: each layer's MACs x its density
        report["macs_nonzero"] = int(sum(r.get("macs", 0) * r["nonzeros"] / max(r["params"], 1)
                                         for r in report["layers"]))
    report["macs_reduction"] = _reduction(report["macs_before"], report["macs_after"])
    report["params_reduction"] = _reduction(report["params_before"], report["params_after"])
    if plan is not None:
        report["channel_groups"] = plan["groups"]
        report["settings"]["channel_ratio"] = plan["ratio"]
    if search is not None:
        report["search"] = {"level": search.level, "val_baseline": search.baseline,
                            "trials": search.trials, "judged_on": "even half of the test split",
                            "unseen": "odd half of the test split"}
        report["settings"]["chosen_level"] = search.level
    if weight_bits != 8:
        report["lowbit"] = lowbit_report(model, weight_bits)
    if knee_res is not None:
        report["knee"] = dict(knee_res, judged_on="even half of the test split, pruned without fine-tuning"
                              + (", adaptive BN" if adaptive_bn else ""), unseen="odd half of the test split")
    report["seconds"] = round(time.perf_counter() - t0, 2)
    return CompressResult(model, report, masks)


def _knee(model, example, structured, scope, rates, train, abn_samples, score, say) -> dict:
    """Sweep rates on copies of ``model`` (pruned only, BN recalibrated on ``train`` if given)."""
    def make(rate):
        base = copy.deepcopy(model)
        if structured:
            cand = prune_channels(base, example, rate, scope, inplace=True)[0]
        else:
            cand = prune_to(base, rate, None, scope, 1, masks=masks_from_zeros(base))[0]
        if train is not None:
            recalibrate_bn(cand, train[0], abn_samples)
        return cand
    res = sweep(make, score, sweep_rates() if rates is None else rates, say)
    if res["rate"] is None:
        raise McdError("the accuracy-vs-rate curve of the knee sweep has no knee (it does not bend): "
                       "choose a rate with --sparsity")
    say(f"knee: rate {res['rate']:.2f}")
    return res


def _reduction(before, after):
    return round(1 - after / before, 6) if before else None


def _dense_cost(model: nn.Module, example: torch.Tensor) -> dict:
    """MACs/params for unstructured pruning: a module tree has hooks; an exported graph does not."""
    cost = count_macs_params(model, example)
    if cost["layers"]:
        return cost
    return {"macs": None, "params": sum(p.numel() for p in model.parameters()), "layers": []}


def _layer_rows(before: dict, after: dict, cost_b: dict, cost_a: dict) -> list[dict]:
    b = {r["name"]: r for r in before["layers"]}
    mb = {r["name"] + ".weight": r["macs"] for r in cost_b.get("layers", [])}
    ma = {r["name"] + ".weight": r["macs"] for r in cost_a.get("layers", [])}
    rows = []
    for r in after["layers"]:
        row = dict(r)
        if r["name"] in b and b[r["name"]]["shape"] != r["shape"]:
            row["shape_before"], row["params_before"] = b[r["name"]]["shape"], b[r["name"]]["params"]
        if r["name"] in ma:
            row["macs"] = ma[r["name"]]
            if mb.get(r["name"]) != ma[r["name"]]:
                row["macs_before"] = mb.get(r["name"])
        rows.append(row)
    return rows


# --- files: what the CLI calls ---------------------------------------------------------------------

def load_module(spec: str, weights: str | None = None) -> tuple[nn.Module, bool]:
    """(module, is_exported): FILE.py:FACTORY + weights, or a .pt2 archive's ``ep.module()``."""
    from ..frontend.archive import load_pt2, load_state_dict
    from ..frontend.load import _load_factory

    if str(spec).endswith(".pt2"):
        if weights:
            raise ModelLoadError("--weights is for FILE.py:FACTORY models; a .pt2 archive carries its weights")
        return load_pt2(spec).module(), True
    factory = _load_factory(spec)
    try:
        model = factory()
    except Exception as exc:
        raise ModelLoadError(f"calling '{spec}' failed: {type(exc).__name__}: {exc}") from exc
    if not isinstance(model, nn.Module):
        raise ModelLoadError(f"'{spec}' returned {type(model).__name__}, not a torch.nn.Module")
    if weights:
        state = load_state_dict(weights)
        if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
            state = state["state_dict"]
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:
            raise ModelLoadError(f"weights '{weights}' do not match '{spec}': {exc}") from exc
    return model.eval(), False


def load_hook(spec: str) -> Hook:
    """A fine-tuning hook from FILE.py:FUNCTION; called as ``FUNCTION(model, masks)``."""
    from ..frontend.load import _load_factory

    fn = _load_factory(spec)
    if not callable(fn):
        raise ModelLoadError(f"'{spec}' is not callable; a hook is a function (model, masks) -> model")
    return fn


def compress_file(model: str, weights: str | None, data: str, output: str | Path,
                  eval_data: str | None = None, limit: int | None = None,
                  eval_limit: int | None = None, hook: str | Hook | None = None,
                  **kwargs) -> CompressResult:
    """Load, compress (``compress_model`` keyword arguments), export the result to ``output`` (.pt2).

    ``data``: a built-in data set (its train split fine-tunes, its test split measures) or an .npz
    (then ``eval_data`` names the held-out samples). The report gains the paths and the output.
    """
    from ..frontend import export_module

    if not str(output).endswith(".pt2"):
        raise McdError(f"output '{output}' must end in .pt2 (a torch.export archive)")
    module, exported = load_module(model, weights)
    if exported and kwargs.get("structured"):
        raise McdError("structured pruning needs the model as an nn.Module: give FILE.py:FACTORY "
                       "with --weights. A .pt2 archive has lost the module structure (its convs are "
                       "aten calls on flat parameters); unstructured pruning works on it.")
    if eval_data is None and str(data) not in datasets.NAMES:
        raise DataError(f"'{data}' is a file: name the held-out samples with --eval-data "
                        "(an .npz with x and y that fine-tuning never sees)")
    train = datasets.load_spec(data, "train", limit)
    test = datasets.load_spec(eval_data or data, "test", eval_limit)
    if test[1] is None:
        raise DataError(f"the held-out data '{eval_data or data}' has no labels (y); accuracy needs them")
    if isinstance(hook, str):
        hook = load_hook(hook)
    example = torch.from_numpy(test[0][:1])
    res = compress_model(module, example, train=train, test=test, hook=hook, **kwargs)
    ep = export_module(res.model, example)
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    torch.export.save(ep, str(output))
    res.report.update(model=str(model), weights=weights, data=str(data), eval_data=str(eval_data or data),
                      output=str(output), source=datasets.source(str(data)) if str(data) in datasets.NAMES
                      else str(data))
    return res
