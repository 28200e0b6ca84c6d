"""Progress of long steps: a bar on a terminal, a line every few seconds otherwise, nothing when quiet.

Usage::

    from mcudeploy import progress
    with progress.task("train lenet5 on mnist", total=6 * 938, unit="batches") as p:
        for ...:
            p.advance(detail="epoch 2/6")             # a known amount of work
    with progress.task("build firmware (cmake)"):      # no steps to count: a heartbeat with the time
        subprocess.run(...)
    progress.set_quiet(True)                           # the CLI's --quiet (or MCUDEPLOY_QUIET=1)

Why one module: a user on a busy machine must never stare at a silent terminal for minutes, and a
CI log (not a terminal) must get a readable line every ``INTERVAL`` seconds, not a carriage-return
bar squashed into one stray word. Every step that can take more than about two seconds (training,
calibration, capture, compile, build, compress rounds, validate, bench) goes through ``task``. A
background thread redraws the bar (or writes the line) so that a step which cannot report its
own progress (a cmake build, an emulator starting) still shows its elapsed time. Output goes to
stderr, so ``--json -`` style output on stdout stays clean. Nested tasks print as
``outer > inner``; only the innermost draws.
"""

from __future__ import annotations

import os
import re
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

INTERVAL = 5.0  # seconds between lines when the output is not a terminal
REDRAW = 0.25  # seconds between redraws of a terminal bar
QUIET_AFTER = 2.0  # a task that ends sooner than this prints nothing at all (not even "done")
WIDTH = 24  # characters of the bar

_state = {"quiet": os.environ.get("MCUDEPLOY_QUIET", "") not in ("", "0"), "stream": None}
_stack: list[Task] = []
_lock = threading.Lock()


def set_quiet(quiet: bool = True) -> None:
    """Silence (or restore) every progress output of this process (the CLI's ``--quiet``)."""
    _state["quiet"] = quiet


def set_stream(stream: TextIO | None) -> None:
    """Write to ``stream`` instead of sys.stderr (tests); None restores stderr."""
    _state["stream"] = stream


@contextmanager
def keep_stream() -> Iterator[None]:
    """Progress keeps writing to the current stderr while the block redirects ``sys.stderr`` (as
    quiet_torch does around torch.export, whose noise goes to a dropped buffer): otherwise the
    lines of a long export, and of every task around it, vanish into that buffer."""
    saved = _state["stream"]
    _state["stream"] = _out()
    try:
        yield
    finally:
        _state["stream"] = saved


def _out() -> TextIO:
    return _state["stream"] or sys.stderr


def _fmt_time(s: float) -> str:
    return f"{s:.0f} s" if s < 120 else f"{int(s // 60)} min {int(s % 60):02d} s"


