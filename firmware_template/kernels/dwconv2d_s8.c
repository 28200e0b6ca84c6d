/* Portable int8 depthwise convolution (channel multiplier 1), HWC, weights (k_h, k_w, C). */
#include "mcd_kernels.h"

static int32_t dw_at(const mcd_conv_params *p, const mcd_dims *in_d, const int8_t *in, int32_t k_h,
                     int32_t k_w, const int8_t *w, int32_t c, int32_t oy, int32_t ox)
{
    const int32_t ch = in_d->c;
    int32_t acc = 0, ky, kx;
    for (ky = 0; ky < k_h; ky++) {
        const int32_t iy = oy * p->stride_h - p->pad_t + ky;
        if (iy < 0 || iy >= in_d->h) continue;
        for (kx = 0; kx < k_w; kx++) {
            const int32_t ix = ox * p->stride_w - p->pad_l + kx;
            if (ix < 0 || ix >= in_d->w) continue;
            acc += (in[(iy * in_d->w + ix) * ch + c] - p->in_zp) * w[(ky * k_w + kx) * ch + c];
        }
    }
    return acc;
}

void mcd_dwconv2d_s8(const mcd_conv_params *p, const mcd_channel_quant *q, const mcd_dims *in_d,
                     const int8_t *in, int32_t k_h, int32_t k_w, const int8_t *w, const int32_t *bias,
                     const mcd_dims *out_d, int8_t *out)
{
    int32_t py, px, c, dy, dx;
    for (py = 0; py < out_d->h; py++) {
        for (px = 0; px < out_d->w; px++) {
            for (c = 0; c < out_d->c; c++) {
                int32_t best = INT32_MIN;
                for (dy = 0; dy < p->pool_h; dy++) {
                    for (dx = 0; dx < p->pool_w; dx++) {
                        const int32_t acc = dw_at(p, in_d, in, k_h, k_w, w, c, py * p->pool_sh + dy,
                                                  px * p->pool_sw + dx);
                        if (acc > best) best = acc;
                    }
                }
                *out++ = mcd_clamp8(mcd_requant(best + bias[c], q->mult[c], q->shift[c]) + p->out_zp,
                                    p->act_min, p->act_max);
            }
        }
    }
}
