"""Samples dealt to places one at a time: a slow place takes fewer, a lost place's sample goes back.

Usage::

    q = WorkQueue([3, 4, 5])
    i = q.take()                 # 3, or None once nothing is left (waits while others may give back)
    q.complete(i, rec)           # True the first time: the sample is counted once
    q.give_back(i)               # the place failed mid-sample: another place runs it

Dealing one sample at a time (not a fixed slice per place) is what makes the split follow the
places' real speed, and what bounds a lost place's damage to the one sample it was running.
A sample leaves the queue only by ``complete``, so every sample ends counted exactly once, or
still pending (for ``--resume``) when every place is gone.
"""

from __future__ import annotations

import threading
from collections import deque


class WorkQueue:
    def __init__(self, todo: list[int]):
        self.pending = deque(todo)
        self.in_flight: set[int] = set()
        self.done: dict[int, dict] = {}
        self.cond = threading.Condition()
        self.closed = False

    def take(self) -> int | None:
        """The next sample, or None when none is pending and none in flight (or the queue is closed)."""
        with self.cond:
            while not self.pending and self.in_flight and not self.closed:
                self.cond.wait(0.5)  # a sample in flight elsewhere may come back
            if self.closed or not self.pending:
                return None
            i = self.pending.popleft()
            self.in_flight.add(i)
            return i

    def complete(self, i: int, rec: dict) -> bool:
        with self.cond:
            self.in_flight.discard(i)
            first = i not in self.done
            if first:
                self.done[i] = rec
            self.cond.notify_all()
            return first

    def give_back(self, i: int) -> None:
        with self.cond:
            self.in_flight.discard(i)
            if i not in self.done:
                self.pending.appendleft(i)
            self.cond.notify_all()

    def close(self) -> None:
        """No more samples are dealt (Ctrl-C): running ones finish, the rest stay pending."""
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def remaining(self) -> int:
        with self.cond:
            return len(self.pending) + len(self.in_flight)
