/* STM32L4 (L475/L476/L486) clocks and UART, register level.
 *
 * HSI16 / M=1 feeds the PLL 16 MHz (VCO input range 4..16 MHz); N = clock * 2 / 16 MHz and
 * R = 2 give MCD_CLOCK_HZ for any multiple of 8 MHz up to 80 MHz (VCO 64..344 MHz). Voltage
 * range 1 is the reset state, where 80 MHz needs 4 flash wait states (one per 16 MHz). AHB, APB1
 * and APB2 all run at the core clock (the L4 allows 80 MHz on both APBs), and USART1..3's kernel
 * clock is PCLK after reset (CCIPR = 0), so the UART divides MCD_CLOCK_HZ.
 *
 * Every step waits on its ready flag, also under QEMU: QEMU 10's b-l475e-iot01a models this RCC
 * (PLLRDY, SWS and the clock each peripheral sees), so port_wait only skips waits on machines
 * without one (see port.h). The flash interface is not modelled there (its registers read 0), so
 * the latency read-back is the one wait left to silicon. MCD_CLOCK_BUG plants one clock mistake for tests/test_clock_bugs.py:
 *   1  USART1's clock is never enabled (APB2ENR.USART1EN stays 0)
 *   2  SYSCLK switched to the PLL before PLLON (the PLL is not running, let alone locked)
 *   3  BRR computed for the MSI's 4 MHz reset clock instead of the PLL's
 */
#include "cm_regs.h"
#include "gpio.h"            /* board/stm32/ */
#include "port.h"

#define RCC_BASE     0x40021000u
#define RCC_CR       MCD_REG(RCC_BASE + 0x00u)
#define RCC_CFGR     MCD_REG(RCC_BASE + 0x08u)
#define RCC_PLLCFGR  MCD_REG(RCC_BASE + 0x0Cu)
#define RCC_AHB2ENR  MCD_REG(RCC_BASE + 0x4Cu)
#define RCC_APB1ENR1 MCD_REG(RCC_BASE + 0x58u)
#define RCC_APB2ENR  MCD_REG(RCC_BASE + 0x60u)
#define FLASH_ACR    MCD_REG(0x40022000u)
#define GPIO_BASE(port) (0x48000000u + 0x400u * (port))

#define CR_HSION   (1u << 8)
#define CR_HSIRDY  (1u << 10)
#define CR_PLLON   (1u << 24)
#define CR_PLLRDY  (1u << 25)
#define CFGR_SW_PLL   3u
#define CFGR_SWS_MASK (3u << 2)
#define CFGR_SWS_PLL  (3u << 2)

#if MCD_CLOCK_HZ % 8000000u != 0u || MCD_CLOCK_HZ < 32000000u || MCD_CLOCK_HZ > 80000000u
#error "STM32L4 port: clock_hz must be a multiple of 8 MHz in 32..80 MHz (PLL from HSI16, R = 2)"
#endif
#define PLL_N (MCD_CLOCK_HZ / 8000000u)
#define FLASH_WS ((MCD_CLOCK_HZ - 1u) / 16000000u)

#ifndef MCD_CLOCK_BUG
#define MCD_CLOCK_BUG 0
#endif

static void clock_init(void)
{
    RCC_CR |= CR_HSION;
    port_wait(&RCC_CR, CR_HSIRDY, CR_HSIRDY);
    /* Wait states before the clock rises; prefetch, instruction and data caches on. */
    FLASH_ACR = (FLASH_ACR & ~7u) | FLASH_WS | (1u << 8) | (1u << 9) | (1u << 10);
#ifndef MCD_EMULATED
    /* QEMU 10 has no model of the flash interface (FLASH_ACR reads 0): wait on silicon only,
     * so a wrong latency is not something the emulated run can catch. */
    port_wait(&FLASH_ACR, 7u, FLASH_WS);
#endif
    /* PLLSRC = HSI16 (2), M = 1 (0), N, R = 2 (0) with its output enabled (PLLREN) */
    RCC_PLLCFGR = 2u | (0u << 4) | (PLL_N << 8) | (1u << 24) | (0u << 25);
#if MCD_CLOCK_BUG == 2
    RCC_CFGR = (RCC_CFGR & ~3u) | CFGR_SW_PLL;       /* planted: before the PLL runs */
#endif
    RCC_CR |= CR_PLLON;
    port_wait(&RCC_CR, CR_PLLRDY, CR_PLLRDY);
    RCC_CFGR = (RCC_CFGR & ~((0xFu << 4) | (0x3Fu << 8))) | CFGR_SW_PLL;   /* AHB, APB1, APB2 /1 */
    port_wait(&RCC_CFGR, CFGR_SWS_MASK, CFGR_SWS_PLL);
}

