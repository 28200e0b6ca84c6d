"""Load model files without running code from them: ``.pt2`` archives and ``torch.save`` weights.

Usage::

    ep = load_pt2("model.pt2")                          # ModelLoadError, one line, if it is unsafe
    ep = load_pt2(prj / "model_float.pt2", label="project model", fix="recompile the project")
    state = load_state_dict("lenet5.pt")                # torch.save(model.state_dict(), ...)

``torch.export.load`` is not safe on a file from elsewhere: in torch 2.13 a sample-input pickle
that fails the restricted load is loaded again with ``weights_only=False``, and weights or
constants marked ``use_pickle`` are always loaded that way, so a ``__reduce__`` in any of them
runs (``tests/test_safe_load.py`` shows each). Constants named ``custom_obj_*``/``opaque_obj_*``
go to TorchScript's and Python's unpicklers, ``data/aotinductor/`` holds a shared library,
shape expressions are evaluated by sympy and guards by ``exec``.

So the archive is checked before torch opens it, by reading, never executing:

1. it is a zip of bounded size (member count, total declared size; the readers stop at the
   declared size, so this also bounds a zip bomb), with plain relative member names under one
   root folder, no duplicates, no encryption;
2. every member is one ``torch.export.save`` writes for a plain program (models, tensor
   weights and constants, sample inputs, extra text); anything else (compiled code, custom
   objects, legacy pickled layouts) is refused by name;
3. every pickle, including those inside nested ``torch.save`` zips, imports only tensor
   rebuilders (``pickle_scan``); 4. the program JSON passes ``program_json``.

Then torch loads it with ``TORCH_FORCE_WEIGHTS_ONLY_LOAD=1`` set, which makes every
``torch.load`` inside ``torch.export.load`` restricted even where it asks for
``weights_only=False``: a second wall should the first miss something. Setting the variable
for the call is process-wide, which is fine in a single-threaded CLI.
"""

from __future__ import annotations

import io
import json
import os
import re
import zipfile
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from ..errors import ModelLoadError
from .pickle_scan import scan_pickle
from .program_json import check_program

MAX_MEMBERS = 10_000            # one member per tensor: far more than any model that fits an MCU
MAX_TOTAL_BYTES = 1 << 30       # declared uncompressed size of all members, nested zips included
MAX_TEXT_BYTES = 64 << 20       # one JSON or pickle member (the program, a config, data.pkl)

_PT2_MEMBERS = re.compile(r"""(archive_format|archive_version|byteorder|\.data/version|\.data/serialization_id
    |models/[\w.-]+\.json|data/weights/[\w.-]+_weights_config\.json|data/weights/weight_\d+
    |data/constants/[\w.-]+_constants_config\.json|data/constants/tensor_\d+
    |data/sample_inputs/[\w.-]+\.pt|extra/[\w.-]+)\Z""", re.VERBOSE)
_PT2_REFUSED = [("data/aotinductor/", "compiled AOTInductor code"),
                ("data/constants/custom_obj_", "a TorchScript object"),
                ("data/constants/opaque_obj_", "a pickled Python object"),
                ("data/weights/", "weights in the legacy pickled layout"),
                ("data/constants/", "constants in the legacy pickled layout")]
_SAVE_MEMBERS = re.compile(r"(data\.pkl|\.format_version|\.storage_alignment|byteorder|version"
                           r"|\.data/version|\.data/serialization_id|data/\d+)\Z")


class Refused(Exception):
    """Why a file may not be loaded; the caller words it for the user."""


def load_pt2(path, label: str = "model", fix: str = "re-export it with torch.export.save from a trusted source"):
    """Check ``path`` (see the module docstring), then ``torch.export.load`` the same bytes."""
    import torch

    from .quiet import quiet_torch

    where = f"{label} '{path}'"
    data = _read_file(path, where)
    try:
        check_pt2(io.BytesIO(data))
    except Refused as exc:
        raise ModelLoadError(f"{where}: {exc}; a model file may only hold tensors and the program. "
                             f"{fix[0].upper()}{fix[1:]}") from None
    try:  # the very bytes that were checked: the file may not change in between
        with tensors_only(), quiet_torch():
            return torch.export.load(io.BytesIO(data))
    except Exception as exc:  # noqa: BLE001 -- a torch version mismatch, a damaged member...
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ModelLoadError(f"{where}: torch.export.load failed: {type(exc).__name__}: {msg}; {fix}") from None


