/* The one counter the firmware measures with, and what it counts.
 *
 *     mcd_counter_init();
 *     mcd_counter_restart();                    before each measurement: start from a known phase
 *     uint64_t t0 = mcd_counter_read();        raw ticks since the restart
 *     ...
 *     uint64_t n = mcd_counter_units(mcd_counter_read() - t0);   in units of MCD_COUNTER_KIND
 *
 * Three implementations, chosen by CMake from the board file:
 *   counter_dwt.c      "dwt_cycles"             DWT CYCCNT, core clock cycles (Cortex-M3/M4/M7/M33)
 *   counter_systick.c  "systick_cycles"         SysTick on the core clock (Cortex-M0+, no DWT)
 *   counter_systick.c  "emulated_instructions"  SysTick under QEMU -icount (see that file)
 * Restarting before each run makes emulated counts independent of what ran before: otherwise
 * whether the 24-bit SysTick wraps (and its exception runs) inside a run would depend on the
 * phase the run starts at.
 */
#ifndef MCD_COUNTER_H
#define MCD_COUNTER_H

#include <stdint.h>

void mcd_counter_init(void);
void mcd_counter_restart(void);
uint64_t mcd_counter_read(void);
uint64_t mcd_counter_units(uint64_t ticks);
extern const char mcd_counter_kind[];

#endif
