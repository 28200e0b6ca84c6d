/* Alternate-function setup of one pin; the GPIO register block is the same on every STM32
 * family we support (F4, F7, G0, L0), only its base address differs. */
#ifndef MCD_GPIO_H
#define MCD_GPIO_H

#include <stdint.h>

static inline void gpio_set_af(uint32_t port_base, uint32_t pin, uint32_t af)
{
    volatile uint32_t *moder = (volatile uint32_t *)(port_base + 0x00u);
    volatile uint32_t *ospeedr = (volatile uint32_t *)(port_base + 0x08u);
    volatile uint32_t *afr = (volatile uint32_t *)(port_base + 0x20u + 4u * (pin / 8u));
    const uint32_t shift4 = 4u * (pin % 8u);

    *afr = (*afr & ~(0xFu << shift4)) | (af << shift4);
    *ospeedr |= 2u << (2u * pin);                                   /* high speed */
    *moder = (*moder & ~(3u << (2u * pin))) | (2u << (2u * pin));  /* alternate function */
}

#endif
