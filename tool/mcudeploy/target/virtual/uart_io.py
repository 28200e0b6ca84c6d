"""The byte streams behind the virtual board's USART: a TCP socket (the board as `validate` sees
it) or an in-memory script (tests).

    >>> io = SocketUart(port)               # serves socket://127.0.0.1:PORT, one client at a time
    >>> io = ScriptUart(b"bytes to send")   # stops the run once the firmware waits for more

Both spare the CPU while the firmware only polls: after SPIN_POLLS status reads in a row with no
data (the firmware's receive loop; a transmit loop reads SR once and then writes DR), the output
gathered so far is flushed and the board waits on the socket instead of emulating the poll loop.
"""

from __future__ import annotations

import select
import socket
import sys
from abc import ABC, abstractmethod

SPIN_POLLS = 32


class Stop(Exception):
    """Ends a run on purpose (the script ran out, the server is told to stop)."""


class _Base(ABC):
    """The USART's two byte queues; a subclass says what ``idle`` does when the firmware polls for
    input that is not there (wait on the socket, or stop the run)."""

    def __init__(self):
        self.rx, self.tx = bytearray(), bytearray()
        self.spins = 0

    def note_access(self) -> None:
        self.spins = 0

    def rx_byte(self) -> int:
        b = self.rx[0]
        del self.rx[0]
        return b

    def tx_byte(self, b: int) -> None:
        self.tx.append(b)

    def rx_ready(self, board, poll: bool = True) -> bool:
        if self.rx:
            return True
        if not poll:
            return False
        self.spins += 1
        if self.spins >= SPIN_POLLS:
            self.spins = 0
            self.idle(board)
        return bool(self.rx)

    @abstractmethod
    def idle(self, board) -> None:
        """The firmware polls for input that is not there: get some, or raise ``Stop``."""


class ScriptUart(_Base):
    """Feeds ``script`` to the firmware; the run stops (``Stop``) when the firmware waits for more."""

    def __init__(self, script: bytes = b""):
        super().__init__()
        self.rx += script
        self.idles = 0

    def idle(self, board) -> None:
        self.idles += 1
        raise Stop("the firmware waits for input")


class SocketUart(_Base):
    """A TCP server on 127.0.0.1:``port``; bytes the firmware sends with no client are dropped
    (as QEMU's ``wait=off`` socket does). ``on_ready`` runs once, the first time the firmware
    waits for input: boot, and with it the clock bring-up, is over."""

    def __init__(self, port: int, on_ready=None):
        super().__init__()
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", port))
        self.server.listen(1)
        self.client: socket.socket | None = None
        self.on_ready = on_ready

    def tx_byte(self, b: int) -> None:
        self.tx.append(b)
        if len(self.tx) >= 4096:
            self._flush()

    def _flush(self) -> None:
        if self.tx and self.client is not None:
            try:
                self.client.sendall(self.tx)
            except OSError:
                self._drop()
        self.tx.clear()

    def _drop(self) -> None:
        if self.client is not None:
            self.client.close()
        self.client = None

    def idle(self, board) -> None:
        if self.on_ready is not None:
            self.on_ready()
            self.on_ready = None
        self._flush()
        if self.client is None:
            r, _, _ = select.select([self.server], [], [], 0.5)
            if r:
                self.client, _ = self.server.accept()
                self.client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return
        r, _, _ = select.select([self.client], [], [], 0.5)
        if r:
            try:
                data = self.client.recv(65536)
            except OSError:
                data = b""
            if data:
                self.rx += data
            else:
                self._drop()

    def close(self) -> None:
        self._flush()
        self._drop()
        self.server.close()


def log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
