/* The few Cortex-M core registers the firmware touches (no vendor headers).
 *
 * Addresses are architectural (ARMv6-M / ARMv7-M System Control Space), so one header serves
 * every family; what differs between chips lives in board/<family>/port.c.
 */
#ifndef MCD_CM_REGS_H
#define MCD_CM_REGS_H

#include <stdint.h>

#define MCD_REG(addr) (*(volatile uint32_t *)(addr))

/* SysTick: 24-bit down counter */
#define SYST_CSR   MCD_REG(0xE000E010u)
#define SYST_RVR   MCD_REG(0xE000E014u)
#define SYST_CVR   MCD_REG(0xE000E018u)
#define SYST_CSR_ENABLE    (1u << 0)
#define SYST_CSR_TICKINT   (1u << 1)
#define SYST_CSR_CLKSOURCE (1u << 2)  /* 1 = processor clock */

/* System control block */
#define SCB_ICSR   MCD_REG(0xE000ED04u)
#define SCB_VTOR   MCD_REG(0xE000ED08u)
#define SCB_CCR    MCD_REG(0xE000ED14u)
#define SCB_CPACR  MCD_REG(0xE000ED88u)
#define SCB_ICSR_PENDSTSET (1u << 26)
#define SCB_ICSR_PENDSTCLR (1u << 25)

/* Debug / trace (ARMv7-M only; ARMv6-M has no cycle counter) */
#define DEMCR      MCD_REG(0xE000EDFCu)
#define DEMCR_TRCENA (1u << 24)
#define DWT_CTRL   MCD_REG(0xE0001000u)
#define DWT_CYCCNT MCD_REG(0xE0001004u)
#define DWT_LAR    MCD_REG(0xE0001FB0u)  /* Cortex-M7: must be unlocked before DWT writes */

static inline void mcd_dsb_isb(void)
{
    __asm volatile("dsb 0xF\n isb 0xF" ::: "memory");
}

static inline void mcd_irq_disable(void) { __asm volatile("cpsid i" ::: "memory"); }
static inline void mcd_irq_enable(void) { __asm volatile("cpsie i" ::: "memory"); }

static inline uint32_t mcd_read_sp(void)
{
    uint32_t sp;
    __asm volatile("mov %0, sp" : "=r"(sp));
    return sp;
}

#endif
