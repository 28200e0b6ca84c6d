"""No traceback reaches a user from any command (issue #11).

Every subcommand of ``mcudeploy.cli.cli`` is driven with bad arguments and bad data: in-process
through ``cli.run`` (the guard the console script's ``main`` calls), and a few through the real
``mcudeploy`` script and ``python -m mcudeploy``. Each case must end with a non-zero exit that is
not the guard's 70 (an unexpected exception: a bug), no traceback, an error of a few lines, and
nothing created or changed in the working directory, the input files or the compiled project.

Coverage grows with the CLI: every command gets the generated parse-time cases (an unknown option,
and for each parameter a value its type refuses), and ``test_every_command_has_cases`` fails until a
new command has rows in ``CASES`` and an entry in ``BASE``.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcudeploy import cli as climod
from mcudeploy import progress
from mcudeploy.cli import cli

FIXTURES = Path(__file__).parent / "fixtures"
MLP = f"{FIXTURES}/digits_mlp.py:digits_mlp"
EXIT_BUG = 70
USAGE_LINES = 3  # a click usage error: "Usage: ...", "Try ...", "Error: ..."; any other error: one line


# --- the inputs: bad files of every kind, written once --------------------------------------------

def _npz(path: Path, **arrays) -> None:
    with open(path, "wb") as f:
        np.savez(f, **arrays)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(11)
    for ext in ("npz", "pt2", "pt", "toml"):
        (d / f"empty.{ext}").write_bytes(b"")
        (d / f"garbage.{ext}").write_bytes(rng.integers(0, 256, 3000, dtype=np.uint8).tobytes())
    (d / "text.txt").write_text("just some notes\n")
    (d / "noclass.py").write_text("x = 1\n")
    (d / "notaproject").mkdir()
    (d / "notaproject" / "notes.txt").write_text("keep me\n")
    (d / "textproject").mkdir()  # a text file where project.json should be
    (d / "textproject" / "project.json").write_text("this is not json\n")
    np.save(d / "array.npy", np.zeros((2, 1, 8, 8), np.float32))
    (d / "array.npy").rename(d / "npy.npz")
    ok = rng.random((4, 1, 8, 8), dtype=np.float32)
    labels = np.arange(4, dtype=np.int64)
    _npz(d / "good.npz", x=ok, y=labels)
    _npz(d / "pickled.npz", x=np.array([{"a": 1}, None], dtype=object))
    _npz(d / "nox.npz", a=ok)
    _npz(d / "uint8.npz", x=(ok * 255).astype(np.uint8))
    _npz(d / "ndim5.npz", x=ok[:, None])  # (N, C, L) signals are valid data since Conv1d support
    _npz(d / "ylen.npz", x=ok, y=labels[:3])
    _npz(d / "yfloat.npz", x=ok, y=labels.astype(np.float32))
    _npz(d / "negy.npz", x=ok, y=-labels - 1)
    _npz(d / "labels12.npz", x=ok, y=labels + 12)
    _npz(d / "nan.npz", x=np.where(ok > 0.5, np.nan, ok).astype(np.float32))
    _npz(d / "emptyx.npz", x=ok[:0])
    _npz(d / "huge.npz", x=np.full((4, 1, 8, 8), 1e300))
    _npz(d / "wrongshape.npz", x=rng.random((4, 1, 28, 28), dtype=np.float32))
    _npz(d / "flat.npz", x=ok.reshape(4, 64))
    zipped = (d / "good.npz").read_bytes()
    (d / "truncated.npz").write_bytes(zipped[: len(zipped) // 2])
    return d


@pytest.fixture(scope="module")
def where(inputs, digits_project) -> dict:
    """Placeholders of the case templates."""
    return {"in": str(inputs), "prj": str(digits_project), "mlp": MLP, "fx": str(FIXTURES)}


# --- running a command as a user would, and checking what it left ---------------------------------

class _Console:
    """What ``CliRunner.invoke`` calls: the console script's guard, in-process."""

    name = "mcudeploy"

    def main(self, args, prog_name, **_):
        sys.exit(climod.run(list(args), prog_name))


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for p in sorted(Path(root).rglob("*")):
        st_ = p.stat()
        out[str(p.relative_to(root))] = (st_.st_size, st_.st_mtime_ns) if p.is_file() else (-1, 0)
    return out


