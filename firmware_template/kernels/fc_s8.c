/* Portable int8 fully-connected layer, weights (out_n, in_n) row-major. */
#include "mcd_kernels.h"

void mcd_fc_s8(int32_t in_n, const int8_t *in, int32_t out_n, const int8_t *w, const int32_t *bias,
               const mcd_channel_quant *q, int32_t in_zp, int32_t out_zp, int32_t act_min, int32_t act_max,
               int8_t *out)
{
    int32_t o, i;
    for (o = 0; o < out_n; o++) {
        const int8_t *row = w + o * in_n;
        int32_t acc = bias[o];
        for (i = 0; i < in_n; i++) acc += (in[i] - in_zp) * row[i];
        out[o] = mcd_clamp8(mcd_requant(acc, q->mult[o], q->shift[o]) + out_zp, act_min, act_max);
    }
}
