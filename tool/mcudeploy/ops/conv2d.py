"""The device convolutions 'conv2d' (groups 1, no dilation; OHWI weights) and 'dwconv2d'
(depthwise; HWC weights), lowered from the float 'conv' node (ops/conv.py).

Integer semantics: acc = bias + sum over the window of (q_in - zp_in) * w (padding is real 0);
a fused max-pool takes the max of the accumulators of each window (monotonic, so equal to pooling
the requantized values); then per-channel requantization (the graph's rule) and the fused
activation's clip.

conv2d's kernel variants (``codegen.kernels.variant``, from the storage format ``choose_format``
picks): default (im2col + SMLAD GEMM), rows (few input channels, no im2col), pointwise (1x1),
sparse / sparse_tile (non-zeros only), lowbit (2 or 4 bits a weight). The weight layouts, scratch
sizes and format cost model are ``codegen/kernels.py``'s helpers (the Python twins of the C
kernels); these records wire them.
"""

from __future__ import annotations

import numpy as np

from . import OpRecord, register
from .conv import _K

# --- integer semantics ---------------------------------------------------------------------------

def _maxpool_windows(a, k, s):
    from ..reference import _windows

    return _windows(a, k, s, [0, 0, 0, 0], 0).max(axis=(-2, -1))


def conv2d_reference(op, xs, tins, tout):
    from ..reference import _finish, _windows

    w = op.arrays["weight"]
    o, kh, kw, c = w.shape
    win = _windows(xs[0].astype(np.int32) - tins[0].zero_point, (kh, kw), op.attrs["stride"], op.attrs["pad"], 0)
    n, oh, ow = win.shape[:3]
    cols = win.transpose(0, 1, 2, 4, 5, 3).reshape(n * oh * ow, kh * kw * c).astype(np.float64)
    acc = np.rint(cols @ w.reshape(o, -1).T.astype(np.float64)).astype(np.int64).reshape(n, oh, ow, o)
    acc += op.arrays["bias"]
    if op.attrs.get("pool"):
        acc = _maxpool_windows(acc, op.attrs["pool"]["k"], op.attrs["pool"]["s"])
    if "add" in op.attrs:  # a fused residual add (codegen/fuse.py): the conv's own output, then the add
        return fused_add_reference(op, _finish(acc, op, op.attrs["add"]["mid_zp"]), xs[1], tout)
    return _finish(acc, op, tout.zero_point)


def fused_add_reference(op, y, skip, tout):
    """ops/add.py's reference on (the conv's int8 output y, the skip), with the add's constants
    from attrs["add"] (the conv's operand first)."""
    from .. import quantize as Q
    from ..reference import _rounding
    from .add import rescale

    a, r = op.attrs["add"], _rounding(op)
    y1, y2 = rescale(a, 0, y, a["mid_zp"], r), rescale(a, 1, skip, a["skip_zp"], r)
    z = Q.requantize(y1 + y2, a["out_mult"], a["out_shift"], r) + tout.zero_point
    return np.clip(z, a["act"][0], a["act"][1]).astype(np.int8)


def fused_add_tables(g, op) -> np.ndarray:
    """The fused add's two rescale tables (2 x 256 int32; entry v + 128 of table k is operand k's
    rescale of v, doubled under the double rule), as ops/add.py's rescale_tables."""
    from .add import tables

    a = op.attrs["add"]
    return tables(a, (a["mid_zp"], a["skip_zp"]), _K().op_rounding(g, op))


def fused_tab_bytes(g, op) -> int:
    """Scratch for what a fused add copies from flash into SRAM first (mcd_conv2d_s8_add, fast bits 8
    and 16; attrs["add_stage"], set by codegen/fuse.py where the arena has room): 1 its two
    rescale tables (2 KB), read twice an output at random; 2 also the conv's requantization
    records (16 B a channel), read once a pixel pair. Both miss the F446RE's 8-line flash data
    cache at every pass."""
    level = op.attrs.get("add_stage", 0) if "add" in op.attrs else 0
    return (2048 if level >= 1 else 0) + (16 * g.tensors[op.output].shape[-1] if level >= 2 else 0)


