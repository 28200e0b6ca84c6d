"""How large a ``set_input`` chunk to send, from what the line has lost so far.

    >>> sizer = ChunkSizer(largest=1020)
    >>> sizer.size()                       # a clean line: one frame as large as allowed
    1020
    >>> for i in range(30): sizer.observe(100, ok=i % 3 == 0)  # 1 exchange in 3 arrives whole
    >>> sizer.size()                       # a line damaging ~1% of bytes: small chunks
    48

A chunk of ``c`` bytes costs an exchange of about ``c + overhead`` bytes (request framing plus the
acknowledgement) and arrives whole with probability ``exp(-loss * (c + overhead))``, ``loss`` being
the per-byte rate of damage; each attempt also pays a fixed latency, taken as ``latency_bytes``
byte times (USB frame scheduling on a VCP, the emulator's I/O loop under QEMU). The chosen size
maximises input bytes delivered per byte time spent:

    goodput(c) = c * exp(-loss * (c + overhead)) / (latency_bytes + c + overhead)

``loss`` is estimated from exponentially weighted attempt outcomes: if a fraction ``s`` of
attempts of on average ``n`` bytes succeeded, ``loss = -ln(s) / n``. On a clean line the estimate
decays back to zero and the chunk back to a full frame.
"""

from __future__ import annotations

import math

SIZES = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768)


class ChunkSizer:
    def __init__(self, largest: int, overhead: int = 40, latency_bytes: int = 32, memory: float = 0.95):
        self.largest, self.overhead, self.latency_bytes, self.memory = largest, overhead, latency_bytes, memory
        self.attempts = 0.0  # exponentially weighted counts
        self.successes = 0.0
        self.bytes = 0.0

    def observe(self, nbytes: int, ok: bool) -> None:
        m = self.memory
        self.attempts = m * self.attempts + 1
        self.successes = m * self.successes + (1 if ok else 0)
        self.bytes = m * self.bytes + nbytes

    @property
    def loss(self) -> float:
        """Estimated fraction of bytes damaged (per byte, both directions of an exchange)."""
        if self.attempts == 0 or self.successes >= self.attempts:
            return 0.0
        mean_bytes = self.bytes / self.attempts
        if self.successes <= 0:
            return 1.0 / mean_bytes  # nothing got through yet: at least ~one error per attempt
        return -math.log(self.successes / self.attempts) / mean_bytes

    def size(self) -> int:
        loss = self.loss
        candidates = [c for c in SIZES if c < self.largest] + [self.largest]

        def goodput(c: int) -> float:
            n = c + self.overhead
            return c * math.exp(-loss * n) / (self.latency_bytes + n)

        return max(candidates, key=goodput)
