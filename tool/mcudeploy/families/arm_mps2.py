"""Arm MPS2 FPGA images (AN385/AN386/AN500, and the TrustZone AN505/AN521): emulated only.

The CMSDK UARTs have fixed pins (no tx/rx in the board file) and the FPGA clock is fixed, so
there is nothing vendor-specific to check; no pyOCD ids (the MPS2 is flashed from its SD card)
and no PlatformIO platform.
"""

from __future__ import annotations

from .base import Family


def _no_pin(text: str) -> None:
    return None


FAMILY = Family(name="arm-mps2", folders=("mps2", "mps2tz"), pin_example="(none: fixed pins)",
                parse_pin=_no_pin, pins_required=False)
