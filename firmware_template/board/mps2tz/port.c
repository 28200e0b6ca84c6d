/* Arm MPS2 TrustZone images (AN505: Cortex-M33 in an SSE-200 subsystem).
 *
 * The core resets in the Secure state and the firmware stays there: it is linked at the Secure
 * aliases (code 0x1000_0000, SRAM 0x3800_0000) and reaches UART0..4 through the Secure alias of
 * the APB, 0x5020_0000 + 0x1000 * n. After reset the memory and peripheral protection
 * controllers grant Secure access only, so the Non-secure aliases (0x4020_0000) would fault.
 * The FPGA clock is fixed: no PLL and no wait states to set.
 */
#include "port.h"

#define UART_BASE(n) (0x50200000u + 0x1000u * (n))

void port_init(void)
{
    uart_init(UART_BASE(MCD_UART_INSTANCE), MCD_CLOCK_HZ, MCD_UART_BAUD);
}

uint32_t port_clock_hz(void)
{
    return MCD_CLOCK_HZ;
}
