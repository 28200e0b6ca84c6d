"""Where in the network the device and the reference part: a layer-by-layer diff of one sample.

Usage::

    rep = diff_layers(prj.graph, xq[i], crcs=dev.layer_crcs(zlib.crc32(xq[i])),
                      read=dev.layer_output)                     # over the link
    rep = diff_layers(prj.graph, xq[i], outputs=host_layers)    # or every layer at once (host build)
    rep["first_differing_layer"]["name"], rep["first_differing_layer"]["positions"][0]

The device runs the input again with a tap after every layer (firmware src/run.h) and sends one
CRC-32 per layer, so finding the layer costs one inference and ``4 x layers`` bytes whatever the
activations weigh; only the first layer whose CRC differs is then read back in full and compared
element by element. Layers before it are byte-equal to the reference, so the bug is in that
layer's kernel (or its parameters), not upstream. The layers are the engine's: the graph's ops
without reshapes, each with its output in device layout (HWC, or CHW after ``to_chw``).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

import numpy as np

from . import reference as R
from .ir import Graph

SHOWN = 10  # differing positions listed in the report


def engine_layers(g: Graph) -> list:
    """The ops that are layers of the generated engine, in hook order (codegen/emit.py)."""
    return [op for op in g.ops if op.kind != "reshape"]


def reference_layers(g: Graph, xq1: np.ndarray) -> list[np.ndarray]:
    """Each engine layer's int8 output for one sample, as the reference computes it."""
    vals = R.run(g, np.asarray(xq1, np.int8).reshape(1, -1), keep=True)
    return [np.asarray(vals[op.output][0], np.int8) for op in engine_layers(g)]


def diff_layers(g: Graph, xq1: np.ndarray, crcs: list[int] | None = None,
                read: Callable[[int, int], bytes] | None = None, outputs: list[bytes] | None = None,
                sample: int | None = None) -> dict:
    """Compare one sample layer by layer. Give either ``crcs`` (one per layer) and ``read(layer,
    nbytes)`` (the device), or ``outputs`` (every layer's bytes, e.g. from the host build)."""
    ops = engine_layers(g)
    ref = reference_layers(g, xq1)
    if outputs is not None:
        crcs = [zlib.crc32(b) for b in outputs]

        def read(i: int, n: int) -> bytes:
            return outputs[i]
    if crcs is None or read is None or len(crcs) != len(ops):
        raise ValueError(f"need one CRC per layer ({len(ops)}) and a reader, got {None if crcs is None else len(crcs)}")
    rep: dict = {"sample": sample, "layers": len(ops), "matching_layers": len(ops), "first_differing_layer": None}
    for i, (op, r) in enumerate(zip(ops, ref)):
        if zlib.crc32(r.tobytes()) == crcs[i]:
            continue
        dev = np.frombuffer(read(i, r.size), np.int8).reshape(r.shape)
        rep["matching_layers"] = i
        rep["first_differing_layer"] = _describe(i, op, dev, r, g)
        break
    return rep


def _describe(i: int, op, dev: np.ndarray, ref: np.ndarray, g: Graph) -> dict:
    bad = np.argwhere(dev != ref)
    delta = dev.astype(np.int16) - ref.astype(np.int16)
    layout = "HWC" if ref.ndim == 3 and op.kind != "to_chw" else ("CHW" if ref.ndim == 3 else "flat")
    return {
        "index": i, "name": op.name, "kind": op.kind, "shape": list(ref.shape), "layout": layout,
        "inputs": list(op.inputs),
        "differing": len(bad), "of": int(ref.size),
        "max_abs_diff": int(np.abs(delta).max()),
        "positions": [{"at": [int(v) for v in pos], "device": int(dev[tuple(pos)]),
                       "reference": int(ref[tuple(pos)])} for pos in bad[:SHOWN]],
        "crc_equal_only": len(bad) == 0,
    }


def summary(rep: dict) -> str:
    """One or a few lines for the terminal."""
    d = rep["first_differing_layer"]
    if rep.get("unavailable"):
        return f"layer by layer (sample {rep['sample']}): not compared: {rep['unavailable']}"
    if d is None:
        return f"layer by layer (sample {rep['sample']}): all {rep['layers']} layers equal the reference"
    pos = ", ".join(f"[{','.join(map(str, p['at']))}] device {p['device']} reference {p['reference']}"
                    for p in d["positions"][:3])
    more = f" (+{d['differing'] - 3} more)" if d["differing"] > 3 else ""
    before = {0: "no layer before it", 1: "layer 0 equals the reference"}.get(
        d["index"], f"layers 0..{d['index'] - 1} equal the reference")
    return (f"layer by layer (sample {rep['sample']}): {before}; first "
            f"differing layer {d['index']} '{d['name']}' ({d['kind']}, {d['layout']} {'x'.join(map(str, d['shape']))}): "
            f"{d['differing']:,} of {d['of']:,} values differ, max |diff| {d['max_abs_diff']}; {pos}{more}")
