/* int8 pointwise (1x1, stride 1, no padding, no pool) convolution, HWC: a GEMM straight over the
 * input pixels, out[p][o] = requant(bias[o] + sum_c (in[p][c] - zp) * w[o][c]).
 *
 * Why a separate kernel: a 1x1 conv needs no im2col (a pixel's channels ARE its column), and
 * with few MACs per output (K = C_in) the general path's per-output costs dominate (im2col
 * calls, accumulators stored and reloaded, the generic requantization). Here:
 * - two pixels at a time are widened once to int16 (raw: the zero point is folded into the
 *   generator's bias_adj = bias - zp * sum(w)), then every pair of output channels runs the
 *   2x2 register-blocked SMLAD loop of conv2d_s8.c on them (weights int8 in conv2d's packed
 *   [O][K4] layout, rows interleaved in pairs, widened by SXTB16 in the loop);
 * - each 2x2 block is requantized as soon as it is done, from the generator's per-channel
 *   records rq = (bias_adj, mult, cz, s): one SMMLA and one shift per output (mcd_rq_out).
 * Scratch: two int16 columns of K4, 8 bytes apart (mcd_pwconv2d_s8_scratch_bytes).
 */
#include "mcd_kernels.h"
#include "mcd_dwconv2d_s8.h"

/* col_b does not start where col_a ends: the loop's end pointer must not equal b's start, or
 * the compiler may give the two asm operands one register. */
int32_t mcd_pwconv2d_s8_scratch_bytes(int32_t c_in) { return (2 * ((c_in + 3) & ~3) + 4) * 2; }

static void widen_raw(const int8_t *src, int16_t *dst, int32_t k, int32_t k4)
{
    mcd_widen_s8(src, dst, k, 0);
    mcd_zero16(dst + k, k4 - k);
}

static inline int8_t pw_out(const mcd_conv_params *p, const mcd_channel_quant *q, const int32_t *rq, int32_t o,
                            int32_t acc, int32_t fast)
{
    if (fast) return mcd_rq_out(acc, rq[4 * o + 1], rq[4 * o + 2], rq[4 * o + 3], p->act_min, p->act_max);
    return mcd_dw_out(acc, q->mult[o], q->shift[o], p->out_zp, p->act_min, p->act_max);
}

void mcd_pwconv2d_s8(const mcd_conv_params *p, const mcd_channel_quant *q, const mcd_dims *in_d, const int8_t *in,
                     const int8_t *w, const int32_t *rq, const mcd_dims *out_d, int8_t *out, void *scratch)
{
    const int32_t k = in_d->c, k4 = (k + 3) & ~3, c_out = out_d->c, n = out_d->h * out_d->w;
    const int32_t fast = rq[3] >= 0;
    int16_t *col_a = (int16_t *)scratch, *col_b = col_a + k4 + 4;
    int32_t i, o;
    for (i = 0; i < n; i += 2) {
        const int32_t two = i + 1 < n;
        int8_t *da = out + i * c_out, *db = da + c_out;
        widen_raw(in + i * k, col_a, k, k4);
        widen_raw(in + (two ? i + 1 : i) * k, col_b, k, k4);
        for (o = 0; o + 2 <= c_out; o += 2) {
            const int8_t *wp = w + o * k4;
            const int16_t *a = col_a, *b = col_b, *aend = col_a + k4;
            int32_t s00 = rq[4 * o], s01 = rq[4 * o + 4], s10 = s00, s11 = s01;
#if MCD_HAVE_DSP && defined(__OPTIMIZE__) /* 14 registers: not without optimisation (frame pointer) */
            uint32_t t0, t1, t2, t3, t4, t5;
            __asm__ volatile(
                "1:\n\t"
                "ldr %[t0], [%[a]], #4\n\t"
                "ldr %[t1], [%[a]], #4\n\t"
                "ldr %[t2], [%[b]], #4\n\t"
                "ldr %[t3], [%[b]], #4\n\t"
                "ldr %[t4], [%[w]], #4\n\t"
                "sxtb16 %[t5], %[t4]\n\t"
                "sxtb16 %[t4], %[t4], ror #8\n\t"
                "smlad %[s00], %[t0], %[t5], %[s00]\n\t"
                "smlad %[s10], %[t2], %[t5], %[s10]\n\t"
                "smlad %[s00], %[t1], %[t4], %[s00]\n\t"
                "smlad %[s10], %[t3], %[t4], %[s10]\n\t"
                "ldr %[t4], [%[w]], #4\n\t"
                "sxtb16 %[t5], %[t4]\n\t"
                "sxtb16 %[t4], %[t4], ror #8\n\t"
                "smlad %[s01], %[t0], %[t5], %[s01]\n\t"
                "smlad %[s11], %[t2], %[t5], %[s11]\n\t"
                "smlad %[s01], %[t1], %[t4], %[s01]\n\t"
                "smlad %[s11], %[t3], %[t4], %[s11]\n\t"
                "cmp %[a], %[end]\n\t"
                "bne 1b\n\t"
                : [s00] "+r"(s00), [s01] "+r"(s01), [s10] "+r"(s10), [s11] "+r"(s11), [a] "+r"(a), [b] "+r"(b),
                  [w] "+r"(wp), [t0] "=&r"(t0), [t1] "=&r"(t1), [t2] "=&r"(t2), [t3] "=&r"(t3), [t4] "=&r"(t4),
                  [t5] "=&r"(t5)
                : [end] "r"(aend)
                : "cc", "memory");
#else
            while (a < aend) {
                const uint32_t wa = mcd_ld32(wp), wb = mcd_ld32(wp + 4);
                const uint32_t a01 = mcd_ld32(a), a23 = mcd_ld32(a + 2), b01 = mcd_ld32(b), b23 = mcd_ld32(b + 2);
                const uint32_t wa01 = mcd_sxtb16(wa), wa23 = mcd_sxtb16_ror8(wa);
                const uint32_t wb01 = mcd_sxtb16(wb), wb23 = mcd_sxtb16_ror8(wb);
                s00 = mcd_smlad(a23, wa23, mcd_smlad(a01, wa01, s00));
                s01 = mcd_smlad(a23, wb23, mcd_smlad(a01, wb01, s01));
                s10 = mcd_smlad(b23, wa23, mcd_smlad(b01, wa01, s10));
                s11 = mcd_smlad(b23, wb23, mcd_smlad(b01, wb01, s11));
                wp += 8;
                a += 4;
                b += 4;
            }
#endif
            da[o] = pw_out(p, q, rq, o, s00, fast);
            da[o + 1] = pw_out(p, q, rq, o + 1, s01, fast);
            if (two) {
                db[o] = pw_out(p, q, rq, o, s10, fast);
                db[o + 1] = pw_out(p, q, rq, o + 1, s11, fast);
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
            da[o] = pw_out(p, q, rq, o, sa, fast);
            if (two) db[o] = pw_out(p, q, rq, o, sb, fast);
        }
    }
}
