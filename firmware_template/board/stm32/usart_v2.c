/* USART with ISR/RDR/TDR registers (STM32F0/F3/F7/G0/L0/L4/H7): polled, 8N1, no interrupts. */
#include "port.h"

#define USART_CR1(b) (*(volatile uint32_t *)((b) + 0x00u))
#define USART_CR3(b) (*(volatile uint32_t *)((b) + 0x08u))
#define USART_BRR(b) (*(volatile uint32_t *)((b) + 0x0Cu))
#define USART_ISR(b) (*(volatile uint32_t *)((b) + 0x1Cu))
#define USART_RDR(b) (*(volatile uint32_t *)((b) + 0x24u))
#define USART_TDR(b) (*(volatile uint32_t *)((b) + 0x28u))
#define CR1_UE    (1u << 0)
#define CR1_RE    (1u << 2)
#define CR1_TE    (1u << 3)
#define CR3_OVRDIS (1u << 12)
#define ISR_RXNE  (1u << 5)
#define ISR_TXE   (1u << 7)

static uint32_t usart;

void uart_init(uint32_t base, uint32_t kernel_clock_hz, uint32_t baud)
{
    usart = base;
    USART_CR1(base) = 0;
    /* With overrun detection on, one missed byte would block reception until ORE is cleared;
     * off, a lost byte only costs a CRC error and a retry. */
    USART_CR3(base) = CR3_OVRDIS;
    USART_BRR(base) = (kernel_clock_hz + baud / 2u) / baud;  /* oversampling by 16 */
    USART_CR1(base) = CR1_UE | CR1_TE | CR1_RE;
}

void uart_putc(uint8_t c)
{
    while (!(USART_ISR(usart) & ISR_TXE)) {
    }
    USART_TDR(usart) = c;
}

uint8_t uart_getc(void)
{
    while (!(USART_ISR(usart) & ISR_RXNE)) {
#ifdef MCD_EMU_RX_WFI
        port_rx_idle(usart);
#endif
    }
    return (uint8_t)USART_RDR(usart);
}
