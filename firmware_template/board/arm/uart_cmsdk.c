/* Arm CMSDK APB UART (MPS2/MPS3 FPGA images, Corstone SSE subsystems): polled, 8N1.
 *
 * Five registers: DATA, STATE (TX full / RX full), CTRL (TX / RX enable), INTSTATUS and
 * BAUDDIV, the whole-number ratio of the APB clock to the baud rate (at least 16).
 */
#include "port.h"

#define UART_DATA(b)    (*(volatile uint32_t *)((b) + 0x00u))
#define UART_STATE(b)   (*(volatile uint32_t *)((b) + 0x04u))
#define UART_CTRL(b)    (*(volatile uint32_t *)((b) + 0x08u))
#define UART_BAUDDIV(b) (*(volatile uint32_t *)((b) + 0x10u))
#define STATE_TXFULL (1u << 0)
#define STATE_RXFULL (1u << 1)
#define CTRL_TXEN    (1u << 0)
#define CTRL_RXEN    (1u << 1)

static uint32_t uart;

void uart_init(uint32_t base, uint32_t kernel_clock_hz, uint32_t baud)
{
    uint32_t div = (kernel_clock_hz + baud / 2u) / baud;

    uart = base;
    UART_CTRL(base) = 0;
    UART_BAUDDIV(base) = div < 16u ? 16u : div;
    UART_CTRL(base) = CTRL_TXEN | CTRL_RXEN;
}

void uart_putc(uint8_t c)
{
    while (UART_STATE(uart) & STATE_TXFULL) {
    }
    UART_DATA(uart) = c;
}

uint8_t uart_getc(void)
{
    while (!(UART_STATE(uart) & STATE_RXFULL)) {
    }
    return (uint8_t)UART_DATA(uart);
}