def fused_add_mode(g, op) -> int:
    """How mcd_conv2d_s8_add does the add's output step (conv2d_add_s8.c): 1 the double rule as one
    SMMLAR (act_min >= the output zero point, 1 <= shift <= 22), 2 the double rule in two steps,
    3 the double rule's generic form, 4 single rounding from the high word, 5 its generic form,
    6 single rounding as one SMMLA (2 <= shift <= 22)."""
    a, zp = op.attrs["add"], g.tensors[op.output].zero_point
    s = a["out_shift"]
    if _K().op_rounding(g, op) == "double":
        return 1 if a["act"][0] >= zp and 1 <= s <= 22 else (2 if s >= 1 else 3)
    return 6 if 2 <= s <= 22 else (4 if s >= 1 else 5)


def dwconv2d_reference(op, xs, tins, tout):
    from ..reference import _finish, _windows

    w = op.arrays["weight"]  # (kh, kw, C)
    kh, kw, _c = w.shape
    win = _windows(xs[0].astype(np.int64) - tins[0].zero_point, (kh, kw), op.attrs["stride"], op.attrs["pad"], 0)
    acc = np.einsum("nhwcij,ijc->nhwc", win, w.astype(np.int64)) + op.arrays["bias"]
    if op.attrs.get("pool"):
        acc = _maxpool_windows(acc, op.attrs["pool"]["k"], op.attrs["pool"]["s"])
    return _finish(acc, op, tout.zero_point)


# --- the kernels: variant, weight layout, scratch, C call ----------------------------------------

def conv2d_arrays(g, op) -> dict:
    """Sparse formats replace weight and bias by their encoding; the others repack the weights;
    the default, pointwise and low-bit kernels read [O][4] requantization records (bias folded in)."""
    K = _K()
    v = K.variant(op)
    out: dict = {}
    if v in ("sparse", "sparse_tile"):
        out.update(weight=None, bias=None, **K.sparse_arrays(g, op))
    elif v == "few":  # one int32 pack: weights, bias and records a block of four channels (few_pack)
        out.update(weight=K.few_pack(g, op), bias=None)
    else:
        out["weight"] = K.kernel_weights(op)
    if v in ("pointwise", "default", "lowbit"):
        w = op.arrays["weight"]
        out["rq"] = K.rq_records(g, op, w.reshape(w.shape[0], int(np.prod(w.shape[1:])))).reshape(-1)
        out["bias"] = None
        out.update(K.pw_live_arrays(g, op, out["rq"]))  # mcd_pwconv2d_s8_live: constant channels skipped
        if "add" in op.attrs:
            out["addtab"] = fused_add_tables(g, op)
    elif v == "rows":  # the records' mult, cz, s (mcd_rq_channel); the kernel keeps its bias
        w = op.arrays["weight"]  # (a gated-off layer may have no output channel: reshape by size)
        out["rq"] = K.rq_records(g, op, w.reshape(w.shape[0], int(np.prod(w.shape[1:])))).reshape(-1)
    return out


def dwconv2d_arrays(g, op) -> dict:  # weights int16 [C][k_h][KW2]; [C][4] (bias_adj, mult, cz, s)
    K = _K()
    kh, kw, c = op.arrays["weight"].shape
    w, rq = K.kernel_weights(op), K.rq_records(g, op, op.arrays["weight"].reshape(kh * kw, c).T)
    if K.dw_doubled(g, op):  # the kernel accumulates 2 * acc (mcd_dw_requant8, fast_rq bit 4); |w| <= 128 fits int16
        w = (w.astype(np.int32) * 2).astype(np.int16)
        rq = rq.copy()
        rq[:, 0] = ((rq[:, 0].astype(np.int64) * 2 + (1 << 31)) % (1 << 32) - (1 << 31)).astype(np.int32)
    return {"weight": w, "rq": rq.reshape(-1)}


