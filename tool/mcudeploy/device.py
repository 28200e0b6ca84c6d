"""A running device for a compiled project: build, start or flash, connect, check the model.

    >>> from mcudeploy.device import open_device
    >>> with open_device("out/lenet", "nucleo-f446re", emulate=True) as dev:
    ...     dev.info().counter                                # 'emulated_instructions'
    ...     r = dev.infer(x_q_hwc.tobytes())                  # int8 input in device (HWC) layout
    ...     r.output, r.total_count, r.layer_counts, r.counter
    ...     dev.build.flash_bytes, dev.layer_names()

This is the one place that knows the order of things (build -> target -> link -> hash check);
validate, profile and demo only ever hold a ``Device``. The model hash the firmware reports must
equal the project's ``MCD_MODEL_HASH`` (engine/model.h): a board still running an older model is
caught here, not as a puzzling accuracy drop later.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .boards import Board, load_board, with_baud
from .build import BuildResult, build
from .errors import LinkError, TargetError
from .link.protocol import InferResult, Info, Link
from .target import AttachedTarget, PyocdTarget, QemuTarget, Target, builds_emulated, is_virtual, open_target
from .target.locks import port_lock


class Device:
    """A connected board (or emulator) running a project's firmware."""

    def __init__(self, board: Board, target: Target, link: Link, build_result: BuildResult):
        self.board, self.target, self.link, self.build = board, target, link, build_result
        self._info: Info | None = None

    @property
    def emulated(self) -> bool:
        """Not silicon: QEMU's image, or the silicon image on the virtual board."""
        return self.build.emulated or self.virtual

    @property
    def virtual(self) -> bool:
        """The virtual board (target/virtual/): its "dwt_cycles" come from the timing model."""
        return type(self.target).__name__ == "VirtualTarget"

    def _label(self, counter: str) -> str:
        return "estimated_dwt_cycles" if self.virtual and counter == "dwt_cycles" else counter

    def info(self, refresh: bool = False) -> Info:
        """The firmware's self-description; ``refresh`` re-reads it (e.g. for the stack high-water)."""
        if refresh or self._info is None:
            info = self.link.info()
            self._info = dataclasses.replace(info, counter=self._label(info.counter))
        return self._info

    def infer(self, input_bytes: bytes) -> InferResult:
        """Run one inference on ``input_bytes`` (int8, device layout); counts in ``result.counter``."""
        try:
            r = self.link.infer(bytes(input_bytes))
        except LinkError as exc:
            failure = self.target.failure() if self.virtual else None  # a rule broken mid-run: say which
            if failure:
                raise LinkError(f"{exc}; the virtual board stopped: {failure}") from None
            raise
        return dataclasses.replace(r, counter=self._label(r.counter)) if self.virtual else r

    def layer_names(self) -> list[str]:
        return self.link.layer_names()

    def layer_crcs(self, input_crc: int | None = None) -> list[int]:
        """CRC-32 of each layer's output for the input last sent (see Link.layer_crcs)."""
        return self.link.layer_crcs(input_crc)

    def layer_output(self, layer: int, nbytes: int) -> bytes:
        return self.link.layer_output(layer, nbytes)

    def calibrate(self, iterations: int) -> int:
        """Count of ``iterations`` x a 2-instruction loop: exactly 2 per iteration under QEMU."""
        return self.link.calibrate(iterations)

    def reset(self) -> None:
        """Reset the board and reconnect (the input buffer and stack high-water start afresh)."""
        opts = {"timeout": self.link.timeout, "retries": self.link.retries,
                "reconnect_timeout": self.link.reconnect_timeout}
        self.link.close()
        self.target.reset()
        self.link = _connect(self.target, self.board, **opts)
        self._info = None


def model_hash(project_dir: str | Path) -> int:
    """MCD_MODEL_HASH from the project's engine/model.h (the contract of docs/contracts.md)."""
    text = (Path(project_dir) / "engine" / "model.h").read_text()
    m = re.search(r"#define\s+MCD_MODEL_HASH\s+\(?\s*(0x[0-9a-fA-F]+|\d+)[uU]?", text)
    if not m:
        raise TargetError(f"{project_dir}/engine/model.h defines no MCD_MODEL_HASH")
    return int(m.group(1), 0)


