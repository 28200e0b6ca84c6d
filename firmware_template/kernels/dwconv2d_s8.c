/* int8 depthwise convolution (channel multiplier 1), HWC, optional fused max-pool.
 *
 * In HWC the channels of one pixel are contiguous, so four channels go together: one word load
 * brings four inputs, SXTAB16 widens them minus the zero point into lanes (c0, c2) and (c1, c3),
 * and the generator stores the weights pre-widened in the same lane order, [k_h][k_w][C4/2]
 * int16 pairs (c0, c2), (c1, c3) (C4: C rounded up to 4, zero weights past C). Each lane has its
 * own accumulator, fed by SMLABB / SMLATT: four MACs per tap for one input load and two weight
 * loads. Channels past the last group of four, and cores without DSP, use exact portable C.
 * Padding is real zero (skipped taps).
 */
#include "mcd_kernels.h"
#include "mcd_simd.h"

#if MCD_HAVE_DSP
static inline int32_t mcd_smlabb(uint32_t a, uint32_t b, int32_t acc) { return __smlabb(a, b, acc); }
static inline int32_t mcd_smlatt(uint32_t a, uint32_t b, int32_t acc) { return __smlatt(a, b, acc); }
#else
static inline int32_t mcd_smlabb(uint32_t a, uint32_t b, int32_t acc)
{
    return acc + (int32_t)(int16_t)(a & 0xFFFFu) * (int16_t)(b & 0xFFFFu);
}
static inline int32_t mcd_smlatt(uint32_t a, uint32_t b, int32_t acc)
{
    return acc + (int32_t)(int16_t)(a >> 16) * (int16_t)(b >> 16);
}
#endif

/* Accumulators of channels c .. c+3 at a conv position whose window starts at input row y0,
 * column x0, with the in-image taps [ky0, ky1) x [kx0, kx1) (computed once per position). */