def load_state_dict(path, label: str = "weights"):
    """``torch.load`` a state dict after checking its pickle (``torch.save`` zip format only)."""
    import torch

    where = f"{label} '{path}'"
    data = _read_file(path, where)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            _check_torch_save(zf, str(path), budget=[MAX_TOTAL_BYTES])
    except Refused as exc:
        raise ModelLoadError(f"{where}: {exc}; a weights file may only hold tensors. Save it with "
                             "torch.save(model.state_dict(), PATH) from a trusted source") from None
    except zipfile.BadZipFile as exc:
        raise ModelLoadError(f"{where} is not a torch.save file ({exc}); save it with "
                             "torch.save(model.state_dict(), PATH)") from None
    try:
        with tensors_only():
            return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001
        raise ModelLoadError(f"loading {where} failed: {type(exc).__name__}: {exc}") from None


def _read_file(path, where: str) -> bytes:
    """The whole file, once: what is checked is what torch reads."""
    p = Path(path)
    if not p.exists():
        raise ModelLoadError(f"{where} does not exist")
    if not p.is_file():
        raise ModelLoadError(f"{where} is not a file")
    size = p.stat().st_size
    if size > MAX_TOTAL_BYTES:
        raise ModelLoadError(f"{where} is {size >> 20:,} MiB; at most {MAX_TOTAL_BYTES >> 20:,} MiB is read")
    try:
        return p.read_bytes()
    except OSError as exc:
        raise ModelLoadError(f"{where} cannot be read: {exc.strerror or exc}") from None


def check_pt2(path) -> None:
    """Raise ``Refused`` unless ``path`` (a file name or a binary file object) is a plain
    ``torch.export.save`` archive (see the module docstring)."""
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise Refused("it is not a torch.export archive (not a zip file)") from None
    except OSError as exc:
        raise Refused(f"it cannot be read ({exc.strerror or exc})") from None
    with zf:
        budget = [MAX_TOTAL_BYTES]
        root = _check_zip(zf, budget)
        names = {i.filename[len(root) + 1:]: i.filename for i in zf.infolist()}
        for rel, full in names.items():
            if not _PT2_MEMBERS.match(rel):
                what = next((w for p, w in _PT2_REFUSED if rel.startswith(p)), "not part of a torch.export program")
                raise Refused(f"it holds '{full}' ({what})")
        if _read(zf, names.get("archive_format", "")).strip() != b"pt2":
            raise Refused(f"'{root}/archive_format' does not say pt2: not a torch.export archive")
        if not any(r.startswith("models/") for r in names):
            raise Refused("it holds no program (models/*.json)")
        for rel, full in names.items():
            if rel.startswith("models/"):
                problem = check_program(_json(zf, full))
                if problem:
                    raise Refused(f"'{full}': {problem}")
            elif rel.endswith("_config.json"):
                _check_payload_config(zf, full, rel.split("/")[1], names)
            elif rel.startswith("data/sample_inputs/"):
                _check_nested(zf, full, budget)


def _check_payload_config(zf: zipfile.ZipFile, full: str, kind: str, names: dict) -> None:
    """Weights/constants: each entry names a raw tensor member, or a pickled one that is checked."""
    doc = _json(zf, full)
    entries = doc.get("config") if isinstance(doc, dict) else None
    if not isinstance(entries, dict):
        raise Refused(f"'{full}' has no 'config' object")
    prefix = "weight_" if kind == "weights" else "tensor_"
    for fqn, meta in entries.items():
        path_name = meta.get("path_name") if isinstance(meta, dict) else None
        if not isinstance(path_name, str) or not re.fullmatch(prefix + r"\d+", path_name):
            what = ("a TorchScript object" if str(path_name).startswith("custom_obj_") else
                    "a pickled Python object" if str(path_name).startswith("opaque_obj_") else "an unknown payload")
            raise Refused(f"'{full}' stores '{fqn}' as {path_name!r} ({what})")
        rel = f"data/{kind}/{path_name}"
        if rel not in names:
            raise Refused(f"'{full}' names '{rel}', which the archive does not hold")
        if meta.get("use_pickle"):
            _check_nested(zf, names[rel], [MAX_TOTAL_BYTES])


