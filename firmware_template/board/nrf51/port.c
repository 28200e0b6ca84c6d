/* Nordic nRF51 (Cortex-M0 at 16 MHz): nothing to clock up.
 *
 * The core runs from the 16 MHz HFCLK from reset (the internal RC oscillator; the crystal only
 * improves accuracy, which a 115200 baud UART does not need), flash has no wait states to set,
 * and the UART needs no clock enable: one UART at 0x40002000, its pins routed by PSELTXD/PSELRXD
 * (the board's tx/rx pin numbers, P0.n).
 */
#include "port.h"

#define UART0_BASE 0x40002000u

void port_init(void)
{
    uart_init(UART0_BASE, MCD_CLOCK_HZ, MCD_UART_BAUD);
}

uint32_t port_clock_hz(void)
{
    return MCD_CLOCK_HZ;
}