class Task:
    """One step in progress; ``advance`` and ``set`` may be called as often as wanted (cheap)."""

    def __init__(self, label: str, total: int | None, unit: str, tty: bool):
        self.label, self.total, self.unit, self.tty = label, total, unit, tty
        self.done, self.detail = 0, ""
        self.t0 = time.monotonic()
        self._last_line = self.t0 - INTERVAL + QUIET_AFTER  # the first line once QUIET_AFTER has passed
        self._drawn = False

    def advance(self, n: int = 1, detail: str | None = None) -> None:
        self.done += n
        if detail is not None:
            self.detail = detail

    def set(self, done: int | None = None, detail: str | None = None, total: int | None = None) -> None:
        if total is not None:
            self.total = total
        if done is not None:
            self.done = done
        if detail is not None:
            self.detail = detail

    def text(self) -> str:
        path = " > ".join(t.label for t in _stack[:_stack.index(self) + 1]) if self in _stack else self.label
        parts = [path]
        if self.total:
            frac = min(1.0, self.done / self.total)
            bar = f"[{'#' * int(frac * WIDTH):<{WIDTH}}] " if self.tty else ""
            parts.append(f"{bar}{100 * frac:3.0f}% {self.done:,}/{self.total:,} {self.unit}".rstrip())
        elif self.done:
            parts.append(f"{self.done:,} {self.unit}".rstrip())
        if self.detail:
            parts.append(self.detail)
        parts.append(_fmt_time(time.monotonic() - self.t0))
        return ", ".join(parts[:1]) + ": " + ", ".join(parts[1:])

    def _tick(self, now: float) -> None:
        if _state["quiet"] or now - self.t0 < QUIET_AFTER:
            return
        if self.tty:
            line = self.text()
            cols = _columns()
            _out().write("\r" + line[:cols - 1].ljust(cols - 1))
            _out().flush()
            self._drawn = True
        elif now - self._last_line >= INTERVAL:
            _out().write(self.text() + "\n")
            _out().flush()
            self._last_line = now
            self._drawn = True

    def _finish(self, ok: bool) -> None:
        """One "done in N s" line; nothing on failure (the error that follows says what happened)."""
        # a step that lasted past QUIET_AFTER but ended between two ticks still says it is done
        shown = self._drawn or time.monotonic() - self.t0 >= QUIET_AFTER
        if _state["quiet"] or not shown or not ok:
            if self.tty and self._drawn:
                _out().write("\r" + " " * (_columns() - 1) + "\r")
                _out().flush()
            return
        took = _fmt_time(time.monotonic() - self.t0)
        end = f"{self.label}: done in {took}"
        if self.total:
            end += f" ({self.done:,}/{self.total:,} {self.unit})".replace(" )", ")")
        _out().write(("\r" + end.ljust(_columns() - 1) if self.tty else end) + "\n")
        _out().flush()


def _columns() -> int:
    try:
        return max(40, os.get_terminal_size(_out().fileno()).columns)
    except (OSError, ValueError, AttributeError):
        return 100


def _isatty() -> bool:
    try:
        return _out().isatty()
    except (AttributeError, ValueError):
        return False


def _ticker(stop: threading.Event) -> None:
    while not stop.wait(REDRAW):
        with _lock:
            if _stack:
                _stack[-1]._tick(time.monotonic())


_ticking: dict = {}


@contextmanager
def task(label: str, total: int | None = None, unit: str = "") -> Iterator[Task]:
    """A step that may take a while: shown after QUIET_AFTER seconds, then kept alive by a
    background redraw until it ends (then one "done in N s" line, if anything was shown)."""
    t = Task(label, total, unit, _isatty())
    with _lock:
        if _stack and _stack[-1].tty and _stack[-1]._drawn:
            _out().write("\n")  # keep the outer bar's last state; the inner one draws below it
        _stack.append(t)
        if "thread" not in _ticking:
            stop = threading.Event()
            th = threading.Thread(target=_ticker, args=(stop,), name="mcudeploy-progress", daemon=True)
            _ticking.update(thread=th, stop=stop)
            th.start()
    ok = False
    try:
        yield t
        ok = True
    finally:
        with _lock:
            _stack.remove(t)
            t._finish(ok)
            if not _stack and "thread" in _ticking:
                _ticking.pop("stop").set()
                _ticking.pop("thread")


_LINE = re.compile(r"^\S.*: (?:.*, )?(?:\d+ s|\d+ min \d\d s)$|^\S.*: (?:done|stopped) in \d")


def is_progress_line(line: str) -> bool:
    """Whether ``line`` (one line of stderr, bar redraws split at \\r) is progress output: how
    tests tell it from the one-line errors they check."""
    parts = [part.strip() for part in line.split("\r") if part.strip()]
    return bool(parts) and all(_LINE.match(part) for part in parts)


def echo(text: str) -> None:
    """Print a log line on stderr without tearing a bar: the bar's line is cleared first and the
    bar redrawn below on the next tick."""
    with _lock:
        if _stack and _stack[-1].tty and _stack[-1]._drawn:
            _out().write("\r" + " " * (_columns() - 1) + "\r")
        _out().write(text + "\n")
        _out().flush()


def callback(t: Task):
    """``progress(k, n)`` callbacks (validate's) onto a task: sets done and total."""
    return lambda k, n: t.set(done=k, total=n)
