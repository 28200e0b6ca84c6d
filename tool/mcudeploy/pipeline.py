"""``compile``: PyTorch model -> project directory with a standalone int8 C engine.

Usage::

    result = compile_model("examples/lenet5.py:lenet5", "lenet5.pt", "mnist", "out/lenet")
    result.report["arena_bytes"]

The output directory is written to a temporary sibling and renamed into place only when every
step succeeded, so a failure (unsupported op, bad data) never leaves a half-written project. An
existing OUTDIR is replaced only when it is empty or a project this tool wrote, file for file
(its manifest, see manifest.py); otherwise the command refuses before any work.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import __version__, calib_checks, datasets, fit, hostrun, manifest, progress
from . import reference as R
from .boards import Board
from .codegen import emit_engine
from .codegen.fuse import layout
from .codegen.kernels import choose_format, layer_bytes, scratch_for
from .errors import McdError, OutputError
from .frontend import capture, load_model, run_float, simplify
from .ir import Graph
from .lower import lower
from .plan import Plan, check, plan


def run_module(module, x: torch.Tensor) -> torch.Tensor:
    """Run a float module on a batch, one sample at a time if it was exported for batch 1."""
    with torch.no_grad():
        try:
            return module(x)
        except Exception:  # noqa: BLE001 -- exported for batch 1: guards fail with assorted errors
            return torch.cat([module(x[i:i + 1]) for i in range(len(x))])


@dataclass
class CompileResult:
    outdir: Path
    graph: Graph
    plan: Plan
    report: dict


def _layer_rows(g: Graph, names: list[str]) -> list[dict]:
    rows = []
    for op in g.ops:
        if op.name not in names:
            continue
        t = g.tensors[op.output]
        b = layer_bytes(g, op)
        w = op.arrays.get("weight")
        nz = int(np.count_nonzero(w)) if w is not None else 0
        rows.append({"name": op.name, "op": op.kind + ("+maxpool" if op.attrs.get("pool") else ""),
                     "output_shape": list(t.shape), "macs": op.macs,
                     "macs_done": round(op.macs * nz / w.size) if w is not None and op.attrs.get("format") in ("sparse", "ternary_sparse")
                     else op.macs,
                     "params": int(sum(op.arrays[k].size for k in ("weight", "bias") if k in op.arrays)),
                     "nonzeros": nz, "format": op.attrs.get("format", "-"), "weight_bytes": sum(b.values()),
                     "bytes": b})
    return rows


@contextmanager
def staged_project(outdir: Path) -> Iterator[Path]:
    """A temporary folder beside ``outdir`` to build a project in; ``publish`` makes it ``outdir``.
    On any error it is removed (nothing half-written), and an OSError (disk full, folder removed
    meanwhile) becomes one OutputError line."""
    tmp = manifest.make_temp(outdir)
    try:
        yield tmp
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise OutputError(f"cannot write the project '{outdir}': {exc}") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def publish(tmp: Path, outdir: Path, report: dict, meta: dict) -> None:
    """Write the report and project files and the manifest, then put ``tmp`` in place of ``outdir``."""
    (tmp / "report.json").write_text(json.dumps(report, indent=1))
    (tmp / "project.json").write_text(json.dumps(meta, indent=1))
    manifest.write(tmp)
    manifest.replace_dir(tmp, outdir)


def check_on_host(g, tmp: Path, xq: np.ndarray, what: str) -> dict:
    """Build ``tmp/engine`` with the host C compiler, run ``xq`` through it and compare with the
    numpy reference; the report's ``host_check``, or McdError (a bug of ours) on any difference."""
    exe = hostrun.build_host(tmp / "engine", tmp / "host_build")
    same = (hostrun.run_host(exe, xq, g.tensors[g.output].size) == R.run(g, xq)).all(axis=1)
    shutil.rmtree(tmp / "host_build", ignore_errors=True)
    if not same.all():
        raise McdError(f"internal: host-compiled engine differs from the reference on "
                       f"{int((~same).sum())} of {len(xq)} {what} samples")
    return {"samples": len(xq), "bit_exact": int(same.sum()), "inputs": what}


