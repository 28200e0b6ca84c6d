"""Load a model from ``file.py:factory`` + ``--weights``, or from a ``torch.export`` archive."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import torch

from ..errors import ModelLoadError


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
        if not Path(spec).is_file():
            raise ModelLoadError(f"archive '{spec}' does not exist")
        if weights:
            raise ModelLoadError("--weights is for FILE.py:FACTORY models; a .pt2 archive carries its weights")
        try:
            return torch.export.load(spec)
        except Exception as exc:
            raise ModelLoadError(f"loading '{spec}' with torch.export.load failed: {exc}") from exc
    factory = _load_factory(spec)
    try:
        model = factory()
    except Exception as exc:
        raise ModelLoadError(f"calling '{spec}' failed: {type(exc).__name__}: {exc}") from exc
    if not isinstance(model, torch.nn.Module):
        raise ModelLoadError(f"'{spec}' returned {type(model).__name__}, not a torch.nn.Module")
    if weights:
        try:
            state = torch.load(weights, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise ModelLoadError(f"loading weights '{weights}' failed: {exc}") from exc
        if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
            state = state["state_dict"]
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:
            raise ModelLoadError(f"weights '{weights}' do not match '{spec}': {exc}") from exc
    if example is None:
        raise ModelLoadError("an example input is needed to export the model (give --calib data)")
    return export_module(model, example)


def export_module(model: torch.nn.Module, example: torch.Tensor):
    """Export with a dynamic batch dimension when the model allows it (so the saved float model
    runs batches), else with batch 1."""
    model = model.eval()
    x = example[:1].float()
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
