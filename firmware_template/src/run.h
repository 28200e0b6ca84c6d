/* One measured inference: the engine's mcd_model_run between two counter readings, with the
 * per-layer hook (compiled in with -DMCD_LAYER_HOOK) stamping every layer boundary.
 *
 *     mcd_run_counts c;
 *     mcd_run_measured(input, output, &c);
 *     c.total               whole call, in the counter's unit (counter.h)
 *     c.layer[i]            between hook(i) and hook(i + 1); sum(layer) <= total, the
 *                           difference being the call and the hooks' own overhead
 */
#ifndef MCD_RUN_H
#define MCD_RUN_H

#include <stdint.h>

#include "model.h"

typedef struct {
    uint64_t total;
    uint32_t layer[MCD_NUM_LAYERS];
} mcd_run_counts;

void mcd_run_measured(const int8_t *input, int8_t *output, mcd_run_counts *c);

#endif
