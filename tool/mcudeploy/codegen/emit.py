"""Emit ``engine/``: model.h, model.c, weights.c and the kernels they call.

Python only prepares data (buffer pointers, dims, quantization constants); the C text lives in
templates named after the file they produce (``model.c.j2``), one jinja2 macro per op kind.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import jinja2
import numpy as np

from ..ir import Graph, Op
from ..ops import REGISTRY
from ..paths import KERNELS
from ..plan import Plan
from .kernels import (
    LOWBIT,
    TERNARY_SPARSE,
    conv_out_w,
    kernel_arrays,
    op_rounding,
    rq_fits,
    ternary_sparse_fill,
    variant,
)

_ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
                          trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined,
                          keep_trailing_newline=True)


def c_float(x: float) -> str:
    """A C float literal that reads back as the same float32: ``0.00392156886f``, ``1.0f``
    (``%.9g`` alone prints ``1``, and ``1f`` is not C)."""
    if not np.isfinite(x):
        raise ValueError(f"non-finite quantization scale {x}")
    s = f"{float(np.float32(x)):.9g}"
    if not any(c in s for c in ".en"):
        s += ".0"
    return s + "f"


_ENV.filters["c_float"] = c_float

# The kernel source each op kind needs; mcd_common.h and mcd_kernels.h always come along.
KERNEL_FILES = {
    "conv2d": ["conv2d_s8.c", "mcd_im2col_s8.h", "conv2d_lowbit_s8.c", "mcd_lowbit_s8.h", "mcd_conv2d_rows_s8.h", "mcd_pwconv2d_s8.h", "conv2d_sparse_s8.c", "conv2d_sparse_tile_s8.c", "mcd_conv2d_sparse_tile_s8.h"], "dwconv2d": ["mcd_dwconv2d_s8.h", "dwconv2d_s8.c"], "fc": ["mcd_fc_s8.h", "fc_sparse_s8.c", "fc_lowbit_s8.c", "mcd_lowbit_s8.h", "fc_ternary_sparse_s8.c"],
    "maxpool": ["maxpool_s8.c"], "avgpool": ["avgpool_s8.c"], "add": ["add_s8.c"],
    "concat": ["concat_s8.c"], "clamp": ["clamp_s8.c"], "to_chw": ["to_chw_s8.c"], "reshape": [],
}
HEADERS = ["mcd_common.h", "mcd_kernels.h", "mcd_simd.h", "mcd_gemm_s8.h"]


def c_ident(name: str) -> str:
    s = re.sub(r"\W", "_", name)
    return s if not s[0].isdigit() else "_" + s


def _ptr(p: Plan, tensor: str) -> str:
    region, off = p.where[tensor]
    return {"arena": f"(MCD_ARENA + {off})", "input": "input", "output": "output"}[region]


def _carray(ctype: str, name: str, arr: np.ndarray) -> str:
    vals = np.asarray(arr).reshape(-1).tolist()
    lines = [", ".join(str(int(v)) for v in vals[i:i + 24]) for i in range(0, len(vals), 24)]
    body = ",\n    ".join(lines) if lines else "0"
    return f"const {ctype} {name}[{max(len(vals), 1)}] = {{\n    {body}\n}};\n"


def _dims(shape) -> list[int]:
    shape = list(shape)
    return shape if len(shape) == 3 else [1, 1, shape[0]]


def _layer(g: Graph, p: Plan, op: Op, index: int) -> dict:
    tin, tout = g.tensors[op.inputs[0]], g.tensors[op.output]
    a = op.attrs
    d = {"kind": op.kind, "name": op.name, "c": c_ident(op.name), "index": index,
         "ins": [_ptr(p, t) for t in op.inputs], "out": _ptr(p, op.output),
         "in_dims": _dims(tin.shape), "out_dims": _dims(tout.shape), "in_zp": tin.zero_point,
         "out_zp": tout.zero_point, "in_n": tin.size, "out_n": tout.size, "attrs": a}
    if op.kind in ("conv2d", "dwconv2d"):
        w = op.arrays["weight"]
        d["k"] = list(w.shape[1:3]) if op.kind == "conv2d" else list(w.shape[:2])
        pool = a.get("pool") or {"k": [1, 1], "s": [1, 1]}
        d["pool"] = pool
        d["out_w_conv"] = conv_out_w(g, op)
    region, off = p.where[op.output]
    if region == "input":
        raise AssertionError(f"layer {op.name} writes into the input buffer")
    d["out_at"] = off if region == "arena" else -1  # -1: the caller's output buffer
    rec = REGISTRY.get(op.kind)
    d["variant"] = rec.select(g, op) if rec and rec.select else variant(op)
    if d["variant"] == "lowbit":
        d["bits"] = LOWBIT[a["format"]]
    if d["variant"] == TERNARY_SPARSE:
        d["fill"] = ternary_sparse_fill(op)
    if op.kind in ("conv2d", "dwconv2d") and d["variant"] in ("default", "pointwise", "lowbit"):
        d["rq_fast"] = int(rq_fits(op, op_rounding(g, op)))
    scratch = p.where.get(f"scratch:{op.name}")
    d["scratch"] = f"(MCD_ARENA + {scratch[1]})" if scratch else "0"
    if op.kind == "add":
        t2 = g.tensors[op.inputs[1]]
        d["zp2"] = t2.zero_point
    if op.kind == "concat":
        parts, off = [], 0
        for t, m, s, cp in zip(op.inputs, a["mult"], a["shift"], a["copy"]):
            ti = g.tensors[t]
            c = ti.shape[-1]
            parts.append({"ptr": _ptr(p, t), "c": c, "is_copy": int(cp), "zp": ti.zero_point, "mult": m,
                          "shift": s, "off": off})
            off += c
        d["parts"] = parts
        d["pixels"] = tout.size // tout.shape[-1]
    if rec is not None:  # an op record: its C call, rendered with this dict
        d["ins_dims"] = [_dims(g.tensors[t].shape) for t in op.inputs]
        d["ins_zp"] = [g.tensors[t].zero_point for t in op.inputs]
        d["wshape"] = list(op.arrays["weight"].shape) if "weight" in op.arrays else []
        d["call"] = _ENV.from_string(rec.c_call).render(l=d).strip()
    return d


def config_header(g: Graph) -> str:
    """engine/mcd_config.h: the graph's compile-time choices, read by mcd_common.h. A constant
    rather than a run-time flag so a single-rounding engine compiles to exactly what it did."""
    default = g.meta.get("rounding", "single")
    rules = {"fc": set(), "other": set()}
    for op in g.ops:
        if op.kind in ("conv2d", "dwconv2d", "fc", "add", "concat"):
            rules["fc" if op.kind == "fc" else "other"].add(op_rounding(g, op))
    for family, r in rules.items():
        if len(r) > 1:
            raise ValueError(f"internal: the {family} ops of one graph mix rounding rules {sorted(r)}")
    double = int((rules["other"] or {default}).pop() == "double")
    double_fc = int((rules["fc"] or {default}).pop() == "double")
    return ("/* Generated by mcudeploy: this engine's compile-time choices. Do not edit. */\n"
            "#ifndef MCD_CONFIG_H\n#define MCD_CONFIG_H\n"
            "/* requantization (mcd_common.h): 1 gemmlowp's double rounding, 0 single rounding */\n"
            f"#define MCD_ROUNDING_DOUBLE {double}\n"
            f"#define MCD_ROUNDING_DOUBLE_FC {double_fc} /* fully-connected layers */\n"
            "#endif\n")


def ops_header(kinds) -> str:
    """mcd_ops.h: the prototypes of the op records' kernels (each kernel file includes it, so the
    compiler checks the record's declaration against the definition)."""
    decls = [REGISTRY[k].c_decl for k in REGISTRY if k in kinds and REGISTRY[k].c_decl]
    return ("/* Generated by mcudeploy from the op records (mcudeploy/ops). Do not edit. */\n"
            "#ifndef MCD_OPS_H\n#define MCD_OPS_H\n#include \"mcd_kernels.h\"\n" + "\n".join(decls)
            + "\n#endif\n")


