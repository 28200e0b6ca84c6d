/* One measured inference: the engine's mcd_model_run between two counter readings, with the
 * per-layer hook (compiled in with -DMCD_LAYER_HOOK) stamping every layer boundary.
 *
 *     mcd_run_counts c;
 *     mcd_run_measured(input, output, &c);
 *     c.total               whole call, in the counter's unit (counter.h)
 *     c.layer[i]            between hook(i) and hook(i + 1); sum(layer) <= total, the
 *                           difference being the call and the hooks' own overhead
 *
 *     mcd_run_tapped(input, output, fn);
 *                           an unmeasured run calling fn(i, data, bytes) with each layer's
 *                           output as soon as layer i is done (what LAYER_CRC and LAYER_OUTPUT
 *                           read); the arena is reused afterwards, so fn copies what it keeps
 */
#ifndef MCD_RUN_H
#define MCD_RUN_H

#include <stdint.h>

#include "model.h"

typedef struct {
    uint64_t total;
    uint32_t layer[MCD_NUM_LAYERS];
} mcd_run_counts;

typedef void (*mcd_layer_tap)(int layer, const int8_t *data, uint32_t bytes);

void mcd_run_measured(const int8_t *input, int8_t *output, mcd_run_counts *c);
void mcd_run_tapped(const int8_t *input, int8_t *output, mcd_layer_tap fn);

#endif