def _rows_bytes(g, op, cols: int) -> int:  # mcd_conv2d_rows_s8_scratch_bytes with out_w_conv = cols
    o, kh, kw, c = op.arrays["weight"].shape
    row = ((cols - 1) * op.attrs["stride"][1] + kw) * c + 2
    pool = op.attrs.get("pool")
    pool_2x2 = bool(pool) and pool["k"] == [2, 2]
    pooled_w = g.tensors[op.output].shape[1] if pool else 0
    n_rows = kh + op.attrs["stride"][0] if pool_2x2 else kh
    return ((n_rows * row * 2 + 3) & ~3) + (0 if pool_2x2 else pooled_w * o * 4)


def rows_strip_w(g, op) -> int:
    """The conv columns the rows kernel widens at once (its out_w_conv argument): the conv
    output's whole width; but for a layer with a fused 2x2 pool that the rule for few channels
    alone would give the 2x4 GEMM (kernels.ROWS_POOL_MAX_C_IN), the widest strip of pooled
    columns whose rows fit the GEMM's scratch, so that the faster kernel costs no more RAM."""
    K = _K()
    o, kh, kw, c = op.arrays["weight"].shape
    full = K.conv_out_w(g, op)
    if c <= K.ROWS_MAX_C_IN and o < K.ROWS_BELOW_C_OUT:
        return full
    pk, ps = op.attrs["pool"]["k"][1], op.attrs["pool"]["s"][1]
    gemm = 2 * K.k4(kh * kw * c) * 2 + (o + (o & 1)) * 4  # mcd_conv2d_s8_scratch_bytes
    for strip in range(g.tensors[op.output].shape[1], 1, -1):
        if _rows_bytes(g, op, (strip - 1) * ps + pk) <= gemm:
            return (strip - 1) * ps + pk
    return pk


def conv2d_scratch(g, op) -> int:
    K = _K()
    v = K.variant(op)
    o, kh, kw, c = op.arrays["weight"].shape
    if v == "lowbit":  # mcd_conv2d_lowbit_s8_scratch_bytes
        kp = K.lowbit_kp(K.LOWBIT[op.attrs["format"]], op.arrays["weight"][0].size)
        return 2 * kp * 2 + 3 * o * 4
    if v == "sparse_tile":  # mcd_conv2d_sparse_tile_s8_scratch_bytes
        pool = bool(op.attrs.get("pool"))
        chunk = o if pool else min(o, K.TILE_CHUNK_NOPOOL)
        return c * kh * K.tile_geometry(g, op)[1] * 4 + chunk * (2 if pool else 8) * 4
    if v == "sparse":
        if not any(op.attrs["pad"]):
            return 0
        h, w, c = g.tensors[op.inputs[0]].shape
        t, left, b, r = op.attrs["pad"]
        return (h + t + b) * (w + left + r) * c
    if v == "few":  # mcd_conv2d_few_s8_scratch_bytes: the ring of widened rows (twice for odd stride_w * C_in), the pack
        ow, sc = K.conv_out_w(g, op), op.attrs["stride"][1] * c
        row = ((((ow + (ow & 1) - 1) * op.attrs["stride"][1] + kw) * c + 2) + 1) & ~1
        tails = (kh - 1) * row * 2 + 2 * (ow + (ow & 1)) * sc * 2 if K.few_tail_words(op) else 0  # mcd_few_tails_bytes
        return 2 * kh * row * 2 * (2 if sc & 1 else 1) + tails + K.staged_bytes(op)
    if v == "rows":  # mcd_conv2d_rows_s8_scratch_bytes + the staged weights
        return _rows_bytes(g, op, rows_strip_w(g, op)) + K.staged_bytes(op)
    if v == "pointwise" and op.attrs.get("pw4"):  # mcd_pwconv2d_s8_4px_scratch_bytes: four pixel columns
        return 8 * K.k4(c) + 4 + K.staged_bytes(op)  # + the loop's end word
    if v == "pointwise":  # mcd_pwconv2d_s8_scratch_bytes: two int16 pixel columns
        return (2 * K.k4(c) + 4) * 2
    # mcd_conv2d_s8_scratch_bytes: two interleaved int16 columns, a max per channel; + staged weights
    return 2 * K.k4(kh * kw * c) * 2 + (o + (o & 1)) * 4 + K.staged_bytes(op) + fused_tab_bytes(g, op)


