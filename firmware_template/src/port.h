/* The per-board contract: what each board/<family>/port.c provides and nothing more.
 *
 *     port_init();                  clocks (PLL, flash wait states), UART pins and peripheral
 *     port_clock_hz();              the core clock the firmware configured, in Hz
 *
 * Everything a family needs is passed in as MCD_* compile definitions generated from the board's
 * TOML file (see CMakeLists.txt), so a family file serves every board of that family.
 * Under MCD_EMULATED on a machine without a clock controller model (QEMU's netduinoplus2 has no
 * RCC) port_init programs the same registers but never waits on a ready flag, which would read 0
 * forever. A machine whose clock tree QEMU models (b-l475e-iot01a: board file
 * `emulator.clock_tree = true`, MCD_EMU_CLOCK_TREE) waits exactly as silicon does.
 */
#ifndef MCD_PORT_H
#define MCD_PORT_H

#include <stdint.h>

void port_init(void);
uint32_t port_clock_hz(void);

/* The UART driver (board/<vendor>/<MCD_UART_IP>.c, chosen by the family's family.cmake) */
void uart_init(uint32_t base, uint32_t kernel_clock_hz, uint32_t baud);
void uart_putc(uint8_t c);
uint8_t uart_getc(void);  /* blocks until a byte arrives */

#ifdef MCD_EMU_RX_WFI
/* Sleep (WFI) until the UART has received a byte; the family port provides it where its QEMU
 * machine needs it (see board/stm32l4/port.c). Never called while an inference is measured. */
void port_rx_idle(uint32_t uart_base);
#endif

/* Wait until `reg & mask` equals `value`; returns at once in the emulator (see above). */
static inline void port_wait(volatile uint32_t *reg, uint32_t mask, uint32_t value)
{
#if !defined(MCD_EMULATED) || defined(MCD_EMU_CLOCK_TREE)
    while ((*reg & mask) != value) {
    }
#else
    (void)reg;
    (void)mask;
    (void)value;
#endif
}

#endif