class _Logged(logging.Handler):
    """Log records (torch logs its own failures, tracebacks included) go to the user's terminal
    through handlers bound to the real stderr, which CliRunner does not capture: collect them."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record):
        self.lines += logging.Formatter("%(name)s %(levelname)s %(message)s").format(record).splitlines()


@contextlib.contextmanager
def _logged():
    h = _Logged()
    # torch gives several of its loggers their own stderr handler and no propagation: watch them all
    loggers = [logging.getLogger()] + [lg for lg in list(logging.root.manager.loggerDict.values())
                                       if isinstance(lg, logging.Logger)]
    for lg in loggers:
        lg.addHandler(h)
    try:
        yield h.lines
    finally:
        for lg in loggers:
            lg.removeHandler(h)


def _invoke(args: list[str], cwd: Path, crash_dir: Path):
    with contextlib.chdir(cwd):
        return CliRunner().invoke(_Console(), args, env={"XDG_CACHE_HOME": str(crash_dir), "MCUDEPLOY_DEBUG": None})


def _check_refused(args: list[str], cwd: Path, watched: list[Path], crash_dir: Path) -> None:
    """Run ``args`` in ``cwd`` and assert a clean refusal that left every watched tree untouched."""
    before = {w: _tree(w) for w in [cwd, *watched]}
    with _logged() as logs:
        r = _invoke(args, cwd, crash_dir)
    shown = f"mcudeploy {' '.join(args)}\n--- exit {r.exit_code}, output:\n{r.output}" + "\n".join(logs)
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise AssertionError(shown + "\n--- escaped:\n" + "".join(traceback.format_exception(r.exception)))
    assert r.exit_code not in (0, EXIT_BUG), shown
    assert "Traceback" not in r.output and "internal error" not in r.output, shown
    assert not logs, shown  # nothing but the error on the terminal
    err = [ln for ln in r.stderr.splitlines() if ln.strip()]
    if err and err[0].startswith("Usage:"):  # click's usage error: usage, hint, error
        assert len(err) <= USAGE_LINES and err[-1].startswith("Error: "), shown
    else:
        assert len(err) == 1 and err[0].startswith("error: "), shown
    assert len(r.stdout.splitlines()) <= 1, shown  # no report printed for a run that did not happen
    for w, tree in before.items():
        assert _tree(w) == tree, f"{shown}\n--- files changed under {w}"
    assert not list(crash_dir.glob("crash-*")), shown


@pytest.fixture
def refused(where, inputs, digits_project, tmp_path):
    """``refused(template_args)``: format the placeholders, run in a fresh empty cwd, check."""
    crash_dir = tmp_path / "xdg"
    crash_dir.mkdir()

    def run(template: list[str]) -> None:
        cwd = Path(tempfile.mkdtemp(dir=tmp_path, prefix="cwd"))
        _check_refused([a.format(**where) for a in template], cwd, [inputs, digits_project], crash_dir)

    return run


# --- the table: semantic cases, each one failing before any real work -----------------------------

CASES: dict[str, list[tuple[str, list[str]]]] = {
    "sweep": [
        ("no-points", ["{mlp}", "--data", "digits", "-o", "sw"]),
        ("both-points", ["{mlp}", "--data", "digits", "--budgets", "ram=1KB", "--sparsity", "0.5", "-o", "sw"]),
        ("budgets-bad-unit", ["{mlp}", "--data", "digits", "--budgets", "ram=1QB:2KB", "-o", "sw"]),
        ("budgets-uneven", ["{mlp}", "--data", "digits", "--budgets", "ram=1KB:2KB,cycles=1M:2M:3M", "-o", "sw"]),
        ("sparsity-out-of-range", ["{mlp}", "--data", "digits", "--sparsity", "0.5,1.5", "-o", "sw"]),
    ],
    "compile": [
        ("model-missing-py", ["{in}/nothere.py:Net", "--calib", "digits", "-o", "out"]),
        ("model-no-factory", ["{in}/noclass.py:Net", "--calib", "digits", "-o", "out"]),
        ("model-text-file", ["{in}/text.txt", "--calib", "digits", "-o", "out"]),
        ("model-garbage-pt2", ["{in}/garbage.pt2", "--calib", "digits", "-o", "out"]),
        ("model-empty-pt2", ["{in}/empty.pt2", "--calib", "digits", "-o", "out"]),
        ("weights-garbage", ["{mlp}", "--weights", "{in}/garbage.pt", "--calib", "digits", "-o", "out"]),
        ("weights-empty", ["{mlp}", "--weights", "{in}/empty.pt", "--calib", "digits", "-o", "out"]),
        ("weights-dir", ["{mlp}", "--weights", "{in}", "--calib", "digits", "-o", "out"]),
        ("calib-missing", ["{mlp}", "--calib", "{in}/nothere.npz", "-o", "out"]),
        ("calib-dir", ["{mlp}", "--calib", "{in}", "-o", "out"]),
        ("calib-empty", ["{mlp}", "--calib", "{in}/empty.npz", "-o", "out"]),
        ("calib-garbage", ["{mlp}", "--calib", "{in}/garbage.npz", "-o", "out"]),
        ("calib-truncated", ["{mlp}", "--calib", "{in}/truncated.npz", "-o", "out"]),
        ("calib-pickled", ["{mlp}", "--calib", "{in}/pickled.npz", "-o", "out"]),
        ("calib-npy", ["{mlp}", "--calib", "{in}/npy.npz", "-o", "out"]),
        ("calib-no-x", ["{mlp}", "--calib", "{in}/nox.npz", "-o", "out"]),
        ("calib-uint8", ["{mlp}", "--calib", "{in}/uint8.npz", "-o", "out"]),
        ("calib-ndim5", ["{mlp}", "--calib", "{in}/ndim5.npz", "-o", "out"]),
        ("calib-nan", ["{mlp}", "--calib", "{in}/nan.npz", "-o", "out"]),
        ("calib-no-samples", ["{mlp}", "--calib", "{in}/emptyx.npz", "-o", "out"]),
        ("calib-beyond-float32", ["{mlp}", "--calib", "{in}/huge.npz", "-o", "out"]),
        ("calib-limit-0", ["{mlp}", "--calib", "digits", "--calib-limit", "0", "-o", "out"]),
        ("calib-unknown-set", ["{mlp}", "--calib", "cifar", "-o", "out"]),
        ("calib-wrong-shape", ["{mlp}", "--calib", "mnist", "--calib-limit", "8", "-o", "out"]),
        ("output-is-a-file", ["{mlp}", "--calib", "digits", "-o", "{in}/text.txt"]),
        ("layer-format-bad", ["{mlp}", "--calib", "digits", "--layer-format", "fc1", "-o", "out"]),
    ],
    "compress": [
        ("no-target", ["{mlp}", "--data", "digits", "-o", "p.pt2"]),
        ("budget-bad-unit", ["{mlp}", "--data", "digits", "--structured", "--budget", "ram=1QB", "-o", "p.pt2"]),
        ("budget-unknown", ["{mlp}", "--data", "digits", "--structured", "--budget", "speed=1", "-o", "p.pt2"]),
        ("budget-not-structured", ["{mlp}", "--data", "digits", "--budget", "ram=1KB", "-o", "p.pt2"]),
        ("budget-and-sparsity", ["{mlp}", "--data", "digits", "--structured", "--budget", "ram=1KB", "--sparsity",
                                 "0.5", "-o", "p.pt2"]),
        ("both-targets", ["{mlp}", "--data", "digits", "--sparsity", "0.5", "--max-accuracy-drop", "1",
                          "-o", "p.pt2"]),
        ("model-garbage-pt2", ["{in}/garbage.pt2", "--data", "digits", "--sparsity", "0.5", "-o", "p.pt2"]),
        ("model-missing", ["{in}/nothere.py:Net", "--data", "digits", "--sparsity", "0.5", "-o", "p.pt2"]),
        ("weights-garbage", ["{mlp}", "--weights", "{in}/garbage.pt", "--data", "digits", "--sparsity", "0.5",
                             "-o", "p.pt2"]),
        ("data-garbage", ["{mlp}", "--data", "{in}/garbage.npz", "--sparsity", "0.5", "-o", "p.pt2"]),
        ("data-pickled", ["{mlp}", "--data", "{in}/pickled.npz", "--sparsity", "0.5", "-o", "p.pt2"]),
        ("data-y-length", ["{mlp}", "--data", "{in}/ylen.npz", "--sparsity", "0.5", "-o", "p.pt2"]),
        ("data-y-float", ["{mlp}", "--data", "{in}/yfloat.npz", "--sparsity", "0.5", "-o", "p.pt2"]),
        ("data-y-negative", ["{mlp}", "--data", "{in}/negy.npz", "--sparsity", "0.5", "-o", "p.pt2"]),
        ("eval-data-missing", ["{mlp}", "--data", "digits", "--eval-data", "{in}/nothere.npz", "--sparsity", "0.5",
                               "-o", "p.pt2"]),
        ("limit-0", ["{mlp}", "--data", "digits", "--limit", "0", "--sparsity", "0.5", "-o", "p.pt2"]),
        ("layer-sparsity-bad", ["{mlp}", "--data", "digits", "--sparsity", "0.5", "--layer-sparsity", "1=2",
                                "-o", "p.pt2"]),
        ("sparsity-1", ["{mlp}", "--data", "digits", "--sparsity", "1", "-o", "p.pt2"]),
        ("output-is-a-dir", ["{mlp}", "--data", "digits", "--sparsity", "0.5", "-o", "{in}"]),
        ("batch-size-0", ["{mlp}", "--data", "digits", "--sparsity", "0.5", "--batch-size", "0", "-o", "p.pt2"]),
        ("steps-0", ["{mlp}", "--data", "digits", "--sparsity", "0.5", "--steps", "0", "-o", "p.pt2"]),
        ("epochs-negative", ["{mlp}", "--data", "digits", "--sparsity", "0.5", "--epochs", "-1", "-o", "p.pt2"]),
        ("lr-nan", ["{mlp}", "--data", "digits", "--sparsity", "0.5", "--lr", "nan", "-o", "p.pt2"]),
        ("lr-negative", ["{mlp}", "--data", "digits", "--sparsity", "0.5", "--lr", "-1", "-o", "p.pt2"]),
        ("sparsity-nan", ["{mlp}", "--data", "digits", "--sparsity", "nan", "-o", "p.pt2"]),
    ],
    "build": [
        ("not-a-project", ["{in}/notaproject"]),
        ("text-as-project", ["{in}/textproject"]),
        ("project-is-a-file", ["{in}/text.txt"]),
        ("unknown-board", ["{prj}", "--board", "no-such-board"]),
        ("garbage-board-file", ["{prj}", "--board", "{in}/garbage.toml"]),
        ("empty-board-file", ["{prj}", "--board", "{in}/empty.toml"]),
        ("runner-input-without-model", ["{prj}", "--protocol", "mlperf", "--runner-input"]),
    ],
    "flash": [
        ("not-a-project", ["{in}/notaproject", "--emulate"]),
        ("text-as-project", ["{in}/textproject", "--emulate"]),
        ("unknown-board", ["{prj}", "--board", "no-such-board", "--emulate"]),
        ("garbage-board-file", ["{prj}", "--board", "{in}/garbage.toml", "--emulate"]),
        ("bad-baud", ["{prj}", "--emulate", "--baud", "7"]),
        ("detach-and-stop", ["{prj}", "--emulate", "--detach", "--stop"]),
        ("detach-without-emulate", ["{prj}", "--detach"]),
        ("stop-without-emulate", ["{prj}", "--stop"]),
        ("flash-through-url", ["{prj}", "--port", "socket://127.0.0.1:9"]),
        ("stop-unknown-board", ["{prj}", "--emulate", "--stop", "--board", "no-such-board"]),
    ],
    "devices": [
        ("json-is-a-dir", ["--json", "{in}"]),
        ("extra-argument", ["surplus"]),
    ],
    "boards": [
        ("extra-argument", ["surplus"]),
    ],
    "validate": [
        ("not-a-project", ["{in}/notaproject", "--emulate", "--data", "digits"]),
        ("text-as-project", ["{in}/textproject", "--emulate", "--data", "digits"]),
        ("project-is-a-file", ["{in}/text.txt", "--emulate", "--data", "digits"]),
        ("no-data", ["{prj}", "--emulate"]),
        ("data-name-too-long", ["{prj}", "--emulate", "--data", "x" * 300]),  # found by the drawn lines below
        ("board-path-outside", ["{prj}", "--board", "../boards/nucleo-f446re.toml", "--port", "loop://",
                                "--data", "{in}/wrongshape.npz"]),
        ("data-wrong-shape-builtin", ["{prj}", "--emulate", "--data", "mnist", "--limit", "5"]),
        ("data-wrong-shape-npz", ["{prj}", "--emulate", "--data", "{in}/wrongshape.npz"]),
        ("data-flat-for-8x8", ["{prj}", "--emulate", "--data", "{in}/flat.npz"]),
        ("data-labels-beyond-outputs", ["{prj}", "--emulate", "--data", "{in}/labels12.npz"]),
        ("data-missing", ["{prj}", "--emulate", "--data", "{in}/nothere.npz"]),
        ("data-dir", ["{prj}", "--emulate", "--data", "{in}"]),
        ("data-empty", ["{prj}", "--emulate", "--data", "{in}/empty.npz"]),
        ("data-garbage", ["{prj}", "--emulate", "--data", "{in}/garbage.npz"]),
        ("data-truncated", ["{prj}", "--emulate", "--data", "{in}/truncated.npz"]),
        ("data-pickled", ["{prj}", "--emulate", "--data", "{in}/pickled.npz"]),
        ("data-npy", ["{prj}", "--emulate", "--data", "{in}/npy.npz"]),
        ("data-no-x", ["{prj}", "--emulate", "--data", "{in}/nox.npz"]),
        ("data-uint8", ["{prj}", "--emulate", "--data", "{in}/uint8.npz"]),
        ("data-ndim5", ["{prj}", "--emulate", "--data", "{in}/ndim5.npz"]),
        ("data-y-length", ["{prj}", "--emulate", "--data", "{in}/ylen.npz"]),
        ("data-y-negative", ["{prj}", "--emulate", "--data", "{in}/negy.npz"]),
        ("data-nan", ["{prj}", "--emulate", "--data", "{in}/nan.npz"]),
        ("data-no-samples", ["{prj}", "--emulate", "--data", "{in}/emptyx.npz"]),
        ("data-beyond-float32", ["{prj}", "--emulate", "--data", "{in}/huge.npz"]),
        ("data-model-file", ["{prj}", "--emulate", "--data", "{in}/garbage.pt2"]),
        ("limit-0", ["{prj}", "--emulate", "--data", "digits", "--limit", "0"]),
        ("limit-negative", ["{prj}", "--emulate", "--data", "digits", "--limit", "-1"]),
        ("unknown-board", ["{prj}", "--emulate", "--board", "no-such-board", "--data", "digits"]),
        ("garbage-board-file", ["{prj}", "--emulate", "--board", "{in}/garbage.toml", "--data", "digits"]),
        ("bad-baud", ["{prj}", "--emulate", "--baud", "7", "--data", "digits"]),
        ("results-is-a-dir", ["{prj}", "--emulate", "--data", "digits", "--results", "{in}"]),
        ("timeout-nan", ["{prj}", "--emulate", "--data", "digits", "--timeout", "nan"]),
        ("boards-without-farm", ["{prj}", "--data", "digits", "--boards", "2"]),
        ("farm-with-emulate", ["{prj}", "--farm", "127.0.0.1:1", "--emulate", "--data", "digits"]),
        ("farm-unreachable", ["{prj}", "--farm", "127.0.0.1:1", "--data", "digits"]),
    ],
    "profile": [
        ("not-a-project", ["{in}/notaproject", "--emulate"]),
        ("text-as-project", ["{in}/textproject", "--emulate"]),
        ("data-wrong-shape-builtin", ["{prj}", "--emulate", "--data", "mnist"]),
        ("data-wrong-shape-npz", ["{prj}", "--emulate", "--data", "{in}/wrongshape.npz"]),
        ("data-garbage", ["{prj}", "--emulate", "--data", "{in}/garbage.npz"]),
        ("data-pickled", ["{prj}", "--emulate", "--data", "{in}/pickled.npz"]),
        ("data-empty", ["{prj}", "--emulate", "--data", "{in}/empty.npz"]),
        ("data-missing", ["{prj}", "--emulate", "--data", "{in}/nothere.npz"]),
        ("unknown-board", ["{prj}", "--emulate", "--board", "no-such-board"]),
        ("bad-baud", ["{prj}", "--emulate", "--baud", "12345"]),
    ],
    "farm": [
        ("up-zero-boards", ["up", "--emulate", "0", "--dir", "fd"]),
        ("up-unknown-board", ["up", "--emulate", "1", "--board", "no-such-board", "--dir", "fd"]),
        ("up-garbage-board-file", ["up", "--emulate", "1", "--board", "{in}/garbage.toml", "--dir", "fd"]),
        ("down-dir-is-a-file", ["down", "--dir", "{in}/text.txt"]),
        ("exporter-config-output-is-a-dir", ["exporter-config", "-o", "{in}"]),
        ("no-such-subcommand", ["sideways"]),
    ],
    "demo": [
        ("unknown-board", ["--board", "no-such-board"]),
        ("limit-0", ["--limit", "0"]),
        ("output-is-a-file", ["-o", "{in}/text.txt"]),
    ],
    "bench": [
        ("nothing-to-bench", []),
        ("projects-and-suite", ["{prj}", "--suite", "mlperf-tiny"]),
        ("not-a-project", ["{in}/notaproject"]),
        ("text-as-project", ["{in}/textproject"]),
        ("data-wrong-shape-builtin", ["{prj}", "--data", "mnist"]),
        ("data-wrong-shape-npz", ["{prj}", "--data", "{in}/wrongshape.npz"]),
        ("data-garbage", ["{prj}", "--data", "{in}/garbage.npz"]),
        ("data-empty", ["{prj}", "--data", "{in}/empty.npz"]),
        ("one-good-one-bad-project", ["{prj}", "{in}/notaproject"]),
        ("suite-unknown-model", ["--suite", "mlperf-tiny", "--models", "resnet50", "--workdir", "w"]),
        ("suite-unknown-board", ["--suite", "mlperf-tiny", "--board", "no-such-board", "--workdir", "w"]),
        ("suite-samples-0", ["--suite", "mlperf-tiny", "--samples", "0", "--workdir", "w"]),
    ],
}

# Rows whose fix belongs to another part of issue #11 (another branch): strict, so the merge flips them.
def _rows():
    for cmd, cases in CASES.items():
        for name, args in cases:
            yield pytest.param([cmd, *args], id=f"{cmd}-{name}")


@pytest.mark.parametrize("args", list(_rows()))
def test_bad_case_is_refused_cleanly(refused, args):
    refused(args)


# --- generated: each parameter of each command given a value its type refuses ---------------------

# Plausible values for each command's required parameters, so that a generated bad value is the one
# thing wrong. Never run as they are: every generated case carries a value click refuses while
# parsing, before the command's body.
BASE: dict[str, dict[str, object]] = {
    "sweep": {"model": MLP, "data": "digits", "outdir": "sw", "sparsity": "0.5"},
    "compile": {"model": MLP, "calib": "digits", "outdir": "out"},
    "compress": {"model": MLP, "data": "digits", "output": "p.pt2", "sparsity": "0.5"},
    "build": {"project": "{prj}"},
    "flash": {"project": "{prj}", "emulate": True},
    "devices": {},
    "boards": {},
    "validate": {"project": "{prj}", "data": "digits", "emulate": True},
    "profile": {"project": "{prj}", "emulate": True},
    "demo": {},
    "bench": {"projects": ["{prj}"]},
    "farm": {},
}


def _bad_values(p: click.Parameter) -> list[tuple[str, str]]:
    """(label, value) pairs that ``p``'s type refuses at parse time."""
    t = p.type
    out = []
    if isinstance(t, (click.IntRange, click.FloatRange)) and t.min is not None:
        low = t.min if t.min_open else t.min - 1
        out.append(("below-min", str(low)))
    if isinstance(t, (click.types.IntParamType, click.types.FloatParamType)):
        out.append(("not-a-number", "many"))
    if isinstance(t, click.types.FloatParamType):
        out += [("nan", "nan"), ("inf", "inf")]
    if isinstance(t, click.Choice):
        out.append(("not-a-choice", "no-such-choice"))
    if isinstance(t, click.Path):
        if t.exists:
            out.append(("missing-path", "{in}/nothere"))
        if not t.file_okay:
            out.append(("file-for-dir", "{in}/text.txt"))
        if not t.dir_okay:
            out.append(("dir-for-file", "{in}"))
    return out