def conv2d_c_scratch(g, op) -> str | None:
    K = _K()
    v, a = K.variant(op), op.attrs
    o, kh, kw, c = op.arrays["weight"].shape
    pool = a.get("pool")
    if v == "rows":
        p2 = int(bool(pool) and pool["k"] == [2, 2])
        return (f"mcd_conv2d_rows_s8_scratch_bytes({kh}, {kw}, {c}, {o}, {a['stride'][0]}, {a['stride'][1]}, "
                f"{rows_strip_w(g, op)}, {p2}, {g.tensors[op.output].shape[1] if pool else 0}) + {K.staged_bytes(op)}")
    if v == "few":
        return (f"mcd_conv2d_few_s8_scratch_bytes({kh}, {kw}, {c}, {o}, {a['stride'][1]}, {K.conv_out_w(g, op)}, "
                f"{int(bool(a.get('stage_weights')))})")
    if v == "pointwise" and a.get("pw4"):
        return f"mcd_pwconv2d_s8_4px_scratch_bytes({c}, {o}, {int(bool(a.get('stage_weights')))})"
    if v == "pointwise":
        return f"mcd_pwconv2d_s8_scratch_bytes({c})"
    if v == "lowbit":
        return f"mcd_conv2d_lowbit_s8_scratch_bytes({K.LOWBIT[a['format']]}, {kh}, {kw}, {c}, {o})"
    if v == "sparse_tile":
        return (f"mcd_conv2d_sparse_tile_s8_scratch_bytes({c}, {kh}, {kw}, {o}, {int(bool(pool))}, "
                f"{K.tile_geometry(g, op)[0]})")
    if v == "sparse":
        h, w, _ = g.tensors[op.inputs[0]].shape
        t, left, b, r = a["pad"]
        return f"mcd_conv2d_sparse_s8_scratch_bytes(&(mcd_dims){{{h}, {w}, {c}}}, {t}, {left}, {b}, {r})"
    return (f"mcd_conv2d_s8_scratch_bytes({kh}, {kw}, {c}, {o}) + {K.staged_bytes(op)}"  # + weights staged in SRAM
            + (f" + {fused_tab_bytes(g, op)}" if fused_tab_bytes(g, op) else ""))  # + a fused add's tables


def dwconv2d_scratch(g, op) -> int:  # mcd_dwconv2d_s8_scratch_bytes: per channel a mirrored ring of k_h int16 rows
    K = _K()
    kh, kw, c = op.arrays["weight"].shape
    sw = op.attrs["stride"][1]
    if op.attrs.get("pool") or kh > K.DW_MAX_K or kw > K.DW_MAX_K or sw > 2:
        return 0
    span = ((K.conv_out_w(g, op) - 1) * sw + kw + 3) & ~1  # mcd_dw_span
    return 2 * kh * c * span * 2 + K.k4(c)  # + one pixel of zero points


def dwconv2d_c_scratch(g, op) -> str:
    kh, kw, c = op.arrays["weight"].shape
    a = op.attrs
    return (f"mcd_dwconv2d_s8_scratch_bytes({kh}, {kw}, {c}, {a['stride'][1]}, {_K().conv_out_w(g, op)}, "
            f"{int(bool(a.get('pool')))})")


