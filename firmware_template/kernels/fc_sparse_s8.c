/* int8 fully-connected layer with sparse weights: per output row, a pointer into the input
 * advances by delta[j] (uint8; gaps over 255 bridged by zero-valued fillers) and multiplies
 * val[j]; the input zero point is folded into bias_adj at generation time (see
 * conv2d_sparse_s8.c for the format). Two non-zeros a pass. */
#include "mcd_kernels.h"

void mcd_fc_sparse_s8(int32_t out_n, const int8_t *in, const uint16_t *ptr, const uint8_t *delta, const int8_t *val,
                      const int32_t *bias_adj, const mcd_channel_quant *q, int32_t out_zp, int32_t act_min,
                      int32_t act_max, int8_t *out)
{
    int32_t o;
    for (o = 0; o < out_n; o++) {
        const uint8_t *d = delta + ptr[o];
        const int8_t *v = val + ptr[o], *x = in;
        int32_t n = ptr[o + 1] - ptr[o], acc = bias_adj[o];
        for (; n >= 2; n -= 2) {
            int32_t x0, x1;
            x += d[0];
            x0 = *x;
            x += d[1];
            x1 = *x;
            acc += x0 * v[0] + x1 * v[1];
            d += 2;
            v += 2;
        }
        if (n) acc += x[d[0]] * v[0];
        out[o] = mcd_clamp8(mcd_requant(acc, q->mult[o], q->shift[o]) + out_zp, act_min, act_max);
    }
}
