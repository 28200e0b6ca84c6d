"""Compress: prune a float model before quantization, and fine-tune it to win back accuracy.

    >>> from mcudeploy.compress import compress_model, compress_file
    >>> res = compress_model(model, x[:1], train=(x, y), test=(xt, yt), sparsity=0.9)    # masks
    >>> res = compress_model(model, x[:1], train=(x, y), test=(xt, yt), max_accuracy_drop=1.0)
    >>> res = compress_model(model, x[:1], train=(x, y), test=(xt, yt), sparsity=0.3,
    ...                      structured=True)                       # channels really removed
    >>> compress_file("examples/lenet5.py:lenet5", "lenet5.pt", "mnist", "pruned.pt2", sparsity=0.9)

* ``prune``: unstructured magnitude masks (global or per layer), iterative schedules, the
  accuracy-budget search;
* ``structured``: channel dependency groups through residual adds and concats, and the surgery
  that shrinks Conv/BatchNorm/Linear weights;
* ``finetune``: the built-in loop or a user hook, with masks kept applied;
* ``run``: the orchestration ``mcudeploy compress`` calls, and the report.
"""

from .finetune import Finetuner, masks_enforced
from .prune import apply_masks, magnitude_masks, prunable_weights, prune_to, sparsity_report
from .run import CompressResult, compress_file, compress_model, load_module
from .structured import channel_groups, count_macs_params, prune_channels

__all__ = ["CompressResult", "Finetuner", "apply_masks", "channel_groups", "compress_file",
           "compress_model", "count_macs_params", "load_module", "magnitude_masks", "masks_enforced",
           "prunable_weights", "prune_channels", "prune_to", "sparsity_report"]