def build_project(ep, calib_x: np.ndarray, outdir: Path, host_check: bool = True,
                  source: dict | None = None, weights_format: str | dict = "auto",
                  board: Board | None = None, strict: bool = False, rounding: str = "single") -> CompileResult:
    """Everything after loading: capture, quantize, plan, emit, self-check, write OUTDIR.

    ``rounding``: the graph's requantization rule (quantize.py), "single" by default.

    ``board``: refuse a model that cannot fit it before the engine is written (fit.py);
    ``strict``: a calibration warning (calib_checks.py) is an error."""
    outdir = Path(outdir)
    manifest.check_replaceable(outdir)  # before minutes of work, and again when replacing it
    calib_warnings = calib_checks.check_inputs(calib_x)
    calib_checks.enforce(calib_warnings, strict)
    with progress.task("capture the graph"):
        fg = simplify(capture(ep))
    with torch.no_grad():  # the captured graph must compute what the model computes
        xt = torch.from_numpy(calib_x[:8])
        ref = run_module(ep.module(), xt)
        if len(xt):
            got = run_float(fg, xt)
            err = float((got.reshape(ref.shape) - ref).abs().max())
            if err > 1e-3 * max(1.0, float(ref.abs().max())):
                raise McdError(f"internal: the captured graph differs from the model by {err:.3g}")
    with progress.task(f"calibrate and quantize on {len(calib_x):,} samples"):
        g = lower(fg, calib_x)
    if rounding != "single":  # absent means single: the hash of a single-rounding graph is unchanged
        g.meta["rounding"] = rounding
    for op in g.ops:  # dense or sparse weights: a cost model, or the user's choice per layer
        if op.kind in ("conv2d", "fc"):
            mode = weights_format.get(op.name, "auto") if isinstance(weights_format, dict) else weights_format
            op.attrs["format"] = choose_format(g, op, mode)
    layout(g)  # four-pixel pointwise, weights staged in SRAM, residual adds fused (codegen/fuse.py)
    p = plan(g, scratch=scratch_for(g))
    check(g, p)
    if board is not None:  # before the engine is written: a 16 MB weights.c takes minutes
        fit.check_fits(board, sum(sum(layer_bytes(g, op).values()) for op in g.ops), p.arena_bytes,
                       g.tensors[g.input].size, g.tensors[g.output].size)
    with progress.task("check the calibrated outputs"):
        calib_warnings += _check_outputs(fg, g, calib_x, strict)
    model_hash = g.hash()
    g.meta.update(model_hash=model_hash)

    with staged_project(outdir) as tmp:
        with progress.task("write the C engine"):
            names = emit_engine(g, p, tmp / "engine", model_hash)
        g.save(tmp)
        torch.export.save(ep, tmp / "model_float.pt2")
        tin, tout = g.tensors[g.input], g.tensors[g.output]
        float_params = sum(int(v.numel()) for k, v in ep.state_dict.items()
                           if not k.endswith(("running_mean", "running_var", "num_batches_tracked")))
        layers = _layer_rows(g, names)
        weight_bytes = sum(r["weight_bytes"] for r in layers)
        # float32 reference: float weights and the same activation plan in float (no kernel scratch)
        float32_bytes = 4 * float_params + 4 * plan(g).arena_bytes
        report = {
            "macs": g.macs, "params": g.params, "weight_bytes": weight_bytes,
            "nonzeros": sum(r["nonzeros"] for r in layers),
            "sparsity": round(1 - sum(r["nonzeros"] for r in layers) / max(1, sum(
                int(op.arrays["weight"].size) for op in g.ops if "weight" in op.arrays)), 4),
            "float32_param_bytes": 4 * float_params,
            "float32_bytes": float32_bytes, "footprint_bytes": weight_bytes + p.arena_bytes,
            "compression_ratio": round(float32_bytes / (weight_bytes + p.arena_bytes), 2),
            "arena_bytes": p.arena_bytes, "arena_naive_bytes": p.naive_bytes,
            "arena_pingpong_bytes": p.pingpong_bytes,
            "input_bytes": tin.size, "output_bytes": tout.size,
            "layers": layers,
            "calibration": {"samples": len(calib_x), "warnings": calib_warnings},
        }
        if host_check and hostrun.have_cc():
            with progress.task("check the engine on the host (cc) against the reference"):
                report["host_check"] = check_on_host(g, tmp, R.prepare_input(g, calib_x[:64]), "calibration")
        meta = {
            "mcudeploy_version": __version__, "model_hash": model_hash,
            "input_shape": list(g.meta.get("input_shape_torch", [])), "input_device_shape": list(tin.shape),
            "input_scale": tin.scale, "input_zero_point": tin.zero_point, "input_bytes": tin.size,
            "output_shape": list(tout.shape), "output_scale": tout.scale, "output_zero_point": tout.zero_point,
            "output_bytes": tout.size, "arena_bytes": p.arena_bytes, "num_layers": len(names),
            "layer_names": names, "source": source or {},
        }
        publish(tmp, outdir, report, meta)
    return CompileResult(outdir, g, p, report)


def _check_outputs(fg, g: Graph, calib_x: np.ndarray, strict: bool) -> list[str]:
    """calib_checks.check_outputs on the float outputs for every calibration sample."""
    with torch.no_grad():
        logits = torch.cat([run_float(fg, torch.from_numpy(calib_x[i:i + 256])) for i in range(0, len(calib_x), 256)])
    out = g.tensors[g.output]
    warnings = calib_checks.check_outputs(logits.numpy(), out.scale, out.zero_point)
    calib_checks.enforce(warnings, strict)
    return warnings


def compile_model(model: str, weights: str | None, calib: str, outdir, calib_limit: int = 500,
                  host_check: bool = True, weights_format: str | dict = "auto",
                  board: Board | None = None, strict: bool = False, rounding: str = "single") -> CompileResult:
    manifest.check_replaceable(Path(outdir))  # refuse before loading anything
    manifest.check_writable(Path(outdir))
    x, _y = datasets.load_spec(calib, split="train", limit=calib_limit)
    with progress.task("load and export the model (torch.export)"):
        ep = load_model(model, weights, example=torch.from_numpy(x[:1]))
    return build_project(ep, x, Path(outdir), host_check,
                         source={"model": str(model), "weights": weights, "calib": str(calib),
                                 "calib_samples": len(x)}, weights_format=weights_format,
                         board=board, strict=strict, rounding=rounding)
