/* int8 fully-connected layer: the input, offset by its zero point, is widened once to int16 in
 * scratch; four weight rows at a time are then widened with SXTB16 and accumulated with SMLAD
 * (two MACs an instruction on M4/M7/M33; exact portable C elsewhere, see mcd_simd.h).
 * Weights come packed from the generator: [out_n][K4], K4 = in_n rounded up to 4, zero padded,
 * groups of four stored (w0, w2, w1, w3), and rows interleaved by blocks of four (row0 group0,
 * row1 group0, row2 group0, row3 group0, row0 group1, ...) so one pointer walks a block: fewer
 * live registers, no spills in the inner loop. Scratch: mcd_fc_s8_scratch_bytes(in_n).
 * Rows past the last block of four go two at a time, then one.
 * Shape-specialised: static inline, included by the generated model.c, so each call site's
 * constant sizes let the compiler drop the loop bookkeeping it does not need. */
#ifndef MCD_FC_S8_H
#define MCD_FC_S8_H
#include "mcd_kernels.h"
#include "mcd_simd.h"

static inline int32_t mcd_fc_s8_scratch_bytes(int32_t in_n) { return ((in_n + 3) & ~3) * 2; }

#if MCD_HAVE_DSP && defined(__OPTIMIZE__)
/* The four rows of a block against x in hand-scheduled steps of 8 inputs (32 MACs): four input
 * pairs loaded back to back (the loads pipeline: 5 cycles), the block's eight weight words two at
 * a time (a pair of LDRs: 3 cycles), SXTB16 of each, 16 SMLAD; ~53 cycles a step. gcc's loop
 * reloaded the end pointer every pass and split the input loads (~62 cycles for the same 32
 * MACs). 4 sums, 4 inputs, 3 temporaries, 3 pointers: the 14 allocatable registers. Runs the
 * whole steps of 8 and leaves xp, wp after them (an odd group of four is left to the C loop). */
#define MCD_FC_ROWS2(sA, sB, x01, x23)                                                                      \
    "ldr %[v], [%[w]], #4\n\t"                                                                             \
    "ldr %[u], [%[w]], #4\n\t"                                                                             \
    "sxtb16 %[t], %[v]\n\t"                                                                                \
    "smlad %[" sA "], %[" x01 "], %[t], %[" sA "]\n\t"                                                     \
    "sxtb16 %[v], %[v], ror #8\n\t"                                                                        \
    "smlad %[" sA "], %[" x23 "], %[v], %[" sA "]\n\t"                                                     \
    "sxtb16 %[t], %[u]\n\t"                                                                                \
    "smlad %[" sB "], %[" x01 "], %[t], %[" sB "]\n\t"                                                     \
    "sxtb16 %[u], %[u], ror #8\n\t"                                                                        \
    "smlad %[" sB "], %[" x23 "], %[u], %[" sB "]\n\t"
#define MCD_FC_STEP                                                                                         \
    "ldr %[x0], [%[x]], #4\n\t"                                                                            \
    "ldr %[x1], [%[x]], #4\n\t"                                                                            \
    "ldr %[x2], [%[x]], #4\n\t"                                                                            \
    "ldr %[x3], [%[x]], #4\n\t"                                                                            \
    MCD_FC_ROWS2("s0", "s1", "x0", "x1") MCD_FC_ROWS2("s2", "s3", "x0", "x1")                                 \
    MCD_FC_ROWS2("s0", "s1", "x2", "x3") MCD_FC_ROWS2("s2", "s3", "x2", "x3")
#define MCD_FC_OPERANDS                                                                                     \
    : [s0] "+r"(s0), [s1] "+r"(s1), [s2] "+r"(s2), [s3] "+r"(s3), [x] "+r"(xp), [w] "+r"(wp), [x0] "=&r"(x0), \
      [x1] "=&r"(x1), [x2] "=&r"(x2), [x3] "=&r"(x3), [v] "=&r"(v), [u] "=&r"(u), [t] "=&r"(t)               \
    : [end] "r"(xstop)                                                                                      \
    : "cc", "memory"
static inline void mcd_fc_block4(const int16_t **xpp, const int16_t *xend, const int8_t **wpp, int32_t *p0, int32_t *p1,
                                 int32_t *p2, int32_t *p3)
{
    /* two steps a loop pass (the compare and the taken branch: 4 cycles), an odd step first */
    const int16_t *xp = *xpp, *xstop = xp + ((xend - xp) & ~15);
    const int8_t *wp = *wpp;
    int32_t s0 = *p0, s1 = *p1, s2 = *p2, s3 = *p3;
    uint32_t x0, x1, x2, x3, v, u, t;
    if ((xend - xp) & 8) __asm__ volatile(MCD_FC_STEP MCD_FC_OPERANDS);
    xstop += (xend - *xpp) & 8;
    if (xp < xstop) __asm__ volatile("1:\n\t" MCD_FC_STEP MCD_FC_STEP "cmp %[x], %[end]\n\tbne 1b\n\t" MCD_FC_OPERANDS);
    *xpp = xp;
    *wpp = wp;
    *p0 = s0;
    *p1 = s1;
    *p2 = s2;
    *p3 = s3;
}
#endif

