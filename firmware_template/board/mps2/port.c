/* Arm MPS2 FPGA images with the non-TrustZone map (AN385 M3, AN386 M4, AN500 M7).
 *
 * The FPGA's clock is fixed (no PLL, no flash wait states: code runs from ZBT SSRAM), so bring-up
 * is only the UART: UART0..4 on the APB at 0x40004000 + 0x1000 * n, clocked at the core clock.
 */
#include "port.h"

#define UART_BASE(n) (0x40004000u + 0x1000u * (n))

void port_init(void)
{
    uart_init(UART_BASE(MCD_UART_INSTANCE), MCD_CLOCK_HZ, MCD_UART_BAUD);
}

uint32_t port_clock_hz(void)
{
    return MCD_CLOCK_HZ;
}
