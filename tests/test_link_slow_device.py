"""A device that answers every request, but later than the link's per-attempt wait (the virtual
board with its flash model on a loaded machine: 0.54 s against 0.43 s). Its replies to earlier
attempts are the request's answer; skipping them as stale, with each retry queueing one more
frame in front of the device, failed a working board after 33 attempts."""

from __future__ import annotations

import time

from mcudeploy.link.framing import Frame, decode, encode
from mcudeploy.link.protocol import REPLY, Link

DELAY = 0.6  # seconds the device takes per request, one request at a time


class SlowDevicePort:
    """A serial port whose device serves requests in order, DELAY seconds each."""

    name = "slow://"

    def __init__(self):
        self._inbuf, self._out = bytearray(), []  # out: (time readable, bytes)
        self._free_at = 0.0
        self.timeout = 0.01

    def write(self, data: bytes) -> int:
        self._inbuf += data
        while (end := self._inbuf.find(0)) >= 0:
            raw, self._inbuf = bytes(self._inbuf[:end]), self._inbuf[end + 1:]
            if raw:
                f = decode(raw)
                self._free_at = max(self._free_at, time.monotonic()) + DELAY
                self._out.append((self._free_at, encode(Frame(f.seq, f.type | REPLY, b"ok")) + b"\x00"))
        return len(data)

    def _due(self) -> bytes:
        now = time.monotonic()
        due = b"".join(b for t, b in self._out if t <= now)
        self._out = [(t, b) for t, b in self._out if t > now]
        return due

    @property
    def in_waiting(self) -> int:
        return sum(len(b) for t, b in self._out if t <= time.monotonic())

    def read(self, n: int = 1) -> bytes:
        data = self._due()
        if not data:
            time.sleep(self.timeout)
        return data

    def reset_input_buffer(self) -> None:
        self._due()

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


def test_replies_later_than_the_wait_are_taken_and_the_wait_follows_the_device():
    link = Link(SlowDevicePort(), timeout=0.25)
    t0 = time.monotonic()
    for _ in range(4):
        assert link.request(0x01) == b"ok"
    assert time.monotonic() - t0 < 8 * DELAY, link.stats
    # the first request retried once or twice before its first attempt's reply came; the later ones
    # waited long enough for the device (and the backlog of those retries) without piling up more
    assert link.stats["retries"] <= 4, link.stats