def kernel_sources(g: Graph) -> list[str]:
    files = list(HEADERS)
    for op in g.ops:
        for f in (REGISTRY[op.kind].c_files if op.kind in REGISTRY else KERNEL_FILES[op.kind]):
            if f not in files:
                files.append(f)
    return files


def emit_engine(g: Graph, p: Plan, outdir: Path, model_hash: str) -> list[str]:
    """Write ``outdir`` (the engine folder) and return the layer names in hook order."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    layers = []
    for op in g.ops:
        if op.kind == "reshape":
            continue
        layers.append(_layer(g, p, op, len(layers)))
    weights = []
    for op in g.ops:
        for key, arr in sorted(kernel_arrays(g, op).items()):
            ctype = {np.dtype(np.int8): "int8_t", np.dtype(np.int16): "int16_t", np.dtype(np.uint8): "uint8_t",
                     np.dtype(np.uint16): "uint16_t"}.get(np.asarray(arr).dtype, "int32_t")
            weights.append({"decl": f"extern const {ctype} mcd_{c_ident(op.name)}_{key}[];",
                            "def": _carray(ctype, f"mcd_{c_ident(op.name)}_{key}", arr)})
    tin, tout = g.tensors[g.input], g.tensors[g.output]
    ctx = {
        "layers": layers, "weights": weights, "arena_bytes": p.arena_bytes, "model_hash": model_hash,
        "input": {"bytes": tin.size, "dims": _dims(tin.shape), "scale": tin.scale, "zp": tin.zero_point},
        "output": {"bytes": tout.size, "dims": _dims(tout.shape), "scale": tout.scale, "zp": tout.zero_point},
        "output_copy_from": None if p.where[g.output][0] == "output" else _ptr(p, g.output),
        "macs": g.macs,
    }
    for name in ("model.h", "model.c", "weights.c", "model_weights.h"):
        (outdir / name).write_text(_ENV.get_template(name + ".j2").render(**ctx))
    for f in kernel_sources(g):
        shutil.copy(KERNELS / f, outdir / f)
    (outdir / "mcd_config.h").write_text(config_header(g))
    (outdir / "mcd_ops.h").write_text(ops_header({op.kind for op in g.ops}))
    return [layer["name"] for layer in layers]
