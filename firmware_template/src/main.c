/* mcudeploy firmware: bring the board up, then serve the link protocol forever.
 *
 * Nothing else runs: no RTOS, no interrupts besides the counter's SysTick (where used), so a
 * measured inference is the engine's code and only that.
 */
#include "cm_regs.h"
#include "counter.h"
#include "port.h"
#include "protocol.h"
#include "stack.h"

int main(void)
{
    mcd_stack_paint();
    port_init();
    mcd_counter_init();
    for (;;) mcd_protocol_poll();
}

/* A fault reports itself over the link (if the UART still works) instead of hanging silently;
 * the host then sees an error frame with the exception number and can reset the board. */
void mcd_fault_handler(void)
{
    uint32_t ipsr;
    __asm volatile("mrs %0, ipsr" : "=r"(ipsr));
    mcd_protocol_fault(ipsr & 0x1FFu);
    for (;;) {
    }
}
