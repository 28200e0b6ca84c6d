"""ST STM32 (F4, F7, G0, L4): GPIO bank pins, the DBGMCU id and RDP option byte, and for the
L4 the clock check QEMU 10's RCC model makes possible.

Why a clock check here: the b-l475e-iot01a machine derives every peripheral clock from the RCC
registers the firmware programs, and logs (trace event ``stm32l4x5_usart_update_params``) the
baud rate its USART would produce from its kernel clock and BRR. A TCP socket ignores that rate,
so a wrong clock tree still "works" under QEMU; this check turns the traced rate into a failure
when it is not the board's baud rate (within 2 %, what a UART receiver tolerates).
"""

from __future__ import annotations

import re

from .base import DeviceIds, Family, Pin

_PIN = re.compile(r"^P([A-K])(\d{1,2})$")


def parse_pin(text: str) -> Pin | None:
    m = _PIN.match(text)
    if not m or int(m.group(2)) > 15:
        return None
    return Pin(ord(m.group(1)) - ord("A"), int(m.group(2)), text)


# Reference manuals: RM0390 (F446), RM0385 (F74x/75x), RM0444 (G0x1), RM0351 (L47x/L48x).
# DBGMCU_IDCODE.DEV_ID and the RDP byte: FLASH_OPTCR[15:8] (F4/F7), FLASH_OPTR[7:0] (G0/L4).
DEVICE_IDS = {
    "STM32F446": DeviceIds(0xE0042000, 0x421, 0x40023C14, 8),
    "STM32F74": DeviceIds(0xE0042000, 0x449, 0x40023C14, 8),
    "STM32F75": DeviceIds(0xE0042000, 0x449, 0x40023C14, 8),
    "STM32G07": DeviceIds(0x40015800, 0x460, 0x40022020, 0),
    "STM32G08": DeviceIds(0x40015800, 0x460, 0x40022020, 0),
    "STM32L47": DeviceIds(0xE0042000, 0x415, 0x40022020, 0),
    "STM32L48": DeviceIds(0xE0042000, 0x415, 0x40022020, 0),
}

_USART_TRACE = "stm32l4x5_usart_update_params"
_SPEED = re.compile(_USART_TRACE + r".*?speed: (\d+)")


def check_usart_rate(board, log: str) -> str | None:
    """None if the last USART rate QEMU derived from the modelled clocks is the board's baud rate."""
    rates = [int(m.group(1)) for m in _SPEED.finditer(log)]
    if not rates:
        return (f"QEMU traced no USART set-up for {board.name} (trace event {_USART_TRACE}): the firmware "
                "never programmed its USART's BRR and CR1")
    got, want = rates[-1], board.uart.baud
    if abs(got - want) > 0.02 * want:
        return (f"{board.name}'s USART{board.uart.instance} runs at {got} baud from the clocks QEMU models, "
                f"not {want}: its kernel clock or BRR is wrong (firmware_template/board/{board.family}/port.c)")
    return None


FAMILY = Family(
    name="stm32", folders=("stm32f4", "stm32f7", "stm32g0", "stm32l4"), pin_example="PA2",
    parse_pin=parse_pin, platformio_platform="ststm32", upload_protocol="stlink",
    device_ids=DEVICE_IDS,
    unlock_hint=("Level 1 can be removed by setting RDP back to 0xAA (this mass-erases the chip), e.g. with "
                 "STM32CubeProgrammer: `STM32_Programmer_CLI -c port=SWD mode=UR -ob RDP=0xAA`; level 2 is "
                 "permanent"),
    qemu_trace=(_USART_TRACE,), check_emulator_log=check_usart_rate)