def layer(g, op, d) -> dict:
    """The C call's extra fields: kernel size, the fused pool, the conv's own output width, packed
    bits, and whether the requantization records take the fast path."""
    K = _K()
    w = op.arrays["weight"]
    out = {"k": list(w.shape[1:3]) if op.kind == "conv2d" else list(w.shape[:2]),
           "pool": op.attrs.get("pool") or {"k": [1, 1], "s": [1, 1]}, "out_w_conv": K.conv_out_w(g, op)}
    if d["variant"] == "lowbit":
        out["bits"] = K.LOWBIT[op.attrs["format"]]
    if d["variant"] == "few":  # mcd_conv2d_few_s8's mode: 1 doubled (few_dbl), 2 staged, 4 records
        fits = K.rq_fits(op, K.op_rounding(g, op), g)
        out["few_mode"] = (int(K.few_dbl(g, op)) | (2 if op.attrs.get("stage_weights") else 0)
                           | (4 if fits else 0))
    if d["variant"] == "rows":  # | 2: copy the weights into the scratch first (stage_weights)
        out["rq_fast"] = K.rq_fast_code(g, op) | (2 if op.attrs.get("stage_weights") else 0)
        out["out_w_conv"] = rows_strip_w(g, op)  # the conv columns widened at once
    if "add" in op.attrs:  # mcd_conv2d_s8_add: the records hold the conv's own zero point
        out.update(out_zp=op.attrs["add"]["mid_zp"], add_zp=g.tensors[op.output].zero_point,
                   add_mode=fused_add_mode(g, op), add=op.attrs["add"])
    if d["variant"] in ("default", "pointwise", "lowbit"):
        out["rq_fast"] = K.rq_fast_code(g, op)
        if d["variant"] in ("default", "pointwise") and op.attrs.get("stage_weights"):  # copy the weights first
            sw = op.attrs["stage_weights"]  # 4: into the input's dead rows; nb << 16: in blocks of nb channels
            out["rq_fast"] |= 4 if sw == "input" else op.attrs["stage_block"] << 16 if sw == "block" else 2
            if "add" not in op.attrs:  # mcd_conv2d_s8 only (the fused kernel's bits 8 and 16 are its own, below)
                out["rq_fast"] |= 8 if op.attrs.get("stage_rq") else 0  # the records too
                out["rq_fast"] |= 32 if op.attrs.get("stage_out_tail") else 0  # first from the output's tail
        if fused_tab_bytes(g, op):  # mcd_conv2d_s8_add: the add's tables (8) and the records (16) into the scratch
            out["rq_fast"] |= 8 | (16 if op.attrs["add_stage"] >= 2 else 0)
        out["pw4"] = bool(op.attrs.get("pw4"))  # mcd_pwconv2d_s8_4px
        live = K.pw_live(g, op)
        out["pw_live"] = None if live is None else len(live)  # mcd_pwconv2d_s8_live: constant channels copied
        out["pw_lin"] = len(K.pw_live_inputs(g, op)[0]) if live is not None else 0  # live input channels
        out["pw_has_lin"] = live is not None and out["pw_lin"] < g.tensors[op.inputs[0]].shape[-1]
    return out


def conv2d_includes(l_) -> list[str]:
    return {"rows": ["mcd_conv2d_rows_s8.h"], "few": ["mcd_conv2d_rows_s8.h", "mcd_conv2d_few_s8.h"], "sparse_tile": ["mcd_conv2d_sparse_tile_s8.h"],
            "pointwise": ["mcd_pwconv2d_s8.h"]}.get(l_["variant"], [])


_PRELUDE = ("static const mcd_conv_params p = { {{ l.attrs.stride[0] }}, {{ l.attrs.stride[1] }}, {{ l.attrs.pad[0] }}, "
            "{{ l.attrs.pad[1] }}, {{ l.pool.k[0] }}, {{ l.pool.k[1] }}, {{ l.pool.s[0] }}, {{ l.pool.s[1] }}, "
            "{{ l.in_zp }}, {{ l.out_zp }}, {{ l.attrs.act[0] }}, {{ l.attrs.act[1] }} };\n"
            "static const mcd_channel_quant q = { mcd_{{ l.c }}_mult, mcd_{{ l.c }}_shift };\n"
            "static const mcd_dims in_d = { {{ l.in_dims | join(', ') }} };\n"
            "static const mcd_dims out_d = { {{ l.out_dims | join(', ') }} };\n")

