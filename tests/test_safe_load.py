"""Loading a model never runs code from the file (issue #11).

Every crafted archive starts as a real ``torch.export.save`` of a tiny model; one part is then
rewritten to carry a payload that writes a marker file when Python runs it. The first test shows
that plain ``torch.export.load`` (what mcudeploy called before) runs every payload; the CLI tests
show that ``compile``, ``validate`` and ``compress`` refuse each one in a single line with exit 2,
the marker never written and nothing left behind. The CLI runs in-process (``mcudeploy.cli.main``
with its exit code and the captured stderr), except one compile that runs it in a subprocess.
"""

from __future__ import annotations

import builtins
import io
import json
import os
import pickle
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch
from mcudeploy import progress
from mcudeploy.frontend import archive, export_module
from torch import nn

TOOL = Path(__file__).resolve().parents[1] / "tool"


class _Payload:
    """Unpickling this runs ``exec`` (or ``os.system``, as in the issue) to write ``marker``."""

    def __init__(self, marker: Path, shell: bool = False):
        self.marker, self.shell = str(marker), shell

    def __reduce__(self):
        if self.shell:
            return (os.system, (f"touch '{self.marker}'",))
        return (builtins.exec, (f"open({self.marker!r}, 'w').write('ran')",))


def _code(marker: Path) -> str:
    """The payload as an expression, for the JSON members that torch evaluates (no double quotes:
    torch pastes a guard into a double-quoted message)."""
    return f"__import__('pathlib').Path('{marker}').write_text('ran')"


