"""Load a model from ``file.py:factory`` + ``--weights``, or from a ``torch.export`` archive.

Archives and weights go through ``archive`` (checked before torch reads them: loading a model
never runs code from the file). A model that cannot take the data's samples is reported in one
line naming both shapes, before torch.export is asked to trace it.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import torch

from ..errors import ModelLoadError
from .archive import load_pt2, load_state_dict
from .quiet import quiet_torch


def _load_factory(spec: str):
    path_s, _, attr = spec.rpartition(":")
    if not path_s or not attr:
        raise ModelLoadError(f"model '{spec}': expected FILE.py:FACTORY (a class or function) or a .pt2 archive")
    path = Path(path_s)
    if not path.is_file():
        raise ModelLoadError(f"model file '{path}' does not exist")
    mod_name = f"_mcd_user_{path.stem}"
    ispec = importlib.util.spec_from_file_location(mod_name, path)
    module = importlib.util.module_from_spec(ispec)
    sys.modules[mod_name] = module
    sys.path.insert(0, str(path.resolve().parent))
    try:
        ispec.loader.exec_module(module)
    except Exception as exc:  # the user's file failed to import
        raise ModelLoadError(f"importing '{path}' failed: {type(exc).__name__}: {exc}") from exc
    finally:
        sys.path.pop(0)
    if not hasattr(module, attr):
        names = [n for n in dir(module) if not n.startswith("_")]
        raise ModelLoadError(f"'{path}' has no '{attr}'; it defines: {', '.join(names)}")
    return getattr(module, attr)


def load_model(spec: str, weights: str | None = None, example: torch.Tensor | None = None):
    """Return a ``torch.export.ExportedProgram`` in eval mode.

    ``example`` (batch 1) is needed to export an ``nn.Module``; a .pt2 archive carries its own.
    """
    if str(spec).endswith(".pt2"):
        if weights:
            raise ModelLoadError("--weights is for FILE.py:FACTORY models; a .pt2 archive carries its weights")
        ep = load_pt2(spec)
        if example is not None:
            check_input_shape(ep, tuple(example.shape[1:]), f"model '{spec}'")
        return ep
    factory = _load_factory(spec)
    try:
        model = factory()
    except Exception as exc:
        raise ModelLoadError(f"calling '{spec}' failed: {type(exc).__name__}: {exc}") from exc
    if not isinstance(model, torch.nn.Module):
        raise ModelLoadError(f"'{spec}' returned {type(model).__name__}, not a torch.nn.Module")
    if weights:
        state = load_state_dict(weights)
        if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
            state = state["state_dict"]
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:
            raise ModelLoadError(f"weights '{weights}' do not match '{spec}': {exc}") from exc
    if example is None:
        raise ModelLoadError("an example input is needed to export the model (give --calib data)")
    check_runs(model, example, f"model '{spec}'")
    return export_module(model, example)


def export_module(model: torch.nn.Module, example: torch.Tensor):
    """Export with a dynamic batch dimension when the model allows it (so the saved float model
    runs batches), else with batch 1."""
    model = model.eval()
    x = example[:1].float()
    with quiet_torch():
        return _export(model, x)


def _export(model: torch.nn.Module, x: torch.Tensor):
    try:  # a batch-2 example: torch.export specialises a dimension of size 1, so it cannot be dynamic
        with torch.no_grad():
            return torch.export.export(model, (torch.cat([x, x]),),
                                       dynamic_shapes=({0: torch.export.Dim("batch", max=1 << 16)},))
    except Exception:  # noqa: BLE001, S110 -- any failure: the static export below reports its own error
        pass
    try:
        with torch.no_grad():
            return torch.export.export(model, (x,))
    except Exception as exc:
        raise ModelLoadError(f"torch.export could not capture the model: {type(exc).__name__}: "
                             f"{str(exc).splitlines()[0] if str(exc) else ''}") from exc


def _shape(dims) -> str:
    return "x".join(str(d) for d in dims)


def input_shape(ep) -> tuple:
    """The shape of one sample of the program's (first) input, without the batch dimension."""
    user = set(ep.graph_signature.user_inputs)
    for node in ep.graph.nodes:
        if node.op == "placeholder" and node.name in user and hasattr(node.meta.get("val"), "shape"):
            return tuple(int(d) if isinstance(d, int) else "N" for d in node.meta["val"].shape[1:])
    return ()


def check_input_shape(ep, sample: tuple, what: str) -> None:
    """An exported program fixes its input shape: compare it with the data's before running it."""
    want = input_shape(ep)
    if want and "N" not in want and tuple(want) != tuple(sample):
        raise ModelLoadError(f"{what} takes samples of shape {_shape(want)} but the data's samples are "
                             f"{_shape(sample)}; give data of the model's input shape (or the model the data is for)")


def check_runs(model: torch.nn.Module, example: torch.Tensor, what: str) -> None:
    """Run one sample eagerly: a shape mismatch becomes one line naming the layer, the data's
    sample shape and what that layer takes, instead of torch.export's logged traceback."""
    entered: list[tuple[str, torch.nn.Module, tuple]] = []

    def pre_hook(name):
        def hook(mod, args):
            if args and hasattr(args[0], "shape"):
                entered.append((name, mod, tuple(args[0].shape)))
        return hook

    handles = [m.register_forward_pre_hook(pre_hook(n)) for n, m in model.named_modules()
               if n and not list(m.children())]
    try:
        with torch.no_grad():
            model.eval()(example[:1].float())
    except Exception as exc:  # noqa: BLE001 -- any failure on the data's shape is the user's to fix
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        where = ""
        if entered:
            name, mod, shp = entered[-1]
            where = f" in layer '{name}' ({_describe(mod)}, given {_shape(shp[1:])})"
        raise ModelLoadError(f"{what} cannot run on the data's samples of shape {_shape(example.shape[1:])}"
                             f"{where}: {msg}; give data of the model's input shape (or the model the data "
                             "is for)") from None
    finally:
        for h in handles:
            h.remove()


def _describe(mod: torch.nn.Module) -> str:
    if isinstance(mod, torch.nn.Linear):
        return f"Linear taking {mod.in_features} features"
    if isinstance(mod, torch.nn.modules.conv._ConvNd):
        return f"{type(mod).__name__} taking {mod.in_channels} channels, kernel {_shape(mod.kernel_size)}"
    return type(mod).__name__
