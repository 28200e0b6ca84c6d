/* Bare-metal cycle harness: one inference on a fixed input, layer boundaries marked by writes to
 * 0x40011008 (USART1 BRR on the STM32F4: harmless there), the output printed in hex on USART1,
 * then a semihosting exit. Run under the cycle estimator (mcudeploy/cycles.py) or QEMU
 * netduinoplus2 with -semihosting. No protocol, no clocks: nothing but the engine is measured. */
#include <stdint.h>
#include "model.h"
#include "bench_input.h"

#define USART1_DR   (*(volatile uint32_t *)0x40011004u)
#define USART1_MARK (*(volatile uint32_t *)0x40011008u)
#define USART1_CR1  (*(volatile uint32_t *)0x4001100Cu)

void mcd_layer_hook(int index) { USART1_MARK = (uint32_t)index; }

static void put(char c) { USART1_DR = (uint32_t)(uint8_t)c; }

static int8_t output[MCD_OUTPUT_BYTES];

static void semihost_exit(void)
{
    register uint32_t r0 __asm__("r0") = 0x18u;      /* SYS_EXIT */
    register uint32_t r1 __asm__("r1") = 0x20026u;   /* ADP_Stopped_ApplicationExit */
    __asm__ volatile("bkpt 0xab" : : "r"(r0), "r"(r1) : "memory");
}

int main(void)
{
    static const char hex[] = "0123456789abcdef";
    int i;
    USART1_CR1 = 0x200Cu; /* UE | TE | RE */
    mcd_model_run(bench_input, output);
    for (i = 0; i < MCD_OUTPUT_BYTES; i++) {
        put(hex[(uint8_t)output[i] >> 4]);
        put(hex[(uint8_t)output[i] & 15]);
    }
    put('\n');
    semihost_exit();
    for (;;) {
    }
}
