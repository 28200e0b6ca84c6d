/* Portable int8 convolution, HWC activations, OHWI weights, optional fused max-pool.
 *
 * acc = bias[o] + sum over the window of (in - in_zp) * w; padding contributes real zero.
 * With a fused pool, the pooled output takes the max accumulator of its window and is
 * requantized once: requantization is monotonic, so this equals pooling requantized values,
 * and the un-pooled map is never stored.
 */
#include "mcd_kernels.h"

static int32_t conv_at(const mcd_conv_params *p, const mcd_dims *in_d, const int8_t *in, int32_t k_h,
                       int32_t k_w, const int8_t *w, int32_t oy, int32_t ox)
{
    const int32_t c = in_d->c;
    int32_t acc = 0;
    int32_t ky, kx, ci;
    for (ky = 0; ky < k_h; ky++) {
        const int32_t iy = oy * p->stride_h - p->pad_t + ky;
        if (iy < 0 || iy >= in_d->h) continue;
        for (kx = 0; kx < k_w; kx++) {
            const int32_t ix = ox * p->stride_w - p->pad_l + kx;
            const int8_t *src, *wk;
            if (ix < 0 || ix >= in_d->w) continue;
            src = in + (iy * in_d->w + ix) * c;
            wk = w + (ky * k_w + kx) * c;
            for (ci = 0; ci < c; ci++) acc += (src[ci] - p->in_zp) * wk[ci];
        }
    }
    return acc;
}

void mcd_conv2d_s8(const mcd_conv_params *p, const mcd_channel_quant *q, const mcd_dims *in_d,
                   const int8_t *in, int32_t k_h, int32_t k_w, const int8_t *w, const int32_t *bias,
                   const mcd_dims *out_d, int8_t *out)
{
    const int32_t wsize = k_h * k_w * in_d->c;
    int32_t py, px, o, dy, dx;
    for (py = 0; py < out_d->h; py++) {
        for (px = 0; px < out_d->w; px++) {
            for (o = 0; o < out_d->c; o++) {
                int32_t best = INT32_MIN;
                for (dy = 0; dy < p->pool_h; dy++) {
                    for (dx = 0; dx < p->pool_w; dx++) {
                        const int32_t acc = conv_at(p, in_d, in, k_h, k_w, w + o * wsize,
                                                    py * p->pool_sh + dy, px * p->pool_sw + dx);
                        if (acc > best) best = acc;
                    }
                }
                *out++ = mcd_clamp8(mcd_requant(best + bias[o], q->mult[o], q->shift[o]) + p->out_zp,
                                    p->act_min, p->act_max);
            }
        }
    }
}
