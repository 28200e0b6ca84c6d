"""Walk a torch.export graph into a FloatGraph of the ops mcudeploy supports.

The FloatGraph keeps torch's layout (NCHW, batch dimension dropped from shapes) and float
parameters; quantization turns it into the int8 device graph (``ir.Graph``). Each node remembers
where it came from (module path and source line) so that errors can point at the user's code.
"""

from __future__ import annotations

import operator
import re

import torch
import torch.nn.functional as F

from .. import ops
from ..errors import UnsupportedOpError
from .fgraph import FloatGraph, FNode
from .optable import HANDLERS, IGNORED, SUPPORTED


def _where(node) -> str:
    stack = node.meta.get("nn_module_stack") or {}
    path = ""
    cls = ""
    if stack:
        path, cls = list(stack.values())[-1]
        path = re.sub(r"^L\['self'\]\.?", "", str(path))
        cls = str(cls).rsplit(".", 1)[-1]
        if path.startswith("_empty"):  # torch.export's placeholder for "no module"
            path = ""
    src = ""
    trace = node.meta.get("stack_trace") or ""
    frames = re.findall(r'File "([^"]+)", line (\d+), in (\w+)\n\s*(.*)', trace)
    user = [f for f in frames if "/torch/" not in f[0]]
    if user:
        f, line, _fn, code = user[-1]
        src = f"{f}:{line}: {code.strip()}"
    parts = [f"module '{path}' ({cls})" if path else "the model's forward()"]
    if src:
        parts.append(f"at {src}")
    return " ".join(parts)


def _shape(node) -> tuple[int, ...]:
    val = node.meta.get("val")
    if isinstance(val, (tuple, list)):
        val = val[0]
    if val is None or not hasattr(val, "shape"):
        return ()
    return tuple(int(s) for s in val.shape[1:])  # dim 0 is the batch


def capture(ep) -> FloatGraph:
    """Turn an ExportedProgram into a FloatGraph, or raise UnsupportedOpError naming the op."""
    gm = ep.graph_module
    consts: dict[str, torch.Tensor] = {}
    user_inputs = []
    for spec in ep.graph_signature.input_specs:
        kind = spec.kind.name
        if kind == "USER_INPUT":
            user_inputs.append(spec.arg.name)
        elif kind in ("PARAMETER", "BUFFER"):
            consts[spec.arg.name] = ep.state_dict[spec.target] if spec.target in ep.state_dict \
                else ep.constants[spec.target]
        elif kind in ("CONSTANT_TENSOR",):
            consts[spec.arg.name] = ep.constants[spec.target]
    if len(user_inputs) != 1:
        raise UnsupportedOpError(f"the model takes {len(user_inputs)} inputs; mcudeploy supports one tensor input")

    nodes: list[FNode] = []
    aliases: dict[str, str] = {}
    splits: dict[str, tuple[str, int, list[int]]] = {}  # split node -> (input, dim, piece sizes)
    in_name = user_inputs[0]
    input_shape = ()
    output = None
    for node in gm.graph.nodes:
        if node.op == "placeholder":
            if node.name == in_name:
                input_shape = _shape(node)
            continue
        if node.op == "output":
            outs = node.args[0]
            if len(outs) != 1:
                raise UnsupportedOpError(f"the model returns {len(outs)} outputs; mcudeploy supports one")
            output = aliases.get(outs[0].name, outs[0].name)
            continue
        if node.op != "call_function":
            raise UnsupportedOpError(f"graph node '{node.op}' ({node.target}) in {_where(node)} is not supported")
        target = node.target
        val = node.meta.get("val")
        if isinstance(val, (int, float, bool, torch.SymInt, torch.SymFloat, torch.SymBool)):
            continue  # shape arithmetic (x.shape[0], x.size(1) * 4): used only by reshapes
        if target is operator.getitem:
            src, idx = node.args
            if src.name in splits:  # a piece of split/chunk: a slice of the split's input (ops/strided.py)
                inp, dim, sizes = splits[src.name]
                start = sum(sizes[:idx])
                fn = FNode(node.name, "slice", [inp], {"dim": dim, "start": start, "end": start + sizes[idx],
                                                       "step": 1}, {}, _shape(node), _where(node))
                nodes.append(fn)
                continue
            if idx != 0:
                raise UnsupportedOpError(f"an op's secondary output (index {idx}) is used in {_where(node)}")
            aliases[node.name] = aliases.get(src.name, src.name)
            continue
        key = getattr(target, "__name__", str(target))  # e.g. 'conv2d.default'
        if key in IGNORED:
            continue
        handler = ops.by_aten(key) or HANDLERS.get(key)  # an op record's capture pattern first
        if handler is None:
            raise UnsupportedOpError(
                f"unsupported op '{key}' in {_where(node)}.\n  supported: {', '.join(SUPPORTED + ops.supported())}")

        def arg(v):
            if isinstance(v, torch.fx.Node):
                if v.name in consts:
                    return consts[v.name]
                return aliases.get(v.name, v.name)
            if isinstance(v, (list, tuple)):
                return [arg(a) for a in v]
            return v

        args = [arg(a) for a in node.args]
        kwargs = {k: arg(v) for k, v in node.kwargs.items()}
        fn = handler(args, kwargs)
        if isinstance(fn, str):  # the handler rejected this use of the op
            raise UnsupportedOpError(f"'{key}' in {_where(node)}: {fn}.\n  "
                                     f"supported: {', '.join(SUPPORTED + ops.supported())}")
        if fn.op == "split":
            dim = fn.attrs["dim"]
            splits[node.name] = (fn.inputs[0], dim, [int(v.shape[dim]) for v in node.meta["val"]])
            continue
        fn.name = node.name
        fn.attrs["module"] = _module_path(node)
        fn.shape = _shape(node)
        fn.where = _where(node)
        for t in fn.inputs:
            if not isinstance(t, str):
                raise UnsupportedOpError(f"'{key}' in {_where(node)} takes a constant tensor input; "
                                         "only the model input and activations may flow into ops")
        nodes.append(fn)
    fg = FloatGraph(nodes, in_name, output, input_shape)
    _readable_names(fg)
    return fg


