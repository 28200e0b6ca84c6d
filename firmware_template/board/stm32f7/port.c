/* STM32F7 clocks, caches and UART, register level.
 *
 * HSI (16 MHz) / M=8 gives a 2 MHz PLL input; N = clock in MHz and P = 2 give MCD_CLOCK_HZ
 * (216 MHz: VCO 432 MHz, the top of its range). Above 180 MHz the core needs over-drive.
 * APB1 = clock/4 (max 54 MHz), APB2 = clock/2. The Cortex-M7 L1 caches are switched on: without
 * them every flash read of a weight costs the full wait states and the numbers mean little.
 */
#include "cm_regs.h"
#include "gpio.h"            /* board/stm32/ */
#include "port.h"

#define RCC_BASE     0x40023800u
#define RCC_CR       MCD_REG(RCC_BASE + 0x00u)
#define RCC_PLLCFGR  MCD_REG(RCC_BASE + 0x04u)
#define RCC_CFGR     MCD_REG(RCC_BASE + 0x08u)
#define RCC_AHB1ENR  MCD_REG(RCC_BASE + 0x30u)
#define RCC_APB1ENR  MCD_REG(RCC_BASE + 0x40u)
#define RCC_APB2ENR  MCD_REG(RCC_BASE + 0x44u)
#define PWR_CR1      MCD_REG(0x40007000u)
#define PWR_CSR1     MCD_REG(0x40007004u)
#define FLASH_ACR    MCD_REG(0x40023C00u)
#define GPIO_BASE(port) (0x40020000u + 0x400u * (port))

#define SCB_CCSIDR   MCD_REG(0xE000ED80u)
#define SCB_CSSELR   MCD_REG(0xE000ED84u)
#define SCB_ICIALLU  MCD_REG(0xE000EF50u)
#define SCB_DCISW    MCD_REG(0xE000EF60u)

#define PLL_M 8u
#define PLL_N (MCD_CLOCK_HZ / 1000000u)

static void caches_init(void)
{
    uint32_t ccsidr, sets, ways, way;

    SCB_ICIALLU = 0;                                 /* invalidate, then enable the I-cache */
    mcd_dsb_isb();
    SCB_CCR |= 1u << 17;
    mcd_dsb_isb();

    SCB_CSSELR = 0;                                  /* level 1 data cache geometry */
    mcd_dsb_isb();
    ccsidr = SCB_CCSIDR;
    sets = (ccsidr >> 13) & 0x7FFFu;
    ways = (ccsidr >> 3) & 0x3FFu;
    do {                                             /* 32-byte lines, 4 ways: set << 5, way << 30 */
        way = ways;
        do {
            SCB_DCISW = (sets << 5) | (way << 30);
        } while (way-- != 0u);
    } while (sets-- != 0u);
    mcd_dsb_isb();
    SCB_CCR |= 1u << 16;
    mcd_dsb_isb();
}

static void clock_init(void)
{
    RCC_APB1ENR |= 1u << 28;                         /* PWREN */
    (void)RCC_APB1ENR;                               /* a read-back: the clock is on */
    PWR_CR1 |= 3u << 14;                             /* VOS: scale 1 */
    RCC_PLLCFGR = PLL_M | (PLL_N << 6) | (0u << 16) | (9u << 24) | (2u << 28);
    RCC_CR |= 1u << 24;                              /* PLLON */
    port_wait(&RCC_CR, 1u << 25, 1u << 25);          /* PLLRDY */
#if MCD_CLOCK_HZ > 180000000u
    PWR_CR1 |= 1u << 16;                             /* ODEN */
    port_wait(&PWR_CSR1, 1u << 16, 1u << 16);
    PWR_CR1 |= 1u << 17;                             /* ODSWEN */
    port_wait(&PWR_CSR1, 1u << 17, 1u << 17);
#endif
    /* One wait state per 30 MHz at 2.7-3.6 V; prefetch and ART accelerator on. */
    FLASH_ACR = ((MCD_CLOCK_HZ - 1u) / 30000000u) | (1u << 8) | (1u << 9);
    RCC_CFGR = (5u << 10) | (4u << 13);              /* AHB /1, APB1 /4, APB2 /2 */
    RCC_CFGR |= 2u;                                  /* SW = PLL */
    port_wait(&RCC_CFGR, 3u << 2, 2u << 2);
}

static uint32_t uart_enable(uint32_t instance)
{
    switch (instance) {
    case 1: RCC_APB2ENR |= 1u << 4; return 0x40011000u;
    case 2: RCC_APB1ENR |= 1u << 17; return 0x40004400u;
    case 6: RCC_APB2ENR |= 1u << 5; return 0x40011400u;
    default: RCC_APB1ENR |= 1u << 18; return 0x40004800u;  /* USART3 */
    }
}

void port_init(void)
{
    uint32_t base, pclk;

    caches_init();
    clock_init();
    RCC_AHB1ENR |= (1u << MCD_UART_TX_PORT) | (1u << MCD_UART_RX_PORT);
    (void)RCC_AHB1ENR;
    gpio_set_af(GPIO_BASE(MCD_UART_TX_PORT), MCD_UART_TX_PIN, MCD_UART_AF);
    gpio_set_af(GPIO_BASE(MCD_UART_RX_PORT), MCD_UART_RX_PIN, MCD_UART_AF);
    base = uart_enable(MCD_UART_INSTANCE);
    (void)RCC_APB1ENR;
    (void)RCC_APB2ENR;
    pclk = (MCD_UART_INSTANCE == 1 || MCD_UART_INSTANCE == 6) ? MCD_CLOCK_HZ / 2u : MCD_CLOCK_HZ / 4u;
    uart_init(base, pclk, MCD_UART_BAUD);
}

uint32_t port_clock_hz(void)
{
    return MCD_CLOCK_HZ;
}