_CONV2D_CALL = _PRELUDE + """{% if l.variant == "sparse_tile" %}
mcd_conv2d_sparse_tile_s8(&p, &q, &in_d, {{ l.ins[0] }}, {{ l.k[0] }}, {{ l.k[1] }}, {{ l.attrs.pad[2] }}, {{ l.attrs.pad[3] }}, mcd_{{ l.c }}_sp_ptr, mcd_{{ l.c }}_sp_rec, mcd_{{ l.c }}_bias_adj, &out_d, {{ l.out }}, {{ l.scratch }});
{% elif l.variant == "lowbit" %}
mcd_conv2d_lowbit_s8({{ l.bits }}, &p, &q, &in_d, {{ l.ins[0] }}, {{ l.k[0] }}, {{ l.k[1] }}, (const uint32_t *)mcd_{{ l.c }}_weight, mcd_{{ l.c }}_rq, {{ l.rq_fast }}, &out_d, {{ l.out }}, {{ l.scratch }});
{% elif l.variant == "sparse" %}
mcd_conv2d_sparse_s8(&p, &q, &in_d, {{ l.ins[0] }}, {{ l.attrs.pad[2] }}, {{ l.attrs.pad[3] }}, mcd_{{ l.c }}_sp_ptr, mcd_{{ l.c }}_sp_delta, mcd_{{ l.c }}_sp_val, mcd_{{ l.c }}_bias_adj, &out_d, {{ l.out }}, {{ l.scratch }});
{% elif l.variant == "pointwise" and l.pw_live is not none and l.pw4 %}
mcd_pwconv2d_s8_live_4px(&p, &in_d, {{ l.ins[0] }}, mcd_{{ l.c }}_weight, mcd_{{ l.c }}_rq, {{ l.pw_live }}, mcd_{{ l.c }}_live, mcd_{{ l.c }}_cst, {{ l.pw_lin }}, {{ ('mcd_' ~ l.c ~ '_lin') if l.pw_has_lin else '0' }}, &out_d, {{ l.out }}, {{ l.scratch }});
(void)q;
{% elif l.variant == "pointwise" and l.pw_live is not none %}
mcd_pwconv2d_s8_live(&p, &in_d, {{ l.ins[0] }}, mcd_{{ l.c }}_weight, mcd_{{ l.c }}_rq, {{ l.pw_live }}, mcd_{{ l.c }}_live, mcd_{{ l.c }}_cst, {{ l.pw_lin }}, {{ ('mcd_' ~ l.c ~ '_lin') if l.pw_has_lin else '0' }}, &out_d, {{ l.out }}, {{ l.scratch }});
(void)q;
{% elif l.variant == "pointwise" and l.pw4 %}
mcd_pwconv2d_s8_4px(&p, &q, &in_d, {{ l.ins[0] }}, mcd_{{ l.c }}_weight, mcd_{{ l.c }}_rq, {{ l.rq_fast }}, &out_d, {{ l.out }}, {{ l.scratch }});
{% elif l.variant == "pointwise" %}
mcd_pwconv2d_s8(&p, &q, &in_d, {{ l.ins[0] }}, mcd_{{ l.c }}_weight, mcd_{{ l.c }}_rq, {{ l.rq_fast }}, &out_d, {{ l.out }}, {{ l.scratch }});
{% elif l.variant == "few" %}
mcd_conv2d_few_s8(&p, &q, &in_d, {{ l.ins[0] }}, {{ l.k[0] }}, {{ l.k[1] }}, mcd_{{ l.c }}_weight, {{ l.few_mode }}, &out_d, {{ l.out }}, {{ l.scratch }});
{% elif l.add is defined %}
static const mcd_add_params ap = { {{ l.add.mid_zp }}, {{ l.add.skip_zp }}, {{ l.add_zp }}, {{ l.add.left_shift }}, {{ l.add.mult[0] }}, {{ l.add.shift[0] }}, {{ l.add.mult[1] }}, {{ l.add.shift[1] }}, {{ l.add.out_mult }}, {{ l.add.out_shift }}, {{ l.add.act[0] }}, {{ l.add.act[1] }} };
mcd_conv2d_s8_add(&p, &in_d, {{ l.ins[0] }}, {{ l.k[0] }}, {{ l.k[1] }}, mcd_{{ l.c }}_weight, mcd_{{ l.c }}_rq, {{ l.rq_fast }}, &out_d, {{ l.ins[1] }}, &ap, {{ l.add_mode }}, mcd_{{ l.c }}_addtab, {{ l.out }}, {{ l.scratch }});
(void)q;
{% elif l.variant == "rows" %}
mcd_conv2d_rows_s8(&p, &q, &in_d, {{ l.ins[0] }}, {{ l.k[0] }}, {{ l.k[1] }}, mcd_{{ l.c }}_weight, mcd_{{ l.c }}_bias, mcd_{{ l.c }}_rq, {{ l.rq_fast }}, &out_d, {{ l.out_w_conv }}, {{ l.out }}, {{ l.scratch }});
{% else %}
mcd_conv2d_s8(&p, &q, &in_d, {{ l.ins[0] }}, {{ l.k[0] }}, {{ l.k[1] }}, mcd_{{ l.c }}_weight, mcd_{{ l.c }}_rq, {{ l.rq_fast }}, &out_d, {{ l.out }}, {{ l.scratch }});
{% endif %}"""

