/* int8 pointwise (1x1, any stride, no padding, no pool) convolution, HWC: a GEMM straight over the
 * input pixels, out[p][o] = requant(bias[o] + sum_c (in[p][c] - zp) * w[o][c]).
 *
 * Why a separate kernel: a 1x1 conv needs no im2col (a pixel's channels ARE its column), and
 * with few MACs per output (K = C_in) the general path's per-output costs dominate (im2col
 * calls, accumulators stored and reloaded, the generic requantization). Here:
 * - two pixels at a time are widened once to int16 (raw: the zero point is folded into the
 *   generator's bias_adj = bias - zp * sum(w)), then every pair of output channels runs the
 *   2x2 register-blocked SMLAD loop (mcd_gemm_s8.h, shared with conv2d_s8.c) on them (weights int8 in conv2d's packed
 *   [O][K4] layout, rows interleaved in pairs, widened by SXTB16 in the loop);
 * - each 2x2 block is requantized as soon as it is done, from the generator's per-channel
 *   records rq = (bias_adj, mult, cz, s): one SMMLA and one shift per output (mcd_rq_out).
 * - shape-specialised: forced inline (MCD_SPECIALISED) at each call site of the generated model.c,
 *   whose literal sizes and activation range become constants (per layer: the loop bounds, the
 *   clamp folded into SSAT, and the choice of requantization rule, a literal from the generator).
 * Scratch: two int16 columns of K4, 8 bytes apart (mcd_pwconv2d_s8_scratch_bytes).
 */
#ifndef MCD_PWCONV2D_S8_H
#define MCD_PWCONV2D_S8_H
#include "mcd_kernels.h"
#include "mcd_simd.h"
#include "mcd_gemm_s8.h"

/* col_b does not start where col_a ends: the loop's end pointer must not equal b's start, or
 * the compiler may give the two asm operands one register. */
static inline int32_t mcd_pwconv2d_s8_scratch_bytes(int32_t c_in) { return (2 * ((c_in + 3) & ~3) + 4) * 2; }

MCD_SPECIALISED void mcd_pw_widen(const int8_t *src, int16_t *dst, int32_t k, int32_t k4)
{
    mcd_widen_s8(src, dst, k, 0);
    mcd_zero16(dst + k, k4 - k);
}

/* dst[j] = src[lin[j]] (int8 -> int16) for j < k, then zeros to k4: the live input channels. */
MCD_SPECIALISED void mcd_pw_gather(const int8_t *src, int16_t *dst, const uint16_t *lin, int32_t k, int32_t k4)
{
    int32_t j;
    for (j = 0; j < k; j++) dst[j] = src[lin[j]];
    mcd_zero16(dst + k, k4 - k);
}

/* The input pixel under output pixel i (a strided 1x1 conv reads every stride-th pixel). */
MCD_SPECIALISED const int8_t *mcd_pw_pixel(const mcd_conv_params *p, const mcd_dims *in_d, const mcd_dims *out_d,
                                           const int8_t *in, int32_t i)
{
    if (p->stride_h == 1 && p->stride_w == 1) return in + i * in_d->c;
    return in + ((i / out_d->w) * p->stride_h * in_d->w + (i % out_d->w) * p->stride_w) * in_d->c;
}

/* The GEMM of mcd_pwconv2d_s8_live: output channel o of the weights and records is stored at
 * position live[o] of an output pixel, every pixel pair starts as a copy of cst, and with lin
 * only input channels lin[0 .. k) are read. */
MCD_SPECIALISED void mcd_pw_gemm(const mcd_conv_params *p, const mcd_channel_quant *q, const mcd_dims *in_d,
                                 const int8_t *in, const int8_t *w, const int32_t *rq, int32_t fast, int32_t n_rows,
                                 const uint16_t *live, const int8_t *cst, int32_t k, const uint16_t *lin,
                                 const mcd_dims *out_d, int8_t *out, void *scratch)
{
    const int32_t k4 = (k + 3) & ~3, c_out = out_d->c, n = out_d->h * out_d->w;
    int16_t *col_a = (int16_t *)scratch, *col_b = col_a + k4 + 4;
    int32_t i, o;
    for (i = 0; i < n; i += 2) {
        const int32_t two = i + 1 < n;
        int8_t *da = out + i * c_out, *db = da + c_out;
        if (cst) {
            memcpy(da, cst, (size_t)c_out);
            if (two) memcpy(db, cst, (size_t)c_out);
        }
        if (lin) {
            mcd_pw_gather(mcd_pw_pixel(p, in_d, out_d, in, i), col_a, lin, k, k4);
            mcd_pw_gather(mcd_pw_pixel(p, in_d, out_d, in, two ? i + 1 : i), col_b, lin, k, k4);
        } else {
            mcd_pw_widen(mcd_pw_pixel(p, in_d, out_d, in, i), col_a, k, k4);
            mcd_pw_widen(mcd_pw_pixel(p, in_d, out_d, in, two ? i + 1 : i), col_b, k, k4);
        }
        for (o = 0; o + 2 <= n_rows; o += 2) {
            const int32_t o0 = live ? live[o] : o, o1 = live ? live[o + 1] : o + 1;
            int32_t s[4];
            s[0] = s[2] = rq[4 * o];
            s[1] = s[3] = rq[4 * o + 4];
            mcd_dot2x2(col_a, col_b, w + o * k4, k4, s);
            da[o0] = mcd_rq_channel(s[0], rq, o, q, p, fast);
            da[o1] = mcd_rq_channel(s[1], rq, o + 1, q, p, fast);
            if (two) {
                db[o0] = mcd_rq_channel(s[2], rq, o, q, p, fast);
                db[o1] = mcd_rq_channel(s[3], rq, o + 1, q, p, fast);
            }
        }
        if (o < n_rows) { /* odd last channel (its row is not interleaved) */
            const int8_t *w0 = w + o * k4;
            const int32_t o0 = live ? live[o] : o;
            int32_t sa = rq[4 * o], sb = sa, j;
            for (j = 0; j < k4; j += 4) {
                const uint32_t wa = mcd_ld32(w0 + j);
                const uint32_t wa01 = mcd_sxtb16(wa), wa23 = mcd_sxtb16_ror8(wa);
                sa = mcd_smlad(mcd_ld32(col_a + j + 2), wa23, mcd_smlad(mcd_ld32(col_a + j), wa01, sa));
                sb = mcd_smlad(mcd_ld32(col_b + j + 2), wa23, mcd_smlad(mcd_ld32(col_b + j), wa01, sb));
            }
            da[o0] = mcd_rq_channel(sa, rq, o, q, p, fast);
            if (two) db[o0] = mcd_rq_channel(sb, rq, o, q, p, fast);
        }
    }
}

