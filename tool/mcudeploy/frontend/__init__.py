"""Frontend: load a PyTorch model, capture its graph with torch.export, and simplify it.

Usage::

    ep = load_model("examples/lenet5.py:lenet5", weights="lenet5.pt", example=x[:1])
    fg = capture(ep)          # FloatGraph of supported ops; UnsupportedOpError otherwise
    fg = simplify(fg)         # drop no-ops, fold BatchNorm, fuse activations and max-pools
    y = run_float(fg, x)      # float interpreter, used for calibration
"""

from .capture import capture, run_float
from .fgraph import FloatGraph, FNode
from .load import export_module, load_model
from .passes import simplify

__all__ = ["FNode", "FloatGraph", "capture", "export_module", "load_model", "run_float", "simplify"]