def _argv(cmd: click.Command, values: dict[str, object]) -> list[str]:
    args, opts = [], []
    for p in cmd.params:
        if p.name not in values:
            continue
        v = values[p.name]
        if isinstance(p, click.Argument):
            args += [str(x) for x in v] if isinstance(v, list) else [str(v)]
        elif v is True:
            opts.append(p.opts[0])
        else:
            opts += [p.opts[0], str(v)]
    return [cmd.name, *args, *opts]


def _generated():
    for name, cmd in sorted(cli.commands.items()):
        base = BASE.get(name, {})
        yield pytest.param([name, "--no-such-option"], id=f"{name}-unknown-option")
        for p in cmd.params:
            for label, bad in _bad_values(p):
                v = [bad] if getattr(p, "nargs", 1) == -1 else bad
                yield pytest.param(_argv(cmd, {**base, p.name: v}), id=f"{name}-{p.name}-{label}")


@pytest.mark.parametrize("args", list(_generated()))
def test_refused_value_is_one_clean_error(refused, args):
    refused(args)


def test_every_command_has_cases():
    """A new command must get table rows and base values (then the generated cases cover it)."""
    missing = sorted(set(cli.commands) - set(CASES) - set(BASE))
    assert not missing, f"add rows to CASES and BASE in {__file__} for: {', '.join(missing)}"
    assert set(CASES) == set(cli.commands) == set(BASE)
    for name, cmd in cli.commands.items():
        required = {p.name for p in cmd.params if p.required}
        assert required <= set(BASE[name]), f"BASE['{name}'] lacks required {required - set(BASE[name])}"


