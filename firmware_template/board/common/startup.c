/* Reset and exception entry for every Cortex-M family (ARMv6-M and ARMv7-M).
 *
 * Only the 16 architectural vectors are listed: the firmware polls its UART and uses no
 * peripheral interrupt, so the vendor IRQ table would only add flash. Reset does the minimum
 * before C can run: point VTOR at this table (QEMU and some boot loaders start with VTOR = 0,
 * where flash is only aliased), enable the FPU before any compiler-generated FP instruction,
 * copy .data from flash and zero .bss (QEMU's loader fills RAM from the ELF, silicon does not,
 * so never rely on either).
 */
#include <stdint.h>

#include "cm_regs.h"

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;
extern const uint32_t mcd_vectors[];
int main(void);
void mcd_fault_handler(void);
void SysTick_Handler(void);

void Reset_Handler(void) __attribute__((noreturn, used));
void Reset_Handler(void)
{
    uint32_t *src = &_sidata, *dst;

    SCB_VTOR = (uint32_t)mcd_vectors;
#if defined(__ARM_FP)
    SCB_CPACR |= 0xFu << 20;                         /* CP10, CP11: full access */
    mcd_dsb_isb();
#endif
    for (dst = &_sdata; dst < &_edata;) *dst++ = *src++;
    for (dst = &_sbss; dst < &_ebss;) *dst++ = 0;
    main();
    for (;;) {
    }
}

static void default_handler(void)
{
    mcd_fault_handler();
}

__attribute__((weak)) void mcd_fault_handler(void)
{
    for (;;) {
    }
}

__attribute__((weak, alias("default_handler"))) void SysTick_Handler(void);

__attribute__((section(".isr_vector"), used)) const uint32_t mcd_vectors[16] = {
    (uint32_t)&_estack,
    (uint32_t)Reset_Handler,
    (uint32_t)default_handler,  /* NMI */
    (uint32_t)default_handler,  /* HardFault */
    (uint32_t)default_handler,  /* MemManage (v7-M) */
    (uint32_t)default_handler,  /* BusFault (v7-M) */
    (uint32_t)default_handler,  /* UsageFault (v7-M) */
    0, 0, 0, 0,
    (uint32_t)default_handler,  /* SVCall */
    (uint32_t)default_handler,  /* DebugMonitor (v7-M) */
    0,
    (uint32_t)default_handler,  /* PendSV */
    (uint32_t)SysTick_Handler,
};
