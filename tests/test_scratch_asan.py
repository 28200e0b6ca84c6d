"""The arena's kernel scratch figures (codegen.kernels.scratch_bytes, the Python twins) equal what
the C ``*_scratch_bytes`` functions say, for every op of a set of graphs covering every kernel
variant; and the generated engines, built with AddressSanitizer and UBSan, run clean and equal
the reference."""

import subprocess

import numpy as np
import pytest
import torch
from conftest import need_cc
from jinja2 import Template
from mcudeploy import hostrun, ops
from mcudeploy import reference as R
from mcudeploy.codegen.emit import _dims, ops_header
from mcudeploy.codegen.kernels import choose_format, scratch_bytes, variant
from mcudeploy.frontend import capture, export_module, simplify
from mcudeploy.lower import lower
from mcudeploy.paths import KERNELS
from mcudeploy.pipeline import build_project
from test_kernels_m4 import random_net
from test_ops import NETS


def c_scratch_expr(g, op) -> str | None:
    """The C call that sizes this op's scratch (None: the kernel takes none): its record's c_scratch."""
    rec = ops.REGISTRY[op.kind]
    if callable(rec.c_scratch):
        return rec.c_scratch(g, op)
    if not rec.c_scratch:
        return None
    return Template(rec.c_scratch).render(l={"wshape": list(op.arrays.get("weight", np.zeros(0)).shape),
                                             "attrs": op.attrs, "in_dims": _dims(g.tensors[op.inputs[0]].shape),
                                             "out_dims": _dims(g.tensors[op.output].shape)})


def on_int4_grid(net):
    """Weights on a 7-level-a-side per-channel grid, so 'int4' storage applies (lowbit kernels)."""
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)) and getattr(m, "groups", 1) == 1:
                w = m.weight
                s = w.abs().reshape(w.shape[0], -1).amax(1).clamp_min(1e-8).reshape((-1,) + (1,) * (w.dim() - 1)) / 7
                w.copy_(torch.round(w / s) * s)
    return net


def graphs():
    out = []
    for name, (cls, shape) in sorted(NETS.items()):
        torch.manual_seed(0)
        out.append((name, cls().eval(), shape))
    for seed in range(4):
        rng = np.random.default_rng(seed)
        torch.manual_seed(seed)
        net, shape = random_net(rng)
        out.append((f"random{seed}", net, shape))
    return out


@pytest.mark.parametrize("fmt", ["auto", "sparse", "int4"])
def test_scratch_figures_equal_the_c_functions(fmt, tmp_path):
    need_cc()
    rows = []
    for name, net, shape in graphs():
        if fmt == "int4":
            net = on_int4_grid(net)
        x = np.random.default_rng(0).standard_normal((16,) + shape).astype(np.float32)
        g = lower(simplify(capture(export_module(net, torch.from_numpy(x[:1])))), x)
        for op in g.ops:
            if op.kind in ("conv2d", "fc"):
                op.attrs["format"] = choose_format(g, op, fmt)
            expr = c_scratch_expr(g, op)
            rows.append((f"{name}/{op.name}/{op.kind}:{variant(op)}", expr, scratch_bytes(g, op)))
    calls = [r for r in rows if r[1]]
    assert len(calls) >= 10
    if fmt != "auto":
        assert any(f":{'lowbit' if fmt == 'int4' else 'sparse'}" in r[0] for r in calls), fmt
    (tmp_path / "mcd_ops.h").write_text(ops_header(set(ops.REGISTRY)))
    inc = ["mcd_kernels.h", "mcd_ops.h", "mcd_simd.h", "mcd_conv2d_rows_s8.h", "mcd_conv2d_few_s8.h", "mcd_conv2d_sparse_tile_s8.h",
           "mcd_dwconv2d_s8.h", "mcd_pwconv2d_s8.h", "mcd_fc_s8.h"]
    body = "\n".join(f'    printf("%ld\\n", (long){expr});' for _, expr, _ in calls)
    src = tmp_path / "probe.c"
    src.write_text("#include <stdio.h>\n" + "".join(f'#include "{h}"\n' for h in inc) + f"int main(void)\n{{\n{body}\n    return 0;\n}}\n")
    kernels = [str(KERNELS / f) for f in ("conv2d_s8.c", "conv2d_sparse_s8.c", "conv2d_lowbit_s8.c", "fc_lowbit_s8.c",
                                           "add_s8.c", "gconv2d_s8.c", "convt2d_s8.c", "conv2d_sparse_tile_s8.c")]
    exe = tmp_path / "probe"
    subprocess.run(["cc", "-std=gnu99", "-O1", f"-I{KERNELS}", f"-I{tmp_path}", str(src), *kernels, "-o", str(exe)],
                   check=True, capture_output=True, text=True)
    got = [int(v) for v in subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout.split()]
    bad = [(name, c, py) for (name, _, py), c in zip(calls, got) if c != py]
    assert not bad, bad
    none = [name for name, expr, py in rows if not expr and py]
    assert not none, f"Python gives scratch where the C kernel takes none: {none}"


@pytest.mark.parametrize("name", ["decoder", "grouped", "broadcast", "variants"])  # every new kernel; the rest as the suite allows
def test_engine_clean_under_asan_and_ubsan(name, tmp_path):
    need_cc()
    cls, shape = NETS[name]
    torch.manual_seed(0)
    xc = np.random.default_rng(0).standard_normal((32,) + shape).astype(np.float32)
    res = build_project(export_module(cls().eval(), torch.from_numpy(xc[:1])), xc, tmp_path / name, host_check=False)
    g = res.graph
    flags = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer", "-g"]
    exe = hostrun.build_host(res.outdir / "engine", tmp_path / "asan", extra_flags=flags)
    x = np.random.default_rng(5).standard_normal((8,) + NETS[name][1]).astype(np.float32)
    xq = R.prepare_input(g, x)
    assert (hostrun.run_host(exe, xq, g.tensors[g.output].size) == R.run(g, xq)).all()
