/* Core clock cycles from the DWT cycle counter (ARMv7-M / ARMv8-M Mainline).
 *
 * CYCCNT is 32 bits (23.8 s at 180 MHz). mcd_counter_read() widens it to 64 bits by noticing
 * wrap-around between reads, which is exact as long as two reads are less than 2^32 cycles
 * apart; the firmware reads it at every layer boundary, so only a single layer running longer
 * than that could be mis-measured.
 */
#include "cm_regs.h"
#include "counter.h"

const char mcd_counter_kind[] = "dwt_cycles";

static uint32_t last;
static uint64_t high;

void mcd_counter_init(void)
{
    DEMCR |= DEMCR_TRCENA;
    DWT_LAR = 0xC5ACCE55u;  /* unlock (needed on Cortex-M7, ignored elsewhere) */
    DWT_CYCCNT = 0;
    DWT_CTRL |= 1u;         /* CYCCNTENA */
}

void mcd_counter_restart(void)
{
    DWT_CYCCNT = 0;
    last = 0;
    high = 0;
}

uint64_t mcd_counter_read(void)
{
    const uint32_t now = DWT_CYCCNT;
    if (now < last) high += (uint64_t)1 << 32;
    last = now;
    return high | now;
}

uint64_t mcd_counter_units(uint64_t ticks)
{
    return ticks;
}