def _check_nested(zf: zipfile.ZipFile, full: str, budget: list) -> None:
    """A ``torch.save`` payload inside the archive: a zip whose pickles are checked."""
    data = _read(zf, full, limit=MAX_TOTAL_BYTES)
    try:
        inner = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise Refused(f"'{full}' is not a torch.save zip (a bare pickle)") from None
    with inner:
        _check_torch_save(inner, full, budget)


def _check_torch_save(zf: zipfile.ZipFile, where: str, budget: list) -> None:
    root = _check_zip(zf, budget)
    for info in zf.infolist():
        rel = info.filename[len(root) + 1:]
        if not _SAVE_MEMBERS.match(rel):
            raise Refused(f"'{where}' holds '{info.filename}', which a torch.save of tensors does not write")
        if rel == "data.pkl":
            problem = scan_pickle(_read(zf, info.filename))
            if problem:
                raise Refused(f"its pickle '{where}:{info.filename}' {problem}")


def _check_zip(zf: zipfile.ZipFile, budget: list) -> str:
    """Bounds and names; returns the one root folder every member is under."""
    infos = zf.infolist()
    if len(infos) > MAX_MEMBERS:
        raise Refused(f"it has {len(infos):,} members (at most {MAX_MEMBERS:,})")
    if not infos:
        raise Refused("it is an empty zip")
    seen: set[str] = set()
    root = infos[0].filename.split("/", 1)[0]
    for info in infos:
        name = info.filename
        parts = PurePosixPath(name).parts
        if (name.startswith("/") or "\\" in name or "\0" in name or ":" in name or ".." in parts
                or any(p in ("", ".") for p in name.split("/"))):
            raise Refused(f"it has a member named {name[:100]!r} (absolute, drive or '..' paths are refused)")
        if name in seen:
            raise Refused(f"it holds '{name}' twice")
        seen.add(name)
        if len(parts) < 2 or parts[0] != root:
            raise Refused(f"'{name}' is not under the archive's folder '{root}/'")
        if info.flag_bits & 0x1:
            raise Refused(f"'{name}' is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise Refused(f"'{name}' uses zip compression method {info.compress_type}")
        budget[0] -= info.file_size
        if budget[0] < 0:
            raise Refused(f"it unpacks to more than {MAX_TOTAL_BYTES >> 20:,} MiB")
    return root


def _read(zf: zipfile.ZipFile, name: str, limit: int = MAX_TEXT_BYTES) -> bytes:
    if not name:
        return b""
    info = zf.getinfo(name)
    if info.file_size > limit:
        raise Refused(f"'{name}' is {info.file_size:,} bytes (at most {limit:,} for this member)")
    try:
        return zf.read(name)
    except Exception as exc:  # noqa: BLE001 -- bad CRC, truncated, bad compressed data
        raise Refused(f"'{name}' cannot be read: {exc}") from None


def _json(zf: zipfile.ZipFile, name: str):
    try:
        return json.loads(_read(zf, name))
    except (ValueError, RecursionError) as exc:
        raise Refused(f"'{name}' is not valid JSON ({type(exc).__name__})") from None


@contextmanager
def tensors_only():
    """Every ``torch.load`` in this block is ``weights_only``, whatever its caller asks for."""
    names = ("TORCH_FORCE_WEIGHTS_ONLY_LOAD", "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD")
    saved = {k: os.environ.get(k) for k in names}
    os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"] = "1"
    os.environ.pop("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", None)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
