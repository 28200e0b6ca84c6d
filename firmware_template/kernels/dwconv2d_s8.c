/* int8 depthwise convolution (channel multiplier 1), HWC: the generic kernel, for what the
 * shape-specialised fast path of mcd_dwconv2d_s8.h does not take (a fused max-pool, strides
 * other than 1 and 2 across, kernels larger than MCD_DW_MAX_KH x MCD_DW_MAX_KW). Plain exact C,
 * per channel; padding is real zero (skipped taps).
 *
 * Weights: int16 [C][k_h][KW2], KW2 = k_w rounded up to even (a zero tap past k_w), the layout of
 * the fast path.
 *
 * Fused pool: the max accumulator of the window is requantized once (requantization is
 * monotonic, so this equals pooling the requantized outputs); the un-pooled map is never stored.
 */
#include "mcd_kernels.h"

/* Weight of channel ch at tap (ky, kx). */
static int32_t dw_weight(const int16_t *w, int32_t k_h, int32_t k_w, int32_t ch, int32_t ky, int32_t kx)
{
    return w[(ch * k_h + ky) * ((k_w + 1) & ~1) + kx];
}

static int32_t dw_acc(const mcd_conv_params *p, const mcd_dims *in_d, const int8_t *in, int32_t k_h, int32_t k_w,
                      const int16_t *w, int32_t ch, int32_t oy, int32_t ox, int32_t bias)
{
    int32_t acc = bias, ky, kx;
    for (ky = 0; ky < k_h; ky++) {
        const int32_t iy = oy * p->stride_h - p->pad_t + ky;
        if (iy < 0 || iy >= in_d->h) continue;
        for (kx = 0; kx < k_w; kx++) {
            const int32_t ix = ox * p->stride_w - p->pad_l + kx;
            if (ix < 0 || ix >= in_d->w) continue;
            acc += (in[(iy * in_d->w + ix) * in_d->c + ch] - p->in_zp) * dw_weight(w, k_h, k_w, ch, ky, kx);
        }
    }
    return acc;
}

void mcd_dwconv2d_s8_any(const mcd_conv_params *p, const mcd_channel_quant *q, const mcd_dims *in_d,
                         const int8_t *in, int32_t k_h, int32_t k_w, const int16_t *w, const int32_t *bias,
                         const mcd_dims *out_d, int8_t *out)
{
    const int32_t ch = out_d->c, pool = p->pool_h * p->pool_w;
    int32_t py, px, c, j;
    for (py = 0; py < out_d->h; py++) {
        for (px = 0; px < out_d->w; px++) {
            int8_t *dst = out + (py * out_d->w + px) * ch;
            for (c = 0; c < ch; c++) {
                int32_t best = INT32_MIN;
                for (j = 0; j < pool; j++) {
                    const int32_t oy = pool == 1 ? py : py * p->pool_sh + j / p->pool_w;
                    const int32_t ox = pool == 1 ? px : px * p->pool_sw + j % p->pool_w;
                    const int32_t acc = dw_acc(p, in_d, in, k_h, k_w, w, c, oy, ox, bias[c]);
                    if (acc > best) best = acc;
                }
                dst[c] = mcd_clamp8(mcd_requant(best, q->mult[c], q->shift[c]) + p->out_zp, p->act_min, p->act_max);
            }
        }
    }
}
