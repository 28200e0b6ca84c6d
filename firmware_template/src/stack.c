/* Stack painting. The stack is everything between the end of .bss (_sstack) and the end of RAM
 * (_estack); see the linker script. Painting stops 64 bytes below the current stack pointer so
 * it never overwrites the frame it runs in. The high-water mark is exact to one word as long as
 * nothing legitimately stores the pattern itself at the deepest point. */
#include "cm_regs.h"
#include "stack.h"

#define PATTERN 0xC5C5C5C5u

extern uint32_t _sstack, _estack;

void mcd_stack_paint(void)
{
    volatile uint32_t *p = &_sstack;
    volatile uint32_t *const stop = (volatile uint32_t *)(mcd_read_sp() - 64u);
    while (p < stop) *p++ = PATTERN;
}

uint32_t mcd_stack_high_water(void)
{
    const uint32_t *p = &_sstack;
    while (p < &_estack && *p == PATTERN) p++;
    return (uint32_t)((const uint8_t *)&_estack - (const uint8_t *)p);
}

uint32_t mcd_stack_size(void)
{
    return (uint32_t)((const uint8_t *)&_estack - (const uint8_t *)&_sstack);
}