def _torch_save(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def _rewrite(src: Path, dst: Path, change) -> None:
    """Copy the zip ``src`` to ``dst``; ``change(members)`` edits the {relative name: bytes} dict."""
    with zipfile.ZipFile(src) as z:
        root = z.namelist()[0].split("/")[0]
        members = {n[len(root) + 1:]: z.read(n) for n in z.namelist()}
    change(members)
    with zipfile.ZipFile(dst, "w") as z:
        for rel, data in members.items():
            z.writestr(f"{root}/{rel}", data)


def _edit_json(members: dict, rel: str, fn) -> None:
    members[rel] = json.dumps(fn(json.loads(members[rel]))).encode()


def _pickled_entry(kind: str, path_name: str, payload: bytes):
    def change(members):
        cfg_rel = f"data/{kind}/model_{kind}_config.json"

        def edit(cfg):
            entry = next(iter(cfg["config"].values()), None) if kind == "weights" else None
            if entry is None:  # torch loads every entry of the config, used by the graph or not
                entry = cfg["config"].setdefault("extra", {"is_param": False, "tensor_meta": None})
            entry.update(path_name=path_name, use_pickle=True)
            return cfg
        _edit_json(members, cfg_rel, edit)
        members[f"data/{kind}/{path_name}"] = payload
    return change


def _sample_inputs(m):
    return lambda members: members.update({"data/sample_inputs/model.pt": _torch_save(_Payload(m, shell=True))})


def _weights(m):
    return _pickled_entry("weights", "weight_0", _torch_save(_Payload(m)))


def _constants(m):
    return _pickled_entry("constants", "tensor_0", _torch_save(_Payload(m)))


def _opaque_constant(m):
    return _pickled_entry("constants", "opaque_obj_0", pickle.dumps(_Payload(m)))


def _shape_expression(m):
    def edit(node):
        if isinstance(node, dict) and "expr_str" in node:
            node["expr_str"] += f" + 0*({_code(m)} is None)"
            return True
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else []
        return any(edit(c) for c in children)

    def change(members):
        _edit_json(members, "models/model.json", lambda doc: (edit(doc), doc)[1])
    return change


def _guards(m):
    def edit(doc):
        doc["guards_code"] = [f"{_code(m)} is None"]
        return doc
    return lambda members: _edit_json(members, "models/model.json", edit)


# where the payload hides -> how to put it there; all run under torch 2.13's torch.export.load
# (the guard when the loaded module is called)
CRAFTS = {"sample_inputs": _sample_inputs, "weights": _weights, "constants": _constants,
          "opaque_constant": _opaque_constant, "shape_expression": _shape_expression, "guards": _guards}


@pytest.fixture(scope="module")
def legit(tmp_path_factory) -> Path:
    """A real archive of an 8x8-digits model with a dynamic batch (so it has a shape symbol)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))
    path = tmp_path_factory.mktemp("legit") / "mlp.pt2"
    torch.export.save(export_module(model, torch.randn(1, 1, 8, 8)), path)
    return path


def _craft(legit: Path, where: str, tmp: Path) -> tuple[Path, Path]:
    marker = tmp / f"MARKER_{where}"
    evil = tmp / f"evil_{where}.pt2"
    _rewrite(legit, evil, CRAFTS[where](marker))
    return evil, marker


def _cli(args: list[str], cwd: Path, capfd, subprocess_: bool = False) -> tuple[int, str]:
    """Run ``mcudeploy ARGS``; (exit code, stderr)."""
    if subprocess_:
        env = dict(os.environ, PYTHONPATH=f"{TOOL}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
        r = subprocess.run([sys.executable, "-c", "from mcudeploy.cli import main; main()", *args], cwd=cwd,
                           env=env, capture_output=True, text=True, timeout=300, check=False)
        return r.returncode, r.stderr
    from mcudeploy.cli import run

    old_cwd = os.getcwd()
    os.chdir(cwd)
    capfd.readouterr()
    try:
        code = run(args)  # what the console script's main() exits with
    except SystemExit as exc:  # a command may exit itself
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        os.chdir(old_cwd)
    return code, capfd.readouterr().err


def _assert_refused(code: int, err: str, marker: Path, *needles: str) -> None:
    lines = [line for line in err.strip().splitlines() if not progress.is_progress_line(line)]
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    assert not marker.exists(), "the payload ran"
    for n in needles:
        assert n in lines[0], lines[0]


def test_raw_torch_export_load_runs_every_payload(legit, tmp_path):
    """The danger is real: torch.export.load (the old loader) runs each payload, in a subprocess."""
    crafted = {w: _craft(legit, w, tmp_path) for w in CRAFTS}
    script = (
        "import sys, torch\n"
        "for path in sys.argv[1:]:\n"
        "    try:\n"
        "        torch.export.load(path).module()(torch.zeros(1, 1, 8, 8))\n"
        "    except Exception:\n"
        "        pass\n")
    subprocess.run([sys.executable, "-c", script, *[str(e) for e, _m in crafted.values()]], cwd=tmp_path,
                   capture_output=True, timeout=300, check=True)
    ran = {w: m.exists() for w, (_e, m) in crafted.items()}
    assert all(ran.values()), f"torch.export.load did not run: {ran}"


@pytest.mark.parametrize("where", list(CRAFTS))
def test_compile_refuses_crafted_archive(legit, tmp_path, capfd, where):
    evil, marker = _craft(legit, where, tmp_path)
    code, err = _cli(["compile", evil.name, "--calib", "digits", "-o", "out", "--no-host-check"], tmp_path, capfd,
                     subprocess_=where == "sample_inputs")
    _assert_refused(code, err, marker, f"model '{evil.name}'", "a model file may only hold tensors")
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def test_refusals_name_the_import(legit, tmp_path):
    evil, _marker = _craft(legit, "sample_inputs", tmp_path)
    with pytest.raises(archive.Refused, match=r"data/sample_inputs/model.pt:archive/data.pkl' imports posix.system"):
        archive.check_pt2(evil)
    evil, _marker = _craft(legit, "opaque_constant", tmp_path)
    with pytest.raises(archive.Refused, match="opaque_obj_0.*a pickled Python object"):
        archive.check_pt2(evil)
    evil, _marker = _craft(legit, "guards", tmp_path)
    with pytest.raises(archive.Refused, match="its guard .* contains '__'"):
        archive.check_pt2(evil)


def _malformed(legit: Path, tmp: Path, kind: str) -> Path:
    dst = tmp / f"{kind}.pt2"
    if kind == "not_zip":
        dst.write_text("this is not a model\n")
    elif kind == "too_many_members":
        _rewrite(legit, dst, lambda m: m.update({f"extra/f{i}": b"" for i in range(archive.MAX_MEMBERS)}))
    elif kind == "path_traversal":
        with zipfile.ZipFile(legit) as z, zipfile.ZipFile(dst, "w") as out:
            for n in z.namelist():
                out.writestr(n, z.read(n))
            out.writestr(z.namelist()[0].split("/")[0] + "/../../escaped.txt", b"x")
    elif kind == "compiled_code":
        _rewrite(legit, dst, lambda m: m.update({"data/aotinductor/model/model.so": b"\x7fELF"}))
    return dst


@pytest.mark.parametrize("kind,needle", [
    ("not_zip", "not a torch.export archive (not a zip file)"),
    ("too_many_members", f"members (at most {archive.MAX_MEMBERS:,})"),
    ("path_traversal", "'..' paths are refused"),
    ("compiled_code", "compiled AOTInductor code"),
])
def test_compile_refuses_malformed_archive(legit, tmp_path, capfd, kind, needle):
    bad = _malformed(legit, tmp_path, kind)
    code, err = _cli(["compile", bad.name, "--calib", "digits", "-o", "out", "--no-host-check"], tmp_path, capfd)
    _assert_refused(code, err, tmp_path / "none", needle)
    assert not (tmp_path / "out").exists() and not (tmp_path.parent / "escaped.txt").exists()


def test_zip_bomb_is_refused_before_unpacking(legit, tmp_path, capfd, monkeypatch):
    """A member that unpacks 1000x: refused from its declared size, nothing decompressed."""
    monkeypatch.setattr(archive, "MAX_TOTAL_BYTES", 1 << 20)  # the real limit (1 GiB) with a small file
    bomb = tmp_path / "bomb.pt2"
    with zipfile.ZipFile(legit) as z, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as out:
        for n in z.namelist():
            out.writestr(n, z.read(n))
        out.writestr(z.namelist()[0].split("/")[0] + "/extra/zeros", bytes(2 << 20))
    assert bomb.stat().st_size < 64 << 10
    code, err = _cli(["compile", bomb.name, "--calib", "digits", "-o", "out", "--no-host-check"], tmp_path, capfd)
    _assert_refused(code, err, tmp_path / "none", "unpacks to more than 1 MiB")


def test_legit_archive_still_compiles(legit, tmp_path, capfd):
    code, err = _cli(["compile", str(legit), "--calib", "digits", "--calib-limit", "64", "-o", "prj",
                      "--no-host-check"], tmp_path, capfd)
    assert code == 0, err
    assert (tmp_path / "prj" / "model_float.pt2").is_file()
    archive.check_pt2(tmp_path / "prj" / "model_float.pt2")  # what compile writes passes its own check


@pytest.fixture(scope="module")
def project(legit, tmp_path_factory) -> Path:
    from mcudeploy.datasets import load_spec
    from mcudeploy.pipeline import build_project

    out = tmp_path_factory.mktemp("prj") / "prj"
    x, _ = load_spec("digits", "train", limit=64)
    build_project(archive.load_pt2(legit), x, out, host_check=False)
    return out


@pytest.mark.parametrize("where", ["sample_inputs", "weights", "constants"])
def test_validate_refuses_swapped_float_model(project, legit, tmp_path, capfd, where):
    """validate reads the project's float model before it starts a board: a swapped one is refused."""
    evil, marker = _craft(legit, where, tmp_path)
    prj = tmp_path / "prj"
    shutil.copytree(project, prj)
    shutil.copy(evil, prj / "model_float.pt2")
    before = sorted(p.name for p in prj.iterdir())
    code, err = _cli(["validate", "prj", "--board", "nucleo-f446re", "--emulate", "--data", "digits", "--limit", "4"],
                     tmp_path, capfd)
    _assert_refused(code, err, marker, "project model", "Recompile the project")
    assert sorted(p.name for p in prj.iterdir()) == before


def test_compress_refuses_crafted_archive(legit, tmp_path, capfd):
    evil, marker = _craft(legit, "weights", tmp_path)
    code, err = _cli(["compress", evil.name, "--data", "digits", "--sparsity", "0.5", "-o", "small.pt2"],
                     tmp_path, capfd)
    _assert_refused(code, err, marker, "imports __builtin__.exec")
    assert not (tmp_path / "small.pt2").exists()


def test_weights_file_is_checked(tmp_path, capfd):
    """--weights (torch.save of a state dict): a payload in it is refused before torch.load."""
    factory = tmp_path / "net.py"
    factory.write_text("from torch import nn\n\ndef net():\n    return nn.Sequential(nn.Flatten(), nn.Linear(64, 10))\n")
    marker = tmp_path / "MARKER_weights_file"
    (tmp_path / "evil.pt").write_bytes(_torch_save({"0.weight": _Payload(marker)}))
    code, err = _cli(["compile", "net.py:net", "--weights", "evil.pt", "--calib", "digits", "-o", "out"],
                     tmp_path, capfd)
    _assert_refused(code, err, marker, "weights 'evil.pt'", "imports __builtin__.exec")
    good = nn.Sequential(nn.Flatten(), nn.Linear(64, 10)).state_dict()
    (tmp_path / "good.pt").write_bytes(_torch_save(good))
    assert archive.load_state_dict(tmp_path / "good.pt").keys() == good.keys()
