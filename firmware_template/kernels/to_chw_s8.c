/* HWC -> CHW reorder, used before a flatten that feeds something other than a fully-connected
 * layer (into which the generator folds the reorder as a weight-column permutation instead). */
#include "mcd_kernels.h"

void mcd_to_chw_s8(const mcd_dims *d, const int8_t *in, int8_t *out)
{
    const int32_t hw = d->h * d->w;
    int32_t i, ch;
    for (i = 0; i < hw; i++)
        for (ch = 0; ch < d->c; ch++) out[ch * hw + i] = in[i * d->c + ch];
}
