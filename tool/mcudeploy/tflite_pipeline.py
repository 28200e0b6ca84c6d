"""``compile`` of an int8 ``.tflite``: the file's own quantization, no calibration.

Usage::

    result = compile_tflite("kws_ref_model.tflite", "out/kws")          # rounding "litert"
    result.report["host_check"]      # host-compiled engine vs the reference vs LiteRT

The project is the one ``pipeline.build_project`` writes (engine/, graph.json, report.json,
project.json, manifest), with ``model.tflite`` in place of ``model_float.pt2``: the "float model"
of later commands (validate) is then LiteRT running that file with its reference kernels,
dequantized (``TfliteModule``), so validate's agreement figures compare the device with LiteRT.
Written to a temporary sibling and renamed into place, as ``build_project`` does.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import torch

from . import __version__, datasets, fit, hostrun, manifest
from . import reference as R
from .boards import Board
from .codegen import emit_engine
from .codegen.fuse import layout
from .codegen.kernels import layer_bytes, scratch_for
from .errors import McdError
from .ir import Graph
from .pipeline import CompileResult, _layer_rows, check_on_host, publish, staged_project
from .plan import check, plan
from .tflite_import import import_tflite

HOST_CHECK_SAMPLES = 16


class TfliteModule(torch.nn.Module):
    """A project's model.tflite run by LiteRT (reference kernels) as a float callable: float NCHW
    in, quantized with the graph's input scale/zero point; the graph's output tensor out,
    dequantized, in the layout ``reference.dequantize_output`` gives."""

    def __init__(self, path: Path, g: Graph) -> None:
        super().__init__()
        self.path, self.g = Path(path), g

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from .litert import run_reference_kernels

        xq = R.prepare_input(self.g, x.detach().numpy())
        return torch.from_numpy(np.ascontiguousarray(R.dequantize_output(self.g, run_reference_kernels(self.path, xq))))


def _host_inputs(g: Graph, calib: str | None, limit: int) -> tuple[np.ndarray, str]:
    """Device int8 inputs for the host check: the user's data, else uniform random bytes."""
    if calib:
        x, _y = datasets.load_spec(calib, split="train", limit=limit)
        return R.prepare_input(g, x), f"{calib} ({len(x)} samples)"
    rng = np.random.default_rng(0)
    return rng.integers(-128, 128, (HOST_CHECK_SAMPLES, g.tensors[g.input].size)).astype(np.int8), "uniform random int8"


def compile_tflite(model: str | Path, outdir, rounding: str = "litert", calib: str | None = None,
                   host_check: bool = True, board: Board | None = None, limit: int = HOST_CHECK_SAMPLES
                   ) -> CompileResult:
    model, outdir = Path(model), Path(outdir)
    manifest.check_replaceable(outdir)
    manifest.check_writable(outdir)
    if not model.is_file():
        raise McdError(f"model file '{model}' not found; give the path of an int8 .tflite")
    g = import_tflite(model, rounding)
    layout(g)  # four-pixel pointwise, weights staged in SRAM, residual adds fused (codegen/fuse.py)
    p = plan(g, scratch=scratch_for(g))
    check(g, p)
    if board is not None:
        fit.check_fits(board, sum(sum(layer_bytes(g, op).values()) for op in g.ops), p.arena_bytes,
                       g.tensors[g.input].size, g.tensors[g.output].size)
    model_hash = g.hash()
    g.meta.update(model_hash=model_hash)
    with staged_project(outdir) as tmp:
        names = emit_engine(g, p, tmp / "engine", model_hash)
        g.save(tmp)
        shutil.copyfile(model, tmp / "model.tflite")
        tin, tout = g.tensors[g.input], g.tensors[g.output]
        layers = _layer_rows(g, names)
        weight_bytes = sum(r["weight_bytes"] for r in layers)
        report = {
            "macs": g.macs, "params": g.params, "weight_bytes": weight_bytes,
            "nonzeros": sum(r["nonzeros"] for r in layers), "sparsity": 0.0,
            "float32_param_bytes": 4 * g.params, "float32_bytes": 4 * g.params + 4 * plan(g).arena_bytes,
            "footprint_bytes": weight_bytes + p.arena_bytes,
            "compression_ratio": round((4 * g.params + 4 * plan(g).arena_bytes) / (weight_bytes + p.arena_bytes), 2),
            "arena_bytes": p.arena_bytes, "arena_naive_bytes": p.naive_bytes,
            "arena_pingpong_bytes": p.pingpong_bytes, "input_bytes": tin.size, "output_bytes": tout.size,
            "layers": layers, "rounding": rounding, "final_softmax_dropped": g.meta["final_softmax_dropped"],
            "calibration": {"samples": 0, "warnings": []},
        }
        if host_check and hostrun.have_cc():
            xq, what = _host_inputs(g, calib, limit)
            report["host_check"] = check_on_host(g, tmp, xq, what)
        meta = {
            "mcudeploy_version": __version__, "model_hash": model_hash,
            "input_shape": list(g.meta["input_shape_torch"]), "input_device_shape": list(tin.shape),
            "input_scale": tin.scale, "input_zero_point": tin.zero_point, "input_bytes": tin.size,
            "output_shape": list(tout.shape), "output_scale": tout.scale, "output_zero_point": tout.zero_point,
            "output_bytes": tout.size, "arena_bytes": p.arena_bytes, "num_layers": len(names),
            "layer_names": names,
            "source": {"model": str(model), "format": "tflite", "rounding": rounding, "calib": calib},
        }
        publish(tmp, outdir, report, meta)
    return CompileResult(outdir, g, p, report)