static inline int8_t mcd_fc_out(int32_t acc, const mcd_channel_quant *q, int32_t o, int32_t out_zp, int32_t lo,
                                int32_t hi)
{
    return mcd_clamp8(mcd_requant_fc(acc, q->mult[o], q->shift[o]) + out_zp, lo, hi);
}

static inline void mcd_fc_s8(int32_t in_n, const int8_t *in, int32_t out_n, const int8_t *w, const int32_t *bias,
               const mcd_channel_quant *q, int32_t in_zp, int32_t out_zp, int32_t act_min, int32_t act_max,
               int8_t *out, void *scratch)
{
    const int32_t k4 = (in_n + 3) & ~3;
    int16_t *x = (int16_t *)scratch;
    int32_t i, o = 0, k;
    mcd_widen_s8(in, x, in_n, -in_zp);
    for (i = in_n; i < k4; i++) x[i] = 0;
    for (; o + 4 <= out_n; o += 4) {
        const int8_t *wp = w + o * k4;
        const int16_t *xp = x, *xend = x + k4;
        int32_t s0 = bias[o], s1 = bias[o + 1], s2 = bias[o + 2], s3 = bias[o + 3];
#if MCD_HAVE_DSP && defined(__OPTIMIZE__)
        if (k4 >= 16) /* shorter rows: the C loop (the asm's 14 registers cost more spills than it saves) */
            mcd_fc_block4(&xp, xend, &wp, &s0, &s1, &s2, &s3);
#endif
        while (xp < xend) {
            const uint32_t x01 = mcd_ld32(xp), x23 = mcd_ld32(xp + 2);
            uint32_t v = mcd_ld32(wp);
            s0 = mcd_smlad(x01, mcd_sxtb16(v), s0);
            s0 = mcd_smlad(x23, mcd_sxtb16_ror8(v), s0);
            v = mcd_ld32(wp + 4);
            s1 = mcd_smlad(x01, mcd_sxtb16(v), s1);
            s1 = mcd_smlad(x23, mcd_sxtb16_ror8(v), s1);
            v = mcd_ld32(wp + 8);
            s2 = mcd_smlad(x01, mcd_sxtb16(v), s2);
            s2 = mcd_smlad(x23, mcd_sxtb16_ror8(v), s2);
            v = mcd_ld32(wp + 12);
            s3 = mcd_smlad(x01, mcd_sxtb16(v), s3);
            s3 = mcd_smlad(x23, mcd_sxtb16_ror8(v), s3);
            xp += 4;
            wp += 16;
        }
        out[o] = mcd_fc_out(s0, q, o, out_zp, act_min, act_max);
        out[o + 1] = mcd_fc_out(s1, q, o + 1, out_zp, act_min, act_max);
        out[o + 2] = mcd_fc_out(s2, q, o + 2, out_zp, act_min, act_max);
        out[o + 3] = mcd_fc_out(s3, q, o + 3, out_zp, act_min, act_max);
    }
    for (; o + 2 <= out_n; o += 2) { /* rows o, o+1 are row-major here: not in a block of four */
        const int8_t *w0 = w + o * k4, *w1 = w0 + k4;
        const int16_t *xp = x, *xend = x + k4;
        int32_t s0 = bias[o], s1 = bias[o + 1];
        while (xp < xend) {
            const uint32_t x01 = mcd_ld32(xp), x23 = mcd_ld32(xp + 2);
            const uint32_t v0 = mcd_ld32(w0), v1 = mcd_ld32(w1);
            s0 = mcd_smlad(x01, mcd_sxtb16(v0), s0);
            s0 = mcd_smlad(x23, mcd_sxtb16_ror8(v0), s0);
            s1 = mcd_smlad(x01, mcd_sxtb16(v1), s1);
            s1 = mcd_smlad(x23, mcd_sxtb16_ror8(v1), s1);
            xp += 4;
            w0 += 4;
            w1 += 4;
        }
        out[o] = mcd_fc_out(s0, q, o, out_zp, act_min, act_max);
        out[o + 1] = mcd_fc_out(s1, q, o + 1, out_zp, act_min, act_max);
    }
    for (; o < out_n; o++) {
        const int8_t *w0 = w + o * k4;
        int32_t s = bias[o];
        for (k = 0; k < k4; k += 4) {
            const uint32_t v = mcd_ld32(w0 + k);
            s = mcd_smlad(mcd_ld32(x + k), mcd_sxtb16(v), s);
            s = mcd_smlad(mcd_ld32(x + k + 2), mcd_sxtb16_ror8(v), s);
        }
        out[o] = mcd_fc_out(s, q, o, out_zp, act_min, act_max);
    }
}
#endif
