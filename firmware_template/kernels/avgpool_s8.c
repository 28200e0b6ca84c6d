/* Portable int8 average pool, HWC, same quantization in and out (as TFLite). The sum of q over
 * the window (padding counts as zp when count_include_pad) is divided by the count, rounding
 * half away from zero: C's division truncates toward zero, so +/- count/2 first. With
 * count_include_pad the count is torch's: the window clipped to the padded input (k_h * k_w
 * except for a ceil_mode window that runs past the padding). */
#include "mcd_kernels.h"

void mcd_avgpool_s8(const mcd_pool_params *p, const mcd_dims *in_d, const int8_t *in,
                    const mcd_dims *out_d, int8_t *out)
{
    const int32_t c = in_d->c;
    int32_t oy, ox, ch, ky, kx;
    for (oy = 0; oy < out_d->h; oy++) {
        for (ox = 0; ox < out_d->w; ox++) {
            const int32_t y0 = oy * p->stride_h - p->pad_t, x0 = ox * p->stride_w - p->pad_l;
            for (ch = 0; ch < c; ch++) {
                int32_t sum = 0, valid = 0, count, avg;
                for (ky = 0; ky < p->k_h; ky++) {
                    const int32_t iy = y0 + ky;
                    if (iy < 0 || iy >= in_d->h) continue;
                    for (kx = 0; kx < p->k_w; kx++) {
                        const int32_t ix = x0 + kx;
                        if (ix < 0 || ix >= in_d->w) continue;
                        sum += in[(iy * in_d->w + ix) * c + ch];
                        valid++;
                    }
                }
                if (p->count_include_pad) {
                    const int32_t ye = y0 + p->k_h < in_d->h + p->pad_t ? y0 + p->k_h : in_d->h + p->pad_t;
                    const int32_t xe = x0 + p->k_w < in_d->w + p->pad_l ? x0 + p->k_w : in_d->w + p->pad_l;
                    count = (ye - y0) * (xe - x0);
                    sum += (count - valid) * p->zp;
                } else {
                    count = valid;
                }
                avg = sum >= 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
                out[(oy * out_d->w + ox) * c + ch] = mcd_clamp8(avg, -128, 127);
#ifdef MCD_PLANT_BUG_AVGPOOL
                /* A planted bug for the layer-by-layer diff's test (never in a real build): the
                 * last channel of output pixel (0, 1) is one too high. */
                if (oy == 0 && ox == 1 && ch == c - 1) out[(oy * out_d->w + ox) * c + ch] = mcd_clamp8(avg + 1, -128, 127);
#endif
            }
        }
    }
}