def _module_path(node) -> str:
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return ""
    path = re.sub(r"^L\['self'\]\.?", "", str(list(stack.values())[-1][0]))
    return "" if path.startswith("_empty") else path


def _readable_names(fg: FloatGraph) -> None:
    """Name nodes after their module ('features.0' -> 'features_0') where that is unambiguous, so
    reports and the generated C speak the user's names; functional ops keep torch's ('add_1')."""
    counts: dict[str, int] = {}
    for n in fg.nodes:
        m = n.attrs.get("module")
        if m:
            counts[m] = counts.get(m, 0) + 1
    taken = {n.name for n in fg.nodes} | {fg.input}
    rename = {}
    for n in fg.nodes:
        m = n.attrs.pop("module", "")
        new = re.sub(r"\W", "_", m)
        if m and counts[m] == 1 and new not in taken and not new[0].isdigit():
            rename[n.name] = new
            taken.add(new)
    for n in fg.nodes:
        n.name = rename.get(n.name, n.name)
        n.inputs = [rename.get(i, i) for i in n.inputs]
    fg.output = rename.get(fg.output, fg.output)


def _act(x, attrs):
    lo, hi = attrs["act"]
    return torch.clamp(x, min=lo, max=hi)


def run_node(n: FNode, vals: dict[str, torch.Tensor]) -> torch.Tensor:
    """Float semantics of one node (NCHW, batched). Fused activations and pools are applied here too."""
    xs = [vals[i] for i in n.inputs]
    p, a = n.params, n.attrs
    if a.get("1d"):  # Conv1d and 1-D pools run as their 2-D forms on N x C x 1 x L
        xs = [x.unsqueeze(2) for x in xs]
    rec = ops.REGISTRY.get(n.op)
    if rec is not None and rec.float_fn is not None:
        y = rec.float_fn(n, xs)
    elif n.op == "bn":
        y = F.batch_norm(xs[0], p["mean"], p["var"], p.get("weight"), p.get("bias"), False, 0.0, a["eps"])
    elif n.op == "pad":
        t, l_, b, r = a["pad"]
        y = F.pad(xs[0], (l_, r, t, b))
    elif n.op == "identity":
        y = xs[0]
    else:
        raise AssertionError(n.op)
    if "act" in a:
        y = _act(y, a)
    if a.get("pool"):
        y = F.max_pool2d(y, a["pool"]["k"], a["pool"]["s"])
    if a.get("1d") and y.dim() == 4:
        y = y.squeeze(2)
    return y


@torch.no_grad()
def run_float(fg: FloatGraph, x: torch.Tensor, observe=None) -> torch.Tensor:
    """Run the FloatGraph on a batch; ``observe(name, value)`` sees every node's output."""
    vals = {fg.input: x.float()}
    if observe:
        observe(fg.input, vals[fg.input])
    for n in fg.nodes:
        vals[n.name] = run_node(n, vals)
        if observe:
            observe(n.name, vals[n.name])
    return vals[fg.output]
