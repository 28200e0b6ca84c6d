"""progress.py: a bar on a terminal, a line every INTERVAL seconds otherwise, nothing when quiet;
and the steps that take long (training here) really report through it."""

import io
import time

import pytest
import torch
from mcudeploy import progress
from mcudeploy.train import train_classifier


class Tty(io.StringIO):
    def isatty(self):
        return True


@pytest.fixture
def fast(monkeypatch):
    monkeypatch.setattr(progress, "INTERVAL", 0.2)
    monkeypatch.setattr(progress, "REDRAW", 0.02)
    monkeypatch.setattr(progress, "QUIET_AFTER", 0.05)
    yield
    progress.set_stream(None)
    progress.set_quiet(False)


def _run(stream, quiet=False):
    progress.set_stream(stream)
    progress.set_quiet(quiet)
    with progress.task("train tiny", total=10, unit="batches") as t:
        for k in range(10):
            t.advance(detail=f"epoch {k // 5 + 1}/2")
            time.sleep(0.06)
    return stream.getvalue()


def test_lines_when_not_a_terminal(fast):
    out = _run(io.StringIO())
    lines = out.splitlines()
    assert "\r" not in out and "[#" not in out
    assert len(lines) >= 3, out  # a line every INTERVAL (0.2 s) over 0.6 s, then "done"
    assert lines[0].startswith("train tiny: ") and "batches, epoch " in lines[0] and "%" in lines[0]
    assert lines[-1].startswith("train tiny: done in ") and "(10/10 batches)" in lines[-1]


def test_bar_on_a_terminal(fast):
    out = _run(Tty())
    assert "\r" in out and "[#" in out and "epoch 2/2" in out
    assert out.split("\r")[-1].strip().startswith("train tiny: done in")


def test_quiet_prints_nothing(fast):
    assert _run(io.StringIO(), quiet=True) == ""


def test_short_steps_print_nothing(monkeypatch):
    progress.set_stream(s := io.StringIO())
    try:
        with progress.task("quick"):
            pass
    finally:
        progress.set_stream(None)
    assert s.getvalue() == ""


def test_nested_steps_name_their_path(fast):
    progress.set_stream(s := io.StringIO())
    with progress.task("compile"), progress.task("capture the graph"):
        time.sleep(0.3)
    assert "compile > capture the graph: " in s.getvalue()


def test_training_reports_epochs(fast, monkeypatch):
    # toy batches end within any tick on an idle machine: the epoch callback waits long enough for the
    # background ticker (every REDRAW) to report, with every tick a line (QUIET_AFTER, INTERVAL 0)
    monkeypatch.setattr(progress, "QUIET_AFTER", 0.0)
    monkeypatch.setattr(progress, "INTERVAL", 0.0)
    progress.set_quiet(False)
    progress.set_stream(s := io.StringIO())
    x = torch.randn(200, 8)
    y = (x[:, 0] > 0).long()
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    train_classifier(model, x, y, epochs=2, batch_size=8, label="train toy",
                     callback=lambda *_: time.sleep(0.2))
    out = s.getvalue()
    assert "train toy: " in out and "/50 batches, epoch " in out, out
    assert "train toy: done in " in out and "(50/50 batches)" in out


def test_progress_lines_are_recognised(fast):
    out = _run(io.StringIO()) + _run(Tty())
    lines = [line for line in out.splitlines() if line.strip()]
    assert lines and all(progress.is_progress_line(line) for line in lines), lines
    assert not progress.is_progress_line("error: board nucleo-x: no such board (see `mcudeploy boards`)")


def test_compress_names_the_round_and_the_epoch():
    """`compress` printed "fine-tune epoch 1/2" once per round without saying which round."""
    from mcudeploy.compress.run import compress_model

    torch.manual_seed(0)
    x = torch.randn(64, 8).numpy()
    y = (x[:, 0] > 0).astype("int64")
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    log: list[str] = []
    compress_model(model, torch.from_numpy(x[:1]), train=(x, y), test=(x, y), sparsity=0.5, steps=3, epochs=2,
                   batch_size=32, log=log.append)
    tuned = [line.strip().split(":")[0] for line in log if "fine-tune" in line]
    assert tuned == [f"fine-tune round {r}/3, epoch {e}/2" for r in (1, 2, 3) for e in (1, 2)], log


def test_progress_survives_torch_export_noise_redirection(fast, monkeypatch):
    """quiet_torch drops torch.export's stderr noise into a buffer; progress lines written meanwhile
    (a long export, and the tasks around it) must still reach the user's stderr (they vanished:
    a 19 s silent stretch in an MLPerf model's compile)."""
    from mcudeploy.frontend.quiet import quiet_torch

    real = io.StringIO()
    monkeypatch.setattr("sys.stderr", real)
    with progress.task("compile"), quiet_torch():
        import sys

        print("torch noise", file=sys.stderr)
        time.sleep(0.5)
    out = real.getvalue()
    assert "compile: " in out and "torch noise" not in out, out
    assert out.count("compile: ") >= 2  # lines while redirected, then "done"


@pytest.mark.parametrize(("argv", "env", "shown"), [
    (["/usr/bin/mcudeploy", "demo"], {}, True),
    (["/x/tool/mcudeploy/__main__.py", "boards"], {}, True),  # python -m mcudeploy
    (["/usr/bin/mcudeploy", "-q", "demo"], {}, False),
    (["/usr/bin/mcudeploy", "demo"], {"MCUDEPLOY_QUIET": "1"}, False),
    (["/x/pytest/__main__.py", "-q"], {}, False),  # imported by another program: not its start
    (["-c"], {}, False),
])
def test_the_console_scripts_start_is_shown_unless_quiet(monkeypatch, argv, env, shown):
    """Importing torch and the commands took 24-35 s at a load of 30, silent: the console script's
    start gets a progress line; a program that imports mcudeploy.cli does not."""
    from mcudeploy import cli

    monkeypatch.setattr("sys.argv", argv)
    monkeypatch.delenv("MCUDEPLOY_QUIET", raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert cli._startup_shown() is shown
