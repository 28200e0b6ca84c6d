/* The per-layer hook of docs/contracts.md and the measured run around it. */
#include "run.h"

#include "counter.h"

static uint64_t stamp[MCD_NUM_LAYERS + 1];
static mcd_layer_tap tap;          /* set only during mcd_run_tapped: one test per layer otherwise */
static const int8_t *tap_output;

void mcd_layer_hook(int index);
void mcd_layer_hook(int index)
{
    if (index >= 0 && index <= MCD_NUM_LAYERS) stamp[index] = mcd_counter_read();
    if (tap && index > 0 && index <= MCD_NUM_LAYERS) {
        uint32_t n;
        const int8_t *p = mcd_layer_output(index - 1, tap_output, &n);
        tap(index - 1, p, n);
    }
}

void mcd_run_tapped(const int8_t *input, int8_t *output, mcd_layer_tap fn)
{
    tap = fn;
    tap_output = output;
    mcd_model_run(input, output);
    tap = 0;
}

void mcd_run_measured(const int8_t *input, int8_t *output, mcd_run_counts *c)
{
    uint64_t t0, t1, prev;
    int i;

    for (i = 0; i <= MCD_NUM_LAYERS; i++) stamp[i] = 0;
    mcd_counter_restart();
    t0 = mcd_counter_read();
    mcd_model_run(input, output);
    t1 = mcd_counter_read();
    c->total = mcd_counter_units(t1 - t0);
    /* Convert cumulative stamps, then subtract: rounding errors telescope instead of adding up. */
    prev = mcd_counter_units(stamp[0] - t0);
    for (i = 0; i < MCD_NUM_LAYERS; i++) {
        const uint64_t next = mcd_counter_units(stamp[i + 1] - t0);
        c->layer[i] = (uint32_t)(next - prev);
        prev = next;
    }
}
