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


/* im2col of one output pixel into column j (0 or 1) of a two-column buffer interleaved a tap pair
 * at a time (a01, b01, a23, b23, ...: the layout mcd_dot2x4 reads), same values as mcd_im2col.
 * A run is widened eight taps (two source words, four pair words 8 bytes apart) a pass, then four;
 * a run that starts on the odd tap of a pair (kernel rows of an odd k_w * C_in: IC's first conv,
 * 3 x 3 x 3) puts that one tap first and is then pair-aligned, so only the ends go tap by tap
 * (tap by tap, a 27-tap window cost ~17 cycles a tap, most of that layer's im2col). */
static inline void mcd_col_put(int16_t *col, int32_t j, int32_t k, int32_t v) { col[(k >> 1) * 4 + j * 2 + (k & 1)] = (int16_t)v; }

static inline void mcd_col_run(int16_t *col, int32_t j, int32_t k, const int8_t *src, int32_t n)
{
    int32_t i = 0;
    uint32_t *dst;
    if (n <= 0) return;
    if (k & 1) { /* the odd half of a pair: alone, then the run is pair-aligned */
        mcd_col_put(col, j, k, src[0]);
        i = 1;
    }
    dst = (uint32_t *)(void *)(col + ((k + i) >> 1) * 4 + j * 2);
    for (; i + 8 <= n; i += 8, dst += 8) {
        const uint32_t x = mcd_ld32(src + i), y = mcd_ld32(src + i + 4);
        const uint32_t xe = mcd_sxtb16(x), xo = mcd_sxtb16_ror8(x); /* (x0, x2), (x1, x3) */
        const uint32_t ye = mcd_sxtb16(y), yo = mcd_sxtb16_ror8(y);
        mcd_st32(dst, mcd_pack_lo(xe, xo)); /* (x0, x1) */
        mcd_st32(dst + 2, mcd_pack_hi(xe, xo)); /* (x2, x3) */
        mcd_st32(dst + 4, mcd_pack_lo(ye, yo));
        mcd_st32(dst + 6, mcd_pack_hi(ye, yo));
    }
    if (i + 4 <= n) {
        const uint32_t x = mcd_ld32(src + i);
        const uint32_t e = mcd_sxtb16(x), o = mcd_sxtb16_ror8(x);
        mcd_st32(dst, mcd_pack_lo(e, o));
        mcd_st32(dst + 2, mcd_pack_hi(e, o));
        i += 4;
    }
    for (; i < n; i++) mcd_col_put(col, j, k + i, src[i]);
}

static inline void mcd_col_fill(int16_t *col, int32_t j, int32_t k, int32_t n, int32_t v)
{
    const uint32_t v2 = (uint32_t)(uint16_t)(int16_t)v * 0x00010001u;
    int32_t i = 0;
    uint32_t *dst;
    if (n <= 0) return;
    if (k & 1) { /* as in mcd_col_run: the odd half alone, then pair-aligned */
        mcd_col_put(col, j, k, v);
        i = 1;
    }
    dst = (uint32_t *)(void *)(col + ((k + i) >> 1) * 4 + j * 2);
    for (; i + 2 <= n; i += 2, dst += 2) mcd_st32(dst, v2);
    if (i < n) mcd_col_put(col, j, k + i, v);
}

static inline void mcd_im2col_pair(const mcd_conv_params *p, const mcd_dims *in_d, const int8_t *in, int32_t k_h,
                                   int32_t k_w, int32_t k4, int32_t oy, int32_t ox, int16_t *col, int32_t j)
{
    const int32_t c = in_d->c, run = k_w * c;
    const int32_t x0 = ox * p->stride_w - p->pad_l, y0 = oy * p->stride_h - p->pad_t;
    const int32_t inside = x0 >= 0 && x0 + k_w <= in_d->w;
    int32_t ky, kx, k = 0;
    for (ky = 0; ky < k_h; ky++, k += run) {
        const int32_t iy = y0 + ky;
        if (iy < 0 || iy >= in_d->h) {
            mcd_col_fill(col, j, k, run, p->in_zp);
        } else if (inside) { /* the whole kernel row is inside: one contiguous run */
            mcd_col_run(col, j, k, in + (iy * in_d->w + x0) * c, run);
        } else {
            for (kx = 0; kx < k_w; kx++) {
                const int32_t ix = x0 + kx;
                if (ix < 0 || ix >= in_d->w)
                    mcd_col_fill(col, j, k + kx * c, c, p->in_zp);
                else
                    mcd_col_run(col, j, k + kx * c, in + (iy * in_d->w + ix) * c, c);
            }
        }
    }
    mcd_col_fill(col, j, k, k4 - k, 0); /* past K: zero weights, any value would do */
}

