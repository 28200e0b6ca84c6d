/* USART with SR/DR registers (STM32F1/F2/F4): polled, 8N1, no interrupts.
 *
 * Polling keeps the firmware deterministic under QEMU: nothing runs between protocol frames
 * except this loop, and nothing interrupts an inference except the counter's own SysTick wrap.
 */
#include "port.h"

#ifdef MCD_EMULATED
#include "cm_regs.h"
#endif

#define USART_SR(b)  (*(volatile uint32_t *)((b) + 0x00u))
#define USART_DR(b)  (*(volatile uint32_t *)((b) + 0x04u))
#define USART_BRR(b) (*(volatile uint32_t *)((b) + 0x08u))
#define USART_CR1(b) (*(volatile uint32_t *)((b) + 0x0Cu))
#define SR_RXNE (1u << 5)
#define SR_TXE  (1u << 7)
#define CR1_RE  (1u << 2)
#define CR1_TE  (1u << 3)
#define CR1_UE  (1u << 13)
#define CR1_RXNEIE (1u << 5)

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
#ifndef MCD_EMULATED /* QEMU's USART sends at once and never clears TXE: one register access less */
    while (!(USART_SR(usart) & SR_TXE)) {
    }
#endif
    USART_DR(usart) = c;
}

#ifdef MCD_EMULATED
/* Under QEMU a polling loop keeps the emulator's CPU thread busy, and every byte the host sends
 * must then win a core from it to be delivered (the USART holds one byte): ~0.1 ms a byte on a
 * loaded machine. So the emulated firmware sleeps instead: WFI with PRIMASK set (the NVIC still
 * wakes it, no handler runs) and SysTick stopped (with `-icount sleep=off` a pending timer would
 * end every WFI at once). The counter only measures inferences, never a wait for input, so
 * pausing it here changes no count. */
#define NVIC_ISER(n) MCD_REG(0xE000E100u + 4u * (n))
#define NVIC_ICER(n) MCD_REG(0xE000E180u + 4u * (n))
#define NVIC_ICPR(n) MCD_REG(0xE000E280u + 4u * (n))

static int usart_irq(uint32_t base) /* STM32F4 vector numbers of the USARTs */
{
    switch (base) {
    case 0x40011000u: return 37; /* USART1 */
    case 0x40004400u: return 38; /* USART2 */
    case 0x40004800u: return 39; /* USART3 */
    case 0x40004C00u: return 52; /* UART4 */
    case 0x40005000u: return 53; /* UART5 */
    case 0x40011400u: return 71; /* USART6 */
    default: return -1;
    }
}

static void sleep_until_rx(void)
{
    const int irq = usart_irq(usart);
    uint32_t systick;
    if (irq < 0 || (USART_SR(usart) & SR_RXNE)) return;
    systick = SYST_CSR & (SYST_CSR_ENABLE | SYST_CSR_TICKINT | SYST_CSR_CLKSOURCE);
    mcd_irq_disable();
    SYST_CSR = systick & ~SYST_CSR_ENABLE;
    NVIC_ICPR(irq / 32) = 1u << (irq % 32);
    NVIC_ISER(irq / 32) = 1u << (irq % 32);
    USART_CR1(usart) |= CR1_RXNEIE;
    while (!(USART_SR(usart) & SR_RXNE)) __asm volatile("wfi" ::: "memory");
    USART_CR1(usart) &= ~CR1_RXNEIE;
    NVIC_ICER(irq / 32) = 1u << (irq % 32); /* never taken: the vector table has no USART entry */
    NVIC_ICPR(irq / 32) = 1u << (irq % 32);
    SYST_CSR = systick;
    mcd_irq_enable();
}
#endif

uint8_t uart_getc(void)
{
#ifdef MCD_EMULATED
    sleep_until_rx();
#endif
    /* Reading SR then DR also clears an overrun (ORE): a lost byte shows up as a CRC error. */
    while (!(USART_SR(usart) & SR_RXNE)) {
    }
    return (uint8_t)USART_DR(usart);
}
