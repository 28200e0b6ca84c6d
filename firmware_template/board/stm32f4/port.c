/* STM32F4 clocks and UART, register level.
 *
 * HSI (16 MHz) / M=8 gives the PLL a 2 MHz input; N = clock in MHz and P = 2 then give exactly
 * MCD_CLOCK_HZ for any whole-MHz clock up to 180 MHz (VCO 2 * N MHz stays in 100..432 MHz).
 * Above 168 MHz the F446 needs over-drive. APB1 runs at clock/4 (max 45 MHz), APB2 at clock/2.
 * HSI rather than the ST-LINK's 8 MHz MCO keeps the firmware independent of solder bridges.
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
#define PWR_CR       MCD_REG(0x40007000u)
#define PWR_CSR      MCD_REG(0x40007004u)
#define FLASH_ACR    MCD_REG(0x40023C00u)
#define GPIO_BASE(port) (0x40020000u + 0x400u * (port))

#define CR_PLLON   (1u << 24)
#define CR_PLLRDY  (1u << 25)
#define PWR_ODEN   (1u << 16)
#define PWR_ODSWEN (1u << 17)
#define CFGR_SW_PLL (2u << 0)
#define CFGR_SWS_MASK (3u << 2)
#define CFGR_SWS_PLL (2u << 2)

#define PLL_M 8u
#define PLL_N (MCD_CLOCK_HZ / 1000000u)

static void clock_init(void)
{
    RCC_APB1ENR |= 1u << 28;                         /* PWREN */
    (void)RCC_APB1ENR;                               /* a read-back: the clock is on */
    PWR_CR |= 3u << 14;                              /* VOS: scale 1 */
    /* P = 2 (field 0), Q = 8 (USB clock unused), R = 2 (F446 only; reset value elsewhere) */
    RCC_PLLCFGR = PLL_M | (PLL_N << 6) | (0u << 16) | (8u << 24) | (2u << 28);
    RCC_CR |= CR_PLLON;
    port_wait(&RCC_CR, CR_PLLRDY, CR_PLLRDY);
#if MCD_CLOCK_HZ > 168000000u
    PWR_CR |= PWR_ODEN;
    port_wait(&PWR_CSR, 1u << 16, 1u << 16);        /* ODRDY */
    PWR_CR |= PWR_ODSWEN;
    port_wait(&PWR_CSR, 1u << 17, 1u << 17);        /* ODSWRDY */
#endif
    /* One wait state per 30 MHz at 2.7-3.6 V; prefetch, instruction and data caches on. */
    FLASH_ACR = ((MCD_CLOCK_HZ - 1u) / 30000000u) | (1u << 8) | (1u << 9) | (1u << 10);
    RCC_CFGR = (5u << 10) | (4u << 13);              /* AHB /1, APB1 /4, APB2 /2 */
    RCC_CFGR |= CFGR_SW_PLL;
    port_wait(&RCC_CFGR, CFGR_SWS_MASK, CFGR_SWS_PLL);
}

/* USART1 and 6 sit on APB2, 2 and 3 on APB1. */
static uint32_t uart_enable(uint32_t instance)
{
    switch (instance) {
    case 1: RCC_APB2ENR |= 1u << 4; return 0x40011000u;
    case 3: RCC_APB1ENR |= 1u << 18; return 0x40004800u;
    case 6: RCC_APB2ENR |= 1u << 5; return 0x40011400u;
    default: RCC_APB1ENR |= 1u << 17; return 0x40004400u;   /* USART2 */
    }
}

void port_init(void)
{
    uint32_t base, pclk;

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
