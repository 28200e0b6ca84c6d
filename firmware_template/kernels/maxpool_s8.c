/* Portable int8 max-pool, HWC. Padding acts as -infinity (it never wins). Each output is written
 * only after its whole window is read, walking outputs in memory order, so the planner may run
 * it in place when no window starts before its own output pixel (mcudeploy/plan.py checks). */
#include "mcd_kernels.h"

void mcd_maxpool_s8(const mcd_pool_params *p, const mcd_dims *in_d, const int8_t *in,
                    const mcd_dims *out_d, int8_t *out)
{
    const int32_t c = in_d->c;
    int32_t oy, ox, ch, ky, kx;
    for (oy = 0; oy < out_d->h; oy++) {
        for (ox = 0; ox < out_d->w; ox++) {
            const int32_t y0 = oy * p->stride_h - p->pad_t, x0 = ox * p->stride_w - p->pad_l;
            for (ch = 0; ch < c; ch++) {
                int32_t best = -128;
                for (ky = 0; ky < p->k_h; ky++) {
                    const int32_t iy = y0 + ky;
                    if (iy < 0 || iy >= in_d->h) continue;
                    for (kx = 0; kx < p->k_w; kx++) {
                        const int32_t ix = x0 + kx;
                        int32_t v;
                        if (ix < 0 || ix >= in_d->w) continue;
                        v = in[(iy * in_d->w + ix) * c + ch];
                        if (v > best) best = v;
                    }
                }
                out[(oy * out_d->w + ox) * c + ch] = (int8_t)best;
            }
        }
    }
}