# --- hypothesis: argument lists drawn from options and bad values ---------------------------------

BAD_DATA = ["mnist", "{in}/wrongshape.npz", "{in}/garbage.npz", "{in}/pickled.npz", "{in}/empty.npz",
            "{in}/nothere.npz", "{in}", "{in}/nan.npz", "{in}/labels12.npz", "{in}/flat.npz", "", "x" * 300]
PROJECTS = ["{prj}", "{in}/notaproject", "{in}/textproject", "{in}/text.txt", "{in}/nothere"]
NUMBERS = ["-1", "0", "1", "3", "1e9", "nan", "-0", "99999999999999999999999", "0x10", " 2", "many"]
BOARDS = ["nucleo-f446re", "no-such-board", "{in}/empty.toml", "../boards/nucleo-f446re", ""]  # garbage.toml:
# see OWNED_ELSEWHERE
# Every list has a bad --data (the command fails before a board or a build), drawn last so it wins.
POOLS = {
    "validate": ([("--limit", NUMBERS), ("--board", BOARDS), ("--baud", NUMBERS), ("--retries", NUMBERS),
                  ("--timeout", NUMBERS), ("--emulate", None), ("--resume", None)], "--data"),
    "profile": ([("--board", BOARDS), ("--baud", NUMBERS), ("--timeout", NUMBERS), ("--emulate", None),
                 ("--no-estimate", None)], "--data"),
    "bench": ([("--samples", NUMBERS), ("--board", BOARDS), ("--models", ["", "x", "ic_resnet8,"])], "--data"),
}