/* USART1 sits on APB2, USART2 and 3 on APB1. */
static uint32_t uart_enable(uint32_t instance)
{
    switch (instance) {
    case 1:
#if MCD_CLOCK_BUG != 1
        RCC_APB2ENR |= 1u << 14;
#endif
        return 0x40013800u;
    case 3: RCC_APB1ENR1 |= 1u << 18; return 0x40004800u;
    default: RCC_APB1ENR1 |= 1u << 17; return 0x40004400u;   /* USART2 */
    }
}

void port_init(void)
{
    uint32_t base;

    clock_init();
    RCC_AHB2ENR |= (1u << MCD_UART_TX_PORT) | (1u << MCD_UART_RX_PORT);
    (void)RCC_AHB2ENR;                                /* a read-back: the clock is on */
    gpio_set_af(GPIO_BASE(MCD_UART_TX_PORT), MCD_UART_TX_PIN, MCD_UART_AF);
    gpio_set_af(GPIO_BASE(MCD_UART_RX_PORT), MCD_UART_RX_PIN, MCD_UART_AF);
    base = uart_enable(MCD_UART_INSTANCE);
    (void)RCC_APB1ENR1;
    (void)RCC_APB2ENR;
#if MCD_CLOCK_BUG == 3
    uart_init(base, 4000000u, MCD_UART_BAUD);         /* planted: the MSI reset clock */
#else
    uart_init(base, MCD_CLOCK_HZ, MCD_UART_BAUD);
#endif
}

#ifdef MCD_EMU_RX_WFI
/* QEMU 10's L4 USART model does not tell QEMU's I/O loop when RDR has been read (no
 * qemu_chr_fe_accept_input), so a CPU spinning on RXNE under -icount never gets the next byte:
 * that loop only looks at the socket again when something wakes it. A CPU asleep in WFI does:
 * QEMU arms a host-time timer to warp the virtual clock (-icount sleep=on), its main loop runs,
 * takes the byte, and the USART interrupt wakes the CPU. Only while waiting for the host, so
 * no measured instruction changes. The handler masks RXNEIE again (the byte stays in RDR).
 * The 16-entry core vector table has no slot for IRQ 37, hence a RAM copy with one. */
#define USART1_IRQ 37u
#define NVIC_ISER(n) MCD_REG(0xE000E100u + 4u * (n))
#define USART_CR1(b) MCD_REG((b) + 0x00u)
#define USART_ISR(b) MCD_REG((b) + 0x1Cu)
extern const uint32_t mcd_vectors[];
static uint32_t ram_vectors[16u + 64u] __attribute__((aligned(512)));
static uint32_t rx_uart;

static void usart_rx_irq(void)
{
    USART_CR1(rx_uart) &= ~(1u << 5);                 /* RXNEIE off: the line drops */
}

void port_rx_idle(uint32_t uart_base)
{
    if (rx_uart == 0u) {
        uint32_t i;
        for (i = 0; i < 16u; i++) ram_vectors[i] = mcd_vectors[i];
        ram_vectors[16u + USART1_IRQ] = (uint32_t)usart_rx_irq;
        SCB_VTOR = (uint32_t)ram_vectors;
        mcd_dsb_isb();
        rx_uart = uart_base;
        NVIC_ISER(USART1_IRQ / 32u) = 1u << (USART1_IRQ % 32u);
    }
    USART_CR1(uart_base) |= 1u << 5;                  /* RXNEIE */
    if (!(USART_ISR(uart_base) & (1u << 5))) {
        __asm volatile("wfi");
    }
}
#endif

uint32_t port_clock_hz(void)
{
    return MCD_CLOCK_HZ;
}
