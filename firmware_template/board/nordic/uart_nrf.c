/* Nordic nRF51/nRF52 UART (the legacy, non-DMA one): polled, 8N1, no flow control.
 *
 * Tasks start the transmitter and receiver; each byte is handed over through TXD / RXD and
 * acknowledged by an event register the firmware clears (TXDRDY, RXDRDY). BAUDRATE takes
 * Nordic's encoded values (0x01D7E000 = 115200), not a divisor: uart_init maps the standard
 * rates and falls back to 115200 for others (the host refuses non-standard rates anyway).
 */
#include "port.h"

#define UART_REG(b, off) (*(volatile uint32_t *)((b) + (off)))
#define TASKS_STARTRX  0x000u
#define TASKS_STARTTX  0x008u
#define EVENTS_RXDRDY  0x108u
#define EVENTS_TXDRDY  0x11Cu
#define ENABLE         0x500u
#define PSELTXD        0x50Cu
#define PSELRXD        0x514u
#define RXD            0x518u
#define TXD            0x51Cu
#define BAUDRATE       0x524u

static uint32_t uart;

static uint32_t baud_code(uint32_t baud)
{
    switch (baud) {
    case 9600: return 0x00275000u;
    case 19200: return 0x004EA000u;
    case 38400: return 0x009D5000u;
    case 57600: return 0x00EBF000u;
    case 230400: return 0x03AFB000u;
    case 460800: return 0x075F7000u;
    case 921600: return 0x0EBEDFA4u;
    case 1000000: return 0x10000000u;
    default: return 0x01D7E000u;   /* 115200 */
    }
}

void uart_init(uint32_t base, uint32_t kernel_clock_hz, uint32_t baud)
{
    (void)kernel_clock_hz;   /* the UART has its own 16 MHz reference */
    uart = base;
    UART_REG(base, PSELTXD) = MCD_UART_TX_PIN;
    UART_REG(base, PSELRXD) = MCD_UART_RX_PIN;
    UART_REG(base, BAUDRATE) = baud_code(baud);
    UART_REG(base, ENABLE) = 4u;
    UART_REG(base, EVENTS_TXDRDY) = 0;
    UART_REG(base, EVENTS_RXDRDY) = 0;
    UART_REG(base, TASKS_STARTTX) = 1u;
    UART_REG(base, TASKS_STARTRX) = 1u;
}

void uart_putc(uint8_t c)
{
    UART_REG(uart, TXD) = c;
    while (UART_REG(uart, EVENTS_TXDRDY) == 0u) {
    }
    UART_REG(uart, EVENTS_TXDRDY) = 0;
}

uint8_t uart_getc(void)
{
    while (UART_REG(uart, EVENTS_RXDRDY) == 0u) {
    }
    UART_REG(uart, EVENTS_RXDRDY) = 0;
    return (uint8_t)UART_REG(uart, RXD);
}
