"""Nordic nRF51/nRF52: pins are P<port>.<n> (P0.24), routed to the UART by PSELTXD/PSELRXD.

The id and protection checks pyOCD would need (FICR.CONFIGID, UICR.RBPCONF / APPROTECT) are not
in the table yet: a board of this family flashes without them (target/pyocd.py says so).
"""

from __future__ import annotations

import re

from .base import Family, Pin

_PIN = re.compile(r"^P([01])\.(\d{1,2})$")


def parse_pin(text: str) -> Pin | None:
    m = _PIN.match(text)
    if not m or int(m.group(2)) > 31:
        return None
    return Pin(int(m.group(1)), int(m.group(2)), text)


FAMILY = Family(name="nrf5", folders=("nrf51",), pin_example="P0.24", parse_pin=parse_pin,
                platformio_platform="nordicnrf51", upload_protocol="cmsis-dap")
