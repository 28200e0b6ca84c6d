/* USART with SR/DR registers (STM32F1/F2/F4): polled, 8N1, no interrupts.
 *
 * Polling keeps the firmware deterministic under QEMU: nothing runs between protocol frames
 * except this loop, and nothing interrupts an inference except the counter's own SysTick wrap.
 */
#include "port.h"

#define USART_SR(b)  (*(volatile uint32_t *)((b) + 0x00u))
#define USART_DR(b)  (*(volatile uint32_t *)((b) + 0x04u))
#define USART_BRR(b) (*(volatile uint32_t *)((b) + 0x08u))
#define USART_CR1(b) (*(volatile uint32_t *)((b) + 0x0Cu))
#define SR_RXNE (1u << 5)
#define SR_TXE  (1u << 7)
#define CR1_RE  (1u << 2)
#define CR1_TE  (1u << 3)
#define CR1_UE  (1u << 13)

static uint32_t usart;

void uart_init(uint32_t base, uint32_t kernel_clock_hz, uint32_t baud)
{
    usart = base;
    USART_CR1(base) = 0;
    /* Oversampling by 16: BRR = f / baud as a 12.4 fixed-point number, rounded to nearest. */
    USART_BRR(base) = (kernel_clock_hz + baud / 2u) / baud;
    USART_CR1(base) = CR1_UE | CR1_TE | CR1_RE;
}

void uart_putc(uint8_t c)
{
    while (!(USART_SR(usart) & SR_TXE)) {
    }
    USART_DR(usart) = c;
}

uint8_t uart_getc(void)
{
    /* Reading SR then DR also clears an overrun (ORE): a lost byte shows up as a CRC error. */
    while (!(USART_SR(usart) & SR_RXNE)) {
    }
    return (uint8_t)USART_DR(usart);
}