/* Both columns of a pair at once when both windows are wholly inside the map and pixel b's window
 * is pixel a's moved `step` bytes along the row (same output row): each kernel row is one run of
 * `run` bytes per pixel, widened four taps a pixel a pass straight into the interleaved words
 * (a01, b01, a23, b23); a run that starts on the odd half of a pair, or ends short of a word, puts
 * those taps one by one (IC's 3 x 3 x 3 first conv: runs of 9). What it saves against two
 * mcd_im2col_pair calls is their per-pixel set-up (padding tests, pair alignment, index
 * arithmetic): about half of that im2col, and most of it on the first conv.
 * Not inlined: inside the conv's pixel loop the compiler kept its step and end on the stack (two
 * reloads every four taps); on its own it has the registers, for one call a pair. ("unused": the
 * files that include this header and do not call it.)
 * a: pixel a's window's first byte; row: bytes from one input row to the next. */
#if defined(__GNUC__)
__attribute__((noinline, unused))
#endif
static void mcd_im2col_pair_inside(const int8_t *a, int32_t step, int32_t row, int32_t run, int32_t k_h,
                                          int32_t k4, int16_t *col)
{
    int32_t ky, k = 0;
    for (ky = 0; ky < k_h; ky++, a += row, k += run) {
        const int8_t *src = a, *end = a + run;
        uint32_t *dst;
        int32_t t;
        if (k & 1) { /* the odd half of a pair */
            mcd_col_put(col, 0, k, src[0]);
            mcd_col_put(col, 1, k, src[step]);
            src++;
        }
        dst = (uint32_t *)(void *)(col + ((k + 1) >> 1) * 4);
#if MCD_HAVE_DSP && defined(__OPTIMIZE__)
        if (src + 4 <= end) { /* the four words in one STM (1 + 4 cycles; four STRs among the packs: 8) */
            register uint32_t w0 __asm__("r8"), w1 __asm__("r9"), w2 __asm__("r10"), w3 __asm__("r11");
            const int8_t *last = src + ((end - src) & ~3);
            uint32_t x, y, xe, ye;
            __asm__ volatile("1:\n\t"
                             "ldr %[y], [%[s], %[step]]\n\t"
                             "ldr %[x], [%[s]], #4\n\t"
                             "sxtb16 %[xe], %[x]\n\t"
                             "sxtb16 %[x], %[x], ror #8\n\t"
                             "sxtb16 %[ye], %[y]\n\t"
                             "sxtb16 %[y], %[y], ror #8\n\t"
                             "pkhbt %[w0], %[xe], %[x], lsl #16\n\t" /* a (x0, x1) */
                             "pkhbt %[w1], %[ye], %[y], lsl #16\n\t" /* b */
                             "pkhtb %[w2], %[x], %[xe], asr #16\n\t" /* a (x2, x3) */
                             "pkhtb %[w3], %[y], %[ye], asr #16\n\t" /* b */
                             "stm %[d]!, {%[w0], %[w1], %[w2], %[w3]}\n\t"
                             "cmp %[s], %[last]\n\t"
                             "bne 1b\n\t"
                             : [s] "+r"(src), [d] "+r"(dst), [x] "=&r"(x), [y] "=&r"(y), [xe] "=&r"(xe),
                               [ye] "=&r"(ye), [w0] "=&r"(w0), [w1] "=&r"(w1), [w2] "=&r"(w2), [w3] "=&r"(w3)
                             : [step] "r"(step), [last] "r"(last)
                             : "cc", "memory");
        }
#endif
        for (; src + 4 <= end; src += 4, dst += 4) {
            const uint32_t x = mcd_ld32(src), y = mcd_ld32(src + step);
            const uint32_t xe = mcd_sxtb16(x), xo = mcd_sxtb16_ror8(x); /* (x0, x2), (x1, x3) */
            const uint32_t ye = mcd_sxtb16(y), yo = mcd_sxtb16_ror8(y);
            mcd_st32(dst, mcd_pack_lo(xe, xo));     /* a (x0, x1) */
            mcd_st32(dst + 1, mcd_pack_lo(ye, yo)); /* b */
            mcd_st32(dst + 2, mcd_pack_hi(xe, xo)); /* a (x2, x3) */
            mcd_st32(dst + 3, mcd_pack_hi(ye, yo)); /* b */
        }
        for (t = k + (int32_t)(src - a); src < end; src++, t++) {
            mcd_col_put(col, 0, t, src[0]);
            mcd_col_put(col, 1, t, src[step]);
        }
    }
    for (; k < k4; k++) { /* past K: zero weights, any value would do */
        mcd_col_put(col, 0, k, 0);
        mcd_col_put(col, 1, k, 0);
    }
}

#endif