@st.composite
def _command_lines(draw, cmd: str):
    options, must = POOLS[cmd]
    argv = [cmd, draw(st.sampled_from(PROJECTS))]
    for _ in range(draw(st.integers(0, 4))):
        opt, values = draw(st.sampled_from(options))
        argv += [opt] if values is None else [opt, draw(st.sampled_from(values))]
    return [*argv, must, draw(st.sampled_from(BAD_DATA))]


@pytest.mark.parametrize("cmd", sorted(POOLS))
def test_drawn_command_lines_are_refused_cleanly(cmd, where, inputs, digits_project, tmp_path_factory):
    base = tmp_path_factory.mktemp(f"hyp-{cmd}")
    crash_dir = base / "xdg"
    crash_dir.mkdir()

    # derandomized: CI sees the same 25 lines every run (a case drawn once becomes a table row above)
    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None,
              derandomize=True)
    @given(_command_lines(cmd))
    def check(argv):
        cwd = Path(tempfile.mkdtemp(dir=base, prefix="cwd"))
        _check_refused([a.format(**where) for a in argv], cwd, [inputs, digits_project], crash_dir)

    check()


# --- the guard itself ------------------------------------------------------------------------------

def _boom():
    raise RuntimeError("injected fault\nwith a second line")


def test_guard_turns_a_bug_into_one_line_and_a_crash_file(monkeypatch, tmp_path):
    import mcudeploy.cli.device_cmds as dc

    monkeypatch.setattr(dc, "list_boards", _boom)
    crash_dir = tmp_path / "xdg"
    r = _invoke(["boards"], tmp_path, crash_dir)
    assert r.exit_code == EXIT_BUG
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: internal error: RuntimeError: injected fault with a second")
    [crash] = (crash_dir / "mcudeploy").glob("crash-*.txt")
    assert str(crash) in err[0] and "please report it" in err[0]
    text = crash.read_text()
    assert "command: mcudeploy boards" in text and "Traceback" in text and "_boom" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["xdg"]  # nothing in the working directory


