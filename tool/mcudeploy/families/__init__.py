"""Board families as plugins: one module per family, found by the firmware folder it serves.

    >>> from mcudeploy.families import family_for
    >>> family_for("stm32f4").name, family_for("mps2").name
    ('stm32', 'arm-mps2')

A board file's ``family`` names a folder ``firmware_template/board/<family>/`` (port.c,
family.cmake, optional linker.ld.in); the module here that lists that folder in ``folders``
answers the host's vendor questions (pin syntax, pyOCD ids and read protection, PlatformIO
platform, what QEMU's trace of the machine must show). Adding a family is one folder there and
one module here, added to ``_MODULES``; see docs/adding-a-board.md.
"""

from __future__ import annotations

from importlib import import_module

from .base import DeviceIds, Family, Pin

_MODULES = ("stm32", "arm_mps2", "nrf5")


def families() -> list[Family]:
    """Every known family, in ``_MODULES`` order."""
    return [import_module(f"{__name__}.{m}").FAMILY for m in _MODULES]


def family_for(folder: str) -> Family | None:
    """The family serving ``firmware_template/board/<folder>/``, or None if no module lists it."""
    return next((f for f in families() if folder in f.folders), None)


__all__ = ["DeviceIds", "Family", "Pin", "families", "family_for"]