static inline void dw_group4(const int8_t *in, int32_t in_w, int32_t ch, uint32_t off2, int32_t y0, int32_t x0,
                             int32_t ky0, int32_t ky1, int32_t kx0, int32_t kx1, int32_t k_w, const int16_t *w,
                             int32_t c4, int32_t c, const int32_t *bias, int32_t *acc)
{
    int32_t a0 = bias[c], a1 = bias[c + 1], a2 = bias[c + 2], a3 = bias[c + 3];
    int32_t ky, kx;
    for (ky = ky0; ky < ky1; ky++) {
        const int8_t *src = in + ((y0 + ky) * in_w + x0 + kx0) * ch + c;
        const int16_t *wk = w + (ky * k_w + kx0) * c4 + c;
        for (kx = kx0; kx < kx1; kx++, src += ch, wk += c4) {
            const uint32_t x = mcd_ld32(src);
            const uint32_t x02 = mcd_sxtab16(off2, x), x13 = mcd_sxtab16(off2, (x >> 8) | (x << 24));
            const uint32_t w02 = mcd_ld32(wk), w13 = mcd_ld32(wk + 2);
            a0 = mcd_smlabb(x02, w02, a0);
            a2 = mcd_smlatt(x02, w02, a2);
            a1 = mcd_smlabb(x13, w13, a1);
            a3 = mcd_smlatt(x13, w13, a3);
        }
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* Weight of channel c at tap t in the lane-ordered layout. */
static int32_t dw_weight(const int16_t *w, int32_t c4, int32_t t, int32_t c)
{
    const int32_t g = c & ~3, r = c & 3;
    return w[t * c4 + g + (r == 0 ? 0 : r == 1 ? 2 : r == 2 ? 1 : 3)];
}

static int32_t dw_single(const mcd_conv_params *p, const mcd_dims *in_d, const int8_t *in, int32_t k_h, int32_t k_w,
                         const int16_t *w, int32_t c4, int32_t c, int32_t oy, int32_t ox, int32_t bias)
{
    int32_t acc = bias, ky, kx;
    for (ky = 0; ky < k_h; ky++) {
        const int32_t iy = oy * p->stride_h - p->pad_t + ky;
        if (iy < 0 || iy >= in_d->h) continue;
        for (kx = 0; kx < k_w; kx++) {
            const int32_t ix = ox * p->stride_w - p->pad_l + kx;
            if (ix < 0 || ix >= in_d->w) continue;
            acc += (in[(iy * in_d->w + ix) * in_d->c + c] - p->in_zp) * dw_weight(w, c4, ky * k_w + kx, c);
        }
    }
    return acc;
}

void mcd_dwconv2d_s8(const mcd_conv_params *p, const mcd_channel_quant *q, const mcd_dims *in_d,
                     const int8_t *in, int32_t k_h, int32_t k_w, const int16_t *w, const int32_t *bias,
                     const mcd_dims *out_d, int8_t *out)
{
    const int32_t ch = out_d->c, c4 = (ch + 3) & ~3, full = ch & ~3, pool = p->pool_h * p->pool_w;
    const uint32_t off2 = ((uint32_t)(uint16_t)(-p->in_zp)) * 0x10001u;
    int32_t py, px, c, j, i;
    if (pool == 1) { /* no fused pool: window bounds once per pixel, straight to requantization */
        for (py = 0; py < out_d->h; py++) {
            const int32_t y0 = py * p->stride_h - p->pad_t;
            const int32_t ky0 = y0 < 0 ? -y0 : 0, ky1 = y0 + k_h > in_d->h ? in_d->h - y0 : k_h;
            for (px = 0; px < out_d->w; px++) {
                const int32_t x0 = px * p->stride_w - p->pad_l;
                const int32_t kx0 = x0 < 0 ? -x0 : 0, kx1 = x0 + k_w > in_d->w ? in_d->w - x0 : k_w;
                int8_t *dst = out + (py * out_d->w + px) * ch;
                for (c = 0; c < full; c += 4) {
                    int32_t acc[4];
                    dw_group4(in, in_d->w, ch, off2, y0, x0, ky0, ky1, kx0, kx1, k_w, w, c4, c, bias, acc);
                    dst[c] = mcd_clamp8(mcd_requant_fast(acc[0], q->mult[c], q->shift[c]) + p->out_zp, p->act_min,
                                        p->act_max);
                    dst[c + 1] = mcd_clamp8(mcd_requant_fast(acc[1], q->mult[c + 1], q->shift[c + 1]) + p->out_zp,
                                            p->act_min, p->act_max);
                    dst[c + 2] = mcd_clamp8(mcd_requant_fast(acc[2], q->mult[c + 2], q->shift[c + 2]) + p->out_zp,
                                            p->act_min, p->act_max);
                    dst[c + 3] = mcd_clamp8(mcd_requant_fast(acc[3], q->mult[c + 3], q->shift[c + 3]) + p->out_zp,
                                            p->act_min, p->act_max);
                }
                for (; c < ch; c++)
                    dst[c] = mcd_clamp8(mcd_requant_fast(dw_single(p, in_d, in, k_h, k_w, w, c4, c, py, px, bias[c]),
                                                         q->mult[c], q->shift[c]) + p->out_zp,
                                        p->act_min, p->act_max);
            }
        }
        return;
    }
    for (py = 0; py < out_d->h; py++) {
        for (px = 0; px < out_d->w; px++) {
            int8_t *dst = out + (py * out_d->w + px) * ch;
            for (c = 0; c < full; c += 4) {
                int32_t best[4] = {INT32_MIN, INT32_MIN, INT32_MIN, INT32_MIN}, acc[4];
                for (j = 0; j < pool; j++) {
                    const int32_t oy = py * p->pool_sh + j / p->pool_w, ox = px * p->pool_sw + j % p->pool_w;
                    const int32_t y0 = oy * p->stride_h - p->pad_t, x0 = ox * p->stride_w - p->pad_l;
                    const int32_t ky0 = y0 < 0 ? -y0 : 0, ky1 = y0 + k_h > in_d->h ? in_d->h - y0 : k_h;
                    const int32_t kx0 = x0 < 0 ? -x0 : 0, kx1 = x0 + k_w > in_d->w ? in_d->w - x0 : k_w;
                    dw_group4(in, in_d->w, ch, off2, y0, x0, ky0, ky1, kx0, kx1, k_w, w, c4, c, bias, acc);
                    for (i = 0; i < 4; i++)
                        if (acc[i] > best[i]) best[i] = acc[i];
                }
                for (i = 0; i < 4; i++)
                    dst[c + i] = mcd_clamp8(mcd_requant_fast(best[i], q->mult[c + i], q->shift[c + i]) + p->out_zp,
                                            p->act_min, p->act_max);
            }
            for (; c < ch; c++) {
                int32_t best = INT32_MIN;
                for (j = 0; j < pool; j++) {
                    const int32_t acc = dw_single(p, in_d, in, k_h, k_w, w, c4, c, py * p->pool_sh + j / p->pool_w,
                                                  px * p->pool_sw + j % p->pool_w, bias[c]);
                    if (acc > best) best = acc;
                }
                dst[c] = mcd_clamp8(mcd_requant_fast(best, q->mult[c], q->shift[c]) + p->out_zp, p->act_min, p->act_max);
            }
        }
    }
}