@contextmanager
def open_device(project_dir: str | Path, board: str | Board, emulate: bool = True, port: str | None = None,
                probe: str | None = None, jobs: int = 2, baud: int | None = None, keep_running: bool = False,
                **link_options) -> Iterator[Device]:
    """Build (if needed), start QEMU or flash the board, connect, and check the model hash.

    ``port`` overrides the serial port of a real board, or, as a URL (``socket://``,
    ``rfc2217://``), attaches to a board that already runs (nothing is started or flashed; the
    build, made or reused for the kind of board that answers, gives the sizes). ``probe`` picks a
    probe by unique id; ``baud`` rebuilds the firmware for another rate; ``keep_running`` leaves
    the emulator running on exit; ``link_options`` go to ``Link`` (retries, timeout, reconnect_timeout).
    The board's port is locked while the device is open (target/locks.py): a second command on the
    same port is refused at once instead of stealing replies.
    """
    b = with_baud(board if isinstance(board, Board) else load_board(board), baud)
    expected = model_hash(project_dir)
    target = open_target(b, emulate=emulate, port=port, probe=probe)
    attached = isinstance(target, AttachedTarget)
    if isinstance(target, PyocdTarget):
        target.check_probe()  # no board attached: say so now, not after a minute-long build
    with contextlib.ExitStack() as held:
        if not isinstance(target, QemuTarget) and not is_virtual(emulate):  # an emulator of its own: own port
            held.enter_context(port_lock(target.uart_url))  # busy: say so now, not after the link gives up
        with _started(project_dir, b, target, attached, emulate, jobs, expected, keep_running,
                      link_options) as dev:
            yield dev


@contextmanager
def _started(project_dir, b: Board, target: Target, attached: bool, emulate: bool, jobs: int, expected: int,
             keep_running: bool, link_options: dict) -> Iterator[Device]:
    result = None if attached else build(project_dir, b, emulate=builds_emulated(emulate), jobs=jobs)
    link = None
    try:
        if result is not None:
            target.start(result.elf)
        link = _connect(target, b, **link_options)
        info = link.info()
        if isinstance(target, QemuTarget):
            target.check_clocks()  # the family's reading of QEMU's clock model (families/stm32.py)
        if result is None:
            result = build(project_dir, b, emulate=info.emulated, jobs=jobs)
        if info.model_hash != expected:
            if attached:
                raise TargetError(f"{b.name} on {target.uart_url} runs model {info.model_hash:#010x} but "
                                  f"{project_dir} is {expected:#010x}: it runs another project's firmware; flash "
                                  f"this one (`mcudeploy flash {project_dir} --board {b.name}`, with --emulate "
                                  "--detach for an emulator) and give its port")
            raise TargetError(f"{b.name} runs model {info.model_hash:#010x} but {project_dir} is "
                              f"{expected:#010x}: the firmware was not (re)flashed")
        dev = Device(b, target, link, result)
        if is_virtual(emulate):
            info = dataclasses.replace(info, counter=dev._label(info.counter))
        dev._info = info
        yield dev
        link = dev.link  # reset() may have replaced it
    finally:
        if link is not None:
            link.close()
        if not keep_running:
            target.stop()


def _connect(target: Target, board: Board, attempts: int = 3, **link_options) -> Link:
    """Open the link and wait for the firmware to answer (it may still be booting; the Link's own
    retries cover that, so only opening the port is repeated: a VCP reappears after flashing)."""
    last: Exception | None = None
    for i in range(attempts):
        try:
            link = Link.open(target.uart_url, baudrate=board.uart.baud, **link_options)
            break
        except LinkError as exc:
            last = exc
            time.sleep(0.5 * (i + 1))
    else:
        raise LinkError(f"cannot open {board.name}'s port {target.uart_url}: {last}; {_port_hint(target)}")
    try:
        link.info()
    except LinkError as exc:
        link.close()
        raise LinkError(f"{board.name} does not answer on {target.uart_url}: {exc}; {_port_hint(target)}") from None
    return link


def _port_hint(target: Target) -> str:
    """What to check when a port cannot be opened or stays silent."""
    if isinstance(target, AttachedTarget):
        return ("check that the emulator or board behind it still runs (a detached emulator: `mcudeploy flash "
                "PROJECT --emulate --detach` starts a new one and prints its URL)")
    failure = getattr(target, "failure", None)
    if failure is not None and failure():
        return f"the virtual board stopped: {failure()}"
    if isinstance(target, QemuTarget):
        return "the emulated firmware is not answering: build it again (`mcudeploy build PROJECT --emulate`) and retry"
    return "check the board is plugged in and which port it has (`mcudeploy devices`), or pass --port"
