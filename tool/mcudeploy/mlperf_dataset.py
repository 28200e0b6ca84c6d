"""Synthetic data sets in the MLPerf Tiny runner's layout, for driving the runner offline.

    files = write_dataset("work/datasets", "kws_dscnn", n=12)   # work/datasets/kws01/{s0.bin,..,y_labels.csv}
    for data, label in files:
        for x in inputs("kws_dscnn", data): ...                  # what one `download` sends per inference

The runner reads ``DATASETS/<ic01|kws01|vww01|ad01>/y_labels.csv`` (rows: file, classes, class
[, bytes_to_send, stride]) and sends each file's bytes with `db` (ad01: every ``bytes_to_send``
segment at ``stride``). The real evaluation sets are not available offline, so the files hold
``zoo.mlperf_tiny.sample_inputs`` in the runner's byte format (``mlperf_suite.runner_bytes``) and
labels cycle through the classes (the runner's AUC needs every class present): they check that
the runner reads what the board computes, not accuracy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .mlperf_suite import RUNNER_NAMES, runner_bytes

CLASSES = {"ic_resnet8": 10, "kws_dscnn": 12, "vww_mobilenet": 2, "ad_autoencoder": 2}
AD_SEGMENT, AD_STRIDE = 2560, 1280  # bytes: 640 float32 per inference; each ad file holds two segments


def synthetic_files(name: str, n: int, seed: int = 21) -> list[tuple[bytes, int]]:
    """(bytes of one data file, label) x n; ad files are 960 floats (two overlapping segments)."""
    from .zoo import mlperf_tiny as mt

    x = mt.sample_inputs(name, n + 1, seed=seed)
    if name == "ad_autoencoder":
        return [(runner_bytes(name, np.concatenate([x[i], x[i + 1][:320]])), i % 2) for i in range(n)]
    return [(runner_bytes(name, x[i]), i % CLASSES[name]) for i in range(n)]


def write_dataset(root: str | Path, name: str, n: int | None = None, seed: int = 21) -> list[tuple[bytes, int]]:
    """Write ``n`` files (default: one per class) for ``name`` under ``root/<runner name>/``."""
    files = synthetic_files(name, n or CLASSES[name], seed)
    d = Path(root) / RUNNER_NAMES[name]
    d.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, (data, label) in enumerate(files):
        (d / f"s{i}.bin").write_bytes(data)
        extra = f",{AD_SEGMENT},{AD_STRIDE}" if name == "ad_autoencoder" else ""
        rows.append(f"s{i}.bin,{CLASSES[name]},{label}{extra}")
    (d / "y_labels.csv").write_text("\n".join(rows) + "\n")
    return files


def inputs(name: str, data: bytes) -> list[bytes]:
    """What the runner sends per inference for one file (ad: each segment, in order)."""
    if name != "ad_autoencoder":
        return [data]
    return [data[s:s + AD_SEGMENT] for s in range(0, len(data) - AD_SEGMENT + 1, AD_STRIDE)]
