/* SysTick as a 64-bit counter: the 24-bit down-counter on the processor clock, widened by
 * counting its wraps in the SysTick exception (every 2^24 ticks).
 *
 * On silicon (Cortex-M0+, which has no DWT cycle counter) a tick is one core clock cycle.
 *
 * Under QEMU (MCD_EMULATED) a tick is not a cycle. QEMU models no pipeline; with
 * `-icount shift=S` each executed instruction advances the virtual clock by exactly 2^S ns, and
 * SysTick (CLKSOURCE = processor clock) counts the machine's fixed cpuclk, MCD_EMU_CPUCLK_HZ
 * (168 MHz on netduinoplus2, whatever the RCC is programmed to). So
 *     instructions = ticks * 1e9 / (MCD_EMU_CPUCLK_HZ * 2^S),
 * rounded to nearest. One tick is 1e9 / 168e6 / 2^S instructions: with S = 0 that is 5.95
 * instructions (the count would be quantised to ~6), with S = 5 it is 0.186, so a difference of
 * two readings rounds to the exact instruction count (QEMU's timer is off by at most a tick).
 * The count includes the SysTick exception entries themselves (deterministic under -icount).
 */
#include "cm_regs.h"
#include "counter.h"

#define RELOAD 0x00FFFFFFu

#ifdef MCD_EMULATED
const char mcd_counter_kind[] = "emulated_instructions";
static uint64_t num = 1, den = 1;  /* instructions per tick, reduced: num / den */
#else
const char mcd_counter_kind[] = "systick_cycles";
#endif

static volatile uint32_t wraps;

void SysTick_Handler(void)
{
    wraps++;
}

static uint64_t gcd(uint64_t a, uint64_t b)
{
    while (b != 0u) {
        const uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

void mcd_counter_init(void)
{
#ifdef MCD_EMULATED
    uint64_t g;
    num = 1000000000u;
    den = (uint64_t)MCD_EMU_CPUCLK_HZ << MCD_EMU_ICOUNT_SHIFT;
    g = gcd(num, den);
    num /= g;
    den /= g;
#else
    (void)gcd;
#endif
    mcd_counter_restart();
}

void mcd_counter_restart(void)
{
    SYST_CSR = 0;
    SYST_RVR = RELOAD;
    SYST_CVR = 0;                 /* clears the counter; it reloads from RVR on the next tick */
    SCB_ICSR = SCB_ICSR_PENDSTCLR;
    wraps = 0;
    SYST_CSR = SYST_CSR_CLKSOURCE | SYST_CSR_TICKINT | SYST_CSR_ENABLE;
    while (SYST_CVR == 0u) {      /* wait for that reload: from here on RELOAD - CVR is exact */
    }
}

uint64_t mcd_counter_read(void)
{
    uint32_t w, v;

    /* With interrupts masked, a wrap that happened since the last exception shows as a pending
     * SysTick; count it here and re-read the value, which then belongs to the new period. */
    mcd_irq_disable();
    w = wraps;
    v = SYST_CVR;
    if (SCB_ICSR & SCB_ICSR_PENDSTSET) {
        w++;
        v = SYST_CVR;
    }
    mcd_irq_enable();
    return (uint64_t)w * (RELOAD + 1u) + (RELOAD - v);
}

uint64_t mcd_counter_units(uint64_t ticks)
{
#ifdef MCD_EMULATED
    return (ticks * num + den / 2u) / den;
#else
    return ticks;
#endif
}
