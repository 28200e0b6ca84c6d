/* Portable int8 clamp (a standalone ReLU / ReLU6); in-place safe. */
#include "mcd_kernels.h"

void mcd_clamp_s8(int32_t n, const int8_t *in, int32_t lo, int32_t hi, int8_t *out)
{
    int32_t i;
    for (i = 0; i < n; i++) out[i] = mcd_clamp8(in[i], lo, hi);
}