def test_guard_lets_developers_see_the_traceback(monkeypatch, tmp_path):
    import mcudeploy.cli.device_cmds as dc

    monkeypatch.setattr(dc, "list_boards", _boom)
    with contextlib.chdir(tmp_path):
        r = CliRunner().invoke(_Console(), ["boards"], env={"MCUDEPLOY_DEBUG": "1", "XDG_CACHE_HOME": str(tmp_path)})
    assert isinstance(r.exception, RuntimeError)  # re-raised: Python prints the traceback
    assert not list(tmp_path.rglob("crash-*"))


def test_guard_ctrl_c_is_130(monkeypatch, tmp_path):
    import mcudeploy.cli.device_cmds as dc

    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(dc, "list_boards", interrupted)
    r = _invoke(["boards"], tmp_path, tmp_path / "xdg")
    assert r.exit_code == 130 and "Traceback" not in r.output


def test_guard_without_a_writable_cache_still_one_line(monkeypatch, tmp_path):
    import mcudeploy.cli.device_cmds as dc
    from mcudeploy.cli import crash

    monkeypatch.setattr(dc, "list_boards", _boom)
    monkeypatch.setattr(crash, "crash_dirs", lambda: [Path("/proc/no-such-dir")])
    r = _invoke(["boards"], tmp_path, tmp_path / "xdg")
    assert r.exit_code == EXIT_BUG and len(r.stderr.strip().splitlines()) == 1
    assert "MCUDEPLOY_DEBUG=1" in r.stderr


