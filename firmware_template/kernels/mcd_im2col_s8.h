/* For the convolutions that run a GEMM on int16 columns (conv2d_s8.c, conv2d_lowbit_s8.c):
 * im2col of one output pixel, the k_h x k_w x C_in window of raw int8 inputs widened to int16 in
 * (ky, kx, c) order, the input zero point where the window leaves the map, zeros from K to k4
 * (any K-aligned length the caller's weight rows are padded to); and the requantization of one
 * output pixel's accumulators. */
#ifndef MCD_IM2COL_S8_H
#define MCD_IM2COL_S8_H
#include "mcd_common.h"
#include "mcd_simd.h"

static inline void mcd_im2col(const mcd_conv_params *p, const mcd_dims *in_d, const int8_t *in, int32_t k_h, int32_t k_w,
                              int32_t k4, int32_t oy, int32_t ox, int16_t *col)
{
    const int32_t c = in_d->c, run = k_w * c;
    const int32_t x0 = ox * p->stride_w - p->pad_l, y0 = oy * p->stride_h - p->pad_t;
    const int32_t inside = x0 >= 0 && x0 + k_w <= in_d->w;
    int16_t *dst = col;
    int32_t ky, kx;
    for (ky = 0; ky < k_h; ky++, dst += run) {
        const int32_t iy = y0 + ky;
        if (iy < 0 || iy >= in_d->h) {
            mcd_fill16(dst, run, p->in_zp);
        } else if (inside) { /* the whole kernel row is inside: one contiguous run */
            mcd_widen_s8(in + (iy * in_d->w + x0) * c, dst, run, 0);
        } else {
            for (kx = 0; kx < k_w; kx++) {
                const int32_t ix = x0 + kx;
                if (ix < 0 || ix >= in_d->w)
                    mcd_fill16(dst + kx * c, c, p->in_zp);
                else
                    mcd_widen_s8(in + (iy * in_d->w + ix) * c, dst + kx * c, c, 0);
            }
        }
    }
    mcd_zero16(dst, k4 - k_h * run); /* past K: zero weights, any value would do */
}

/* One output pixel's c_out accumulators requantized to int8 (the rows these convolutions produce). */
static inline void mcd_requant_row(const mcd_conv_params *p, const mcd_channel_quant *q, const int32_t *rq, int32_t fast,
                                   const int32_t *acc, int32_t c_out, int8_t *out)
{
    /* not mcd_rq_channel: here p is a run-time pointer that every int8 store may alias, so the
     * activation range goes to locals and the choice of rule out of the loop */
    const int32_t lo = p->act_min, hi = p->act_max;
    int32_t o;
    if (fast)
        for (o = 0; o < c_out; o++) out[o] = mcd_rq_out(acc[o], rq[4 * o + 1], rq[4 * o + 2], rq[4 * o + 3], lo, hi);
    else
        for (o = 0; o < c_out; o++) out[o] = mcd_rq_out_generic(acc[o], q->mult[o], q->shift[o], p->out_zp, lo, hi);
}

#endif