/* Weights int8 [O][K4] as conv2d's (its own loop, not mcd_pw_gemm's: 3 % faster, measured), records rq int32 [O][4] = (bias_adj, mult, cz, s); fast: 1 when
 * the records hold every shift of the layer (else the generic rule from q). */
MCD_SPECIALISED void mcd_pwconv2d_s8(const mcd_conv_params *p, const mcd_channel_quant *q, const mcd_dims *in_d,
                                     const int8_t *in, const int8_t *w, const int32_t *rq, int32_t fast,
                                     const mcd_dims *out_d, int8_t *out, void *scratch)
{
    const int32_t k = in_d->c, k4 = (k + 3) & ~3, c_out = out_d->c, n = out_d->h * out_d->w;
    int16_t *col_a = (int16_t *)scratch, *col_b = col_a + k4 + 4;
    int32_t i, o;
    for (i = 0; i < n; i += 2) {
        const int32_t two = i + 1 < n;
        int8_t *da = out + i * c_out, *db = da + c_out;
        mcd_pw_widen(mcd_pw_pixel(p, in_d, out_d, in, i), col_a, k, k4);
        mcd_pw_widen(mcd_pw_pixel(p, in_d, out_d, in, two ? i + 1 : i), col_b, k, k4);
        for (o = 0; o + 2 <= c_out; o += 2) {
            int32_t s[4];
            s[0] = s[2] = rq[4 * o];
            s[1] = s[3] = rq[4 * o + 4];
            mcd_dot2x2(col_a, col_b, w + o * k4, k4, s);
            da[o] = mcd_rq_channel(s[0], rq, o, q, p, fast);
            da[o + 1] = mcd_rq_channel(s[1], rq, o + 1, q, p, fast);
            if (two) {
                db[o] = mcd_rq_channel(s[2], rq, o, q, p, fast);
                db[o + 1] = mcd_rq_channel(s[3], rq, o + 1, q, p, fast);
            }
        }
        if (o < c_out) { /* odd last channel (its row is not interleaved) */
            const int8_t *w0 = w + o * k4;
            int32_t sa = rq[4 * o], sb = sa, j;
            for (j = 0; j < k4; j += 4) {
                const uint32_t wa = mcd_ld32(w0 + j);
                const uint32_t wa01 = mcd_sxtb16(wa), wa23 = mcd_sxtb16_ror8(wa);
                sa = mcd_smlad(mcd_ld32(col_a + j + 2), wa23, mcd_smlad(mcd_ld32(col_a + j), wa01, sa));
                sb = mcd_smlad(mcd_ld32(col_b + j + 2), wa23, mcd_smlad(mcd_ld32(col_b + j), wa01, sb));
            }
            da[o] = mcd_rq_channel(sa, rq, o, q, p, fast);
            if (two) db[o] = mcd_rq_channel(sb, rq, o, q, p, fast);
        }
    }
}

/* A layer some of whose output channels are constant (the same value for every input: a ReLU
 * that never opens, a zero multiplier; codegen/kernels.py: constant_channels), or some of whose
 * input channels are (the output of such a channel upstream). Only the n_live other outputs are
 * computed: weights int8 [n_live][K4'] and records [n_live][4] hold them alone (in conv2d's
 * layout), live[j] is where channel j goes in an output pixel, and cst (C_out bytes) is the
 * whole output pixel with the constants in place, copied first. With lin (k_live entries),
 * only input channels lin[0 .. k_live) are read: the constant ones are folded into the
 * records' bias_adj by the generator and their weights are not stored (K4' = k_live rounded up
 * to 4). The records must hold every live channel's shift (no generic rule: q is indexed by
 * output channel, not by j). VWW's late pointwise layers: 28-91 % constant outputs, 46-80 %
 * constant inputs. */
MCD_SPECIALISED void mcd_pwconv2d_s8_live(const mcd_conv_params *p, const mcd_dims *in_d, const int8_t *in,
                                          const int8_t *w, const int32_t *rq, int32_t n_live, const uint16_t *live,
                                          const int8_t *cst, int32_t k_live, const uint16_t *lin,
                                          const mcd_dims *out_d, int8_t *out, void *scratch)
{
    mcd_pw_gemm(p, 0, in_d, in, w, rq, 1, n_live, live, cst, lin ? k_live : in_d->c, lin, out_d, out, scratch);
}
#endif