def test_guard_os_refusal_is_a_user_error(monkeypatch, tmp_path):
    """An OSError the machine raises about the user's files (permission, read-only, disk full) is
    exit 2 naming the file, not a bug report."""
    import mcudeploy.cli.device_cmds as dc

    def denied():
        raise PermissionError(errno.EACCES, "Permission denied", "/srv/shared/report.json")

    monkeypatch.setattr(dc, "list_boards", denied)
    r = _invoke(["boards"], tmp_path, tmp_path / "xdg")
    assert r.exit_code == 2 and r.stderr.strip().splitlines() == [
        ("error: cannot access '/srv/shared/report.json': Permission denied; choose a path you may write, free "
        "space, or fix its permissions")]


# --- optional packages missing: a real failing import, not a mock of mcudeploy --------------------

def test_bench_without_unicorn_names_the_extra(monkeypatch, digits_project, tmp_path):
    monkeypatch.setitem(sys.modules, "unicorn", None)  # `import unicorn` now raises ImportError
    r = _invoke(["bench", str(digits_project)], tmp_path, tmp_path / "xdg")
    assert r.exit_code == 2
    assert r.stderr.strip().splitlines() == [
        ("error: bench (the Cortex-M4 timing model) needs the package 'unicorn', which is not installed; install "
        "it with: pip install 'mcudeploy[cycles]' (or: pip install unicorn)")]
    assert not (digits_project / "bench").exists()


