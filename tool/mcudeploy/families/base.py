"""What a board family plugin provides (one module per family, see ``families/__init__.py``).

    >>> fam = family_for("stm32l4")
    >>> fam.parse_pin("PB6"), fam.platformio_platform
    (Pin(port=1, pin=6), 'ststm32')

Why a record of data and small functions rather than a class hierarchy: the core (boards.py,
target/pyocd.py, target/qemu.py, pio.py) asks a family a handful of questions and never branches
on a vendor's name, so a new family is one module that fills this record in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Pin:
    """A pin as the family's UART port needs it: ``port`` (GPIO bank or Nordic's P0/P1) and ``pin``."""

    port: int
    pin: int
    name: str = field(default="", compare=False)


@dataclass(frozen=True)
class DeviceIds:
    """Where a part says what it is and how it is protected, for pyOCD's checks before flashing:
    ``dev_id`` is read at ``idcode_address`` (masked by ``id_mask``), the protection byte at
    ``protection_address`` >> ``protection_shift``; ``unprotected`` is the byte's open value."""

    idcode_address: int
    dev_id: int
    protection_address: int
    protection_shift: int
    id_mask: int = 0xFFF
    unprotected: int = 0xAA
    permanent: int | None = 0xCC  # the value of the irreversible level, if the family has one


@dataclass(frozen=True)
class Family:
    """One board family: its firmware folders (``firmware_template/board/<folder>/``) and the
    vendor facts the host needs about them."""

    name: str
    folders: tuple[str, ...]
    pin_example: str
    parse_pin: Callable[[str], Pin | None]
    pins_required: bool = True        # False: the UART's pins are fixed (no tx/rx in the board file)
    platformio_platform: str | None = None
    upload_protocol: str | None = None
    device_ids: dict[str, DeviceIds] = field(default_factory=dict)  # keyed by MCU name prefix
    unlock_hint: str = ""
    qemu_trace: tuple[str, ...] = ()  # QEMU trace events check_emulator_log reads
    check_emulator_log: Callable[[object, str], str | None] | None = None

    def ids_of(self, mcu: str) -> DeviceIds | None:
        """The id/protection registers of ``mcu`` (None: the family's table does not know it)."""
        return next((v for k, v in self.device_ids.items() if mcu.upper().startswith(k)), None)
