/* STM32G0 clocks and UART, register level.
 *
 * HSI16 / M=1 * N / R=2 with N = clock * 2 / 16 MHz: 64 MHz uses N = 8 (VCO 128 MHz, in range
 * 64..344 MHz). Flash needs 2 wait states above 48 MHz in voltage range 1 (the reset range).
 * AHB and APB run at the core clock, and USARTx's kernel clock is PCLK after reset.
 */
#include "cm_regs.h"
#include "gpio.h"            /* board/stm32/ */
#include "port.h"

#define RCC_BASE     0x40021000u
#define RCC_CR       MCD_REG(RCC_BASE + 0x00u)
#define RCC_CFGR     MCD_REG(RCC_BASE + 0x08u)
#define RCC_PLLCFGR  MCD_REG(RCC_BASE + 0x0Cu)
#define RCC_IOPENR   MCD_REG(RCC_BASE + 0x34u)
#define RCC_APBENR1  MCD_REG(RCC_BASE + 0x3Cu)
#define RCC_APBENR2  MCD_REG(RCC_BASE + 0x40u)
#define FLASH_ACR    MCD_REG(0x40022000u)
#define GPIO_BASE(port) (0x50000000u + 0x400u * (port))

#define PLL_N (MCD_CLOCK_HZ / 8000000u)
#define FLASH_WS (MCD_CLOCK_HZ > 48000000u ? 2u : (MCD_CLOCK_HZ > 24000000u ? 1u : 0u))

static void clock_init(void)
{
    /* PLLSRC = HSI16 (2), M = 1 (0), N, R = 2 (1) with its output enabled (PLLREN); P and Q
     * stay disabled but get valid dividers (/2), since 0 is a reserved value for both. */
    RCC_PLLCFGR = 2u | (0u << 4) | (PLL_N << 8) | (1u << 17) | (1u << 25) | (1u << 28) | (1u << 29);
    RCC_CR |= 1u << 24;                               /* PLLON */
    port_wait(&RCC_CR, 1u << 25, 1u << 25);           /* PLLRDY */
    FLASH_ACR = (FLASH_ACR & ~7u) | FLASH_WS | (1u << 8) | (1u << 9);  /* + prefetch, I-cache */
    port_wait(&FLASH_ACR, 7u, FLASH_WS);
    RCC_CFGR = (RCC_CFGR & ~7u) | 2u;                 /* SW = PLLRCLK */
    port_wait(&RCC_CFGR, 7u << 3, 2u << 3);
}

static uint32_t uart_enable(uint32_t instance)
{
    if (instance == 1) {
        RCC_APBENR2 |= 1u << 14;
        return 0x40013800u;
    }
    RCC_APBENR1 |= 1u << 17;                          /* USART2 */
    return 0x40004400u;
}

void port_init(void)
{
    uint32_t base;

    clock_init();
    RCC_IOPENR |= (1u << MCD_UART_TX_PORT) | (1u << MCD_UART_RX_PORT);
    (void)RCC_IOPENR;                                 /* a read-back: the clock is on */
    gpio_set_af(GPIO_BASE(MCD_UART_TX_PORT), MCD_UART_TX_PIN, MCD_UART_AF);
    gpio_set_af(GPIO_BASE(MCD_UART_RX_PORT), MCD_UART_RX_PIN, MCD_UART_AF);
    base = uart_enable(MCD_UART_INSTANCE);
    (void)RCC_APBENR1;
    (void)RCC_APBENR2;
    uart_init(base, MCD_CLOCK_HZ, MCD_UART_BAUD);
}

uint32_t port_clock_hz(void)
{
    return MCD_CLOCK_HZ;
}