_DW_CALL = _PRELUDE + ("mcd_dwconv2d_s8(&p, &q, &in_d, {{ l.ins[0] }}, {{ l.k[0] }}, {{ l.k[1] }}, mcd_{{ l.c }}_weight, "
                       "mcd_{{ l.c }}_bias, mcd_{{ l.c }}_rq, {{ l.rq_fast }}, &out_d, {{ l.out }}, {{ l.scratch }});")

register(OpRecord(
    name="conv2d", reference=conv2d_reference, select=lambda g, op: _K().variant(op), arrays=conv2d_arrays,
    scratch=conv2d_scratch, c_scratch=conv2d_c_scratch, layer=layer, c_includes=conv2d_includes,
    c_files=["conv2d_s8.c", "conv2d_add_s8.c", "mcd_gemm2x4_s8.h", "mcd_im2col_s8.h", "conv2d_lowbit_s8.c", "mcd_lowbit_s8.h",
             "mcd_conv2d_rows_s8.h", "mcd_conv2d_few_s8.h", "mcd_pwconv2d_s8.h", "conv2d_sparse_s8.c", "conv2d_sparse_tile_s8.c",
             "mcd_conv2d_sparse_tile_s8.h"],
    # mcd_pwconv2d_s8_4px widens a pixel block before writing it; mcd_conv2d_s8_add writes over its skip
    in_place=lambda g, op: [op.inputs[1]] if "add" in op.attrs else _K().pw4_in_place(g, op),
    c_call=_CONV2D_CALL, rounding_family="other", channels="conv",
    rounding="single or double (the graph's rule), per output channel",
))

register(OpRecord(
    name="dwconv2d", reference=dwconv2d_reference, select=lambda g, op: _K().variant(op), arrays=dwconv2d_arrays,
    scratch=dwconv2d_scratch, c_scratch=dwconv2d_c_scratch, layer=layer,
    c_includes=lambda l_: ["mcd_dwconv2d_s8.h"],
    c_files=["mcd_dwconv2d_s8.h", "dwconv2d_s8.c"],
    in_place=lambda g, op: _K().dw_in_place_ok(g, op),  # the fast kernel's ring reads each row before it is overwritten
    c_call=_DW_CALL, rounding_family="other", channels="depthwise",
    rounding="single or double (the graph's rule), per channel",
))