def test_suite_without_unicorn_offers_no_cycles(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "unicorn", None)
    r = _invoke(["bench", "--suite", "mlperf-tiny", "--workdir", "w"], tmp_path, tmp_path / "xdg")
    assert r.exit_code == 2 and "pip install 'mcudeploy[cycles]'" in r.stderr and "--no-cycles" in r.stderr
    assert not (tmp_path / "w").exists()


def test_guard_names_the_extra_of_an_unchecked_import(monkeypatch, tmp_path):
    """The backstop: an import of an optional package that no command checked first."""
    import mcudeploy.cli.device_cmds as dc

    def needs_h5py():
        import h5py  # noqa: F401

    monkeypatch.setitem(sys.modules, "h5py", None)
    monkeypatch.setattr(dc, "list_boards", needs_h5py)
    r = _invoke(["boards"], tmp_path, tmp_path / "xdg")
    assert r.exit_code == 2 and "'h5py'" in r.stderr and "pip install 'mcudeploy[zoo]'" in r.stderr


# --- the real console script and python -m ----------------------------------------------------------

def _script_env(tmp_path: Path, site: str | None = None, **extra) -> dict:
    """The environment of a real ``mcudeploy`` run, with an optional sitecustomize.py (code run at
    interpreter start: hides a package, or injects a fault) and its own crash folder."""
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "xdg"), **extra)
    env.pop("MCUDEPLOY_DEBUG", None)
    tool = str(Path(climod.__file__).parents[2])  # this checkout's package, not another one
    path = [tool, *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    if site is not None:
        d = tmp_path / "site"
        d.mkdir()
        (d / "sitecustomize.py").write_text(site)
        path.insert(0, str(d))
    env["PYTHONPATH"] = os.pathsep.join(path)
    return env


def _script(args: list[str], cwd: Path, env: dict, module: bool = False) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "mcudeploy", *args] if module else ["mcudeploy", *args]
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False)
    # the start-up progress line (importing torch past 2 s on a loaded machine) is not an error line
    r.stderr = "".join(ln for ln in r.stderr.splitlines(keepends=True) if not progress.is_progress_line(ln))
    return r


def test_script_wrong_shape_data_one_line(digits_project, tmp_path):
    r = _script(["validate", str(digits_project), "--emulate", "--data", "mnist", "--limit", "5"], tmp_path,
                _script_env(tmp_path))
    assert r.returncode == 2, r.stderr
    assert r.stderr.splitlines() == [
        (f"error: data 'mnist' has samples of shape 1x28x28; the model '{digits_project}' takes 1x8x8; give data of "
        "that shape (e.g. --data digits)")]
    assert r.stdout == "" and sorted(tmp_path.iterdir()) == []


def test_script_suite_without_h5py_names_the_extra(tmp_path):
    hide = "import sys\nsys.modules['h5py'] = None  # as if h5py were not installed\n"
    r = _script(["bench", "--suite", "mlperf-tiny"], tmp_path, _script_env(tmp_path, hide))
    assert r.returncode == 2, r.stderr
    assert r.stderr.splitlines() == [
        ("error: bench --suite mlperf-tiny (reading the reference models) needs the package 'h5py', which is not "
        "installed; install it with: pip install 'mcudeploy[zoo]' (or: pip install h5py)")]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"]  # no out/mlperf-tiny begun


def test_script_bug_is_one_line_with_the_trace_saved(tmp_path):
    fault = ("import mcudeploy.boards as b\n\ndef boom():\n    raise RuntimeError('injected fault')\n\n"
             "b.list_boards = boom\n")
    env = _script_env(tmp_path, fault)
    r = _script(["boards"], tmp_path, env)
    assert r.returncode == EXIT_BUG
    [line] = r.stderr.splitlines()
    [crash] = (tmp_path / "xdg" / "mcudeploy").glob("crash-*.txt")
    assert line == (f"error: internal error: RuntimeError: injected fault (a bug in mcudeploy; full trace in {crash}, "
                    "please report it)")
    assert "Traceback" in crash.read_text()


def test_python_m_uses_the_same_guard(inputs, digits_project, tmp_path):
    r = _script(["validate", str(digits_project), "--emulate", "--data", str(inputs / "pickled.npz")], tmp_path,
                _script_env(tmp_path), module=True)
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1 and "pickled Python objects, which are never loaded" in r.stderr
