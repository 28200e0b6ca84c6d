/* The 2x2 register-blocked int8 x int16 dot product shared by the convolution GEMM (conv2d_s8.c)
 * and the pointwise kernel (mcd_pwconv2d_s8.h).
 *
 *     mcd_dot2x2(a, b, w, k4, s);
 *     // s[0] += a . w0   s[1] += a . w1   s[2] += b . w0   s[3] += b . w1
 *
 * a, b: two int16 columns of k4 values (k4 a multiple of 4, > 0). w: two int8 weight rows of k4,
 * interleaved a word (four weights) of each at a time, packed by the generator so that SXTB16 of
 * a word lines up with the columns' int16 pairs (docs/contracts.md, the conv2d weight layout).
 * Static inline: each caller keeps its four sums in registers across the call.
 */
#ifndef MCD_GEMM_S8_H
#define MCD_GEMM_S8_H

#include "mcd_simd.h"

#if MCD_HAVE_DSP && defined(__OPTIMIZE__) /* 14 registers: not without optimisation (frame pointer) */
/* One step of 16 MACs (four values of each column against four of each weight row), hand-scheduled
 * for the M4: 4 accumulators, 3 pointers, the end and 6 temporaries fit the 14 allocatable
 * registers exactly (gcc spills accumulators here); loads are grouped so they pipeline (1 cycle
 * after the first). 6 loads, 4 SXTB16, 8 SMLAD. */
#define MCD_DOT2X2_STEP                                                                                       \
    "ldr %[t0], [%[a]], #4\n\t"                                                                              \
    "ldr %[t1], [%[a]], #4\n\t"                                                                              \
    "ldr %[t2], [%[b]], #4\n\t"                                                                              \
    "ldr %[t3], [%[b]], #4\n\t"                                                                              \
    "ldr %[t4], [%[w]], #4\n\t"                                                                              \
    "sxtb16 %[t5], %[t4]\n\t"                                                                                \
    "sxtb16 %[t4], %[t4], ror #8\n\t"                                                                        \
    "smlad %[s00], %[t0], %[t5], %[s00]\n\t"                                                                 \
    "smlad %[s10], %[t2], %[t5], %[s10]\n\t"                                                                 \
    "smlad %[s00], %[t1], %[t4], %[s00]\n\t"                                                                 \
    "smlad %[s10], %[t3], %[t4], %[s10]\n\t"                                                                 \
    "ldr %[t4], [%[w]], #4\n\t"                                                                              \
    "sxtb16 %[t5], %[t4]\n\t"                                                                                \
    "sxtb16 %[t4], %[t4], ror #8\n\t"                                                                        \
    "smlad %[s01], %[t0], %[t5], %[s01]\n\t"                                                                 \
    "smlad %[s11], %[t2], %[t5], %[s11]\n\t"                                                                 \
    "smlad %[s01], %[t1], %[t4], %[s01]\n\t"                                                                 \
    "smlad %[s11], %[t3], %[t4], %[s11]\n\t"
#define MCD_DOT2X2_OPERANDS                                                                                   \
    : [s00] "+r"(s00), [s01] "+r"(s01), [s10] "+r"(s10), [s11] "+r"(s11), [a] "+r"(a), [b] "+r"(b),         \
      [w] "+r"(w), [t0] "=&r"(t0), [t1] "=&r"(t1), [t2] "=&r"(t2), [t3] "=&r"(t3), [t4] "=&r"(t4),           \
      [t5] "=&r"(t5)                                                                                         \
    : [end] "r"(aend)                                                                                        \
    : "cc", "memory"
#endif

static inline void mcd_dot2x2(const int16_t *a, const int16_t *b, const int8_t *w, int32_t k4, int32_t s[4])
{
    const int16_t *aend = a + k4;
    int32_t s00 = s[0], s01 = s[1], s10 = s[2], s11 = s[3];
#if MCD_HAVE_DSP && defined(__OPTIMIZE__)
    /* Two steps a loop pass (the compare and the taken branch cost 4 cycles: 18 % of a step);
     * an odd step first. */
    uint32_t t0, t1, t2, t3, t4, t5;
    if (k4 & 4) __asm__ volatile(MCD_DOT2X2_STEP MCD_DOT2X2_OPERANDS);
    if (a < aend) __asm__ volatile("1:\n\t" MCD_DOT2X2_STEP MCD_DOT2X2_STEP "cmp %[a], %[end]\n\tbne 1b\n\t"
                                   MCD_DOT2X2_OPERANDS);
#else
    while (a < aend) {
        const uint32_t wa = mcd_ld32(w), wb = mcd_ld32(w + 4);
        const uint32_t a01 = mcd_ld32(a), a23 = mcd_ld32(a + 2), b01 = mcd_ld32(b), b23 = mcd_ld32(b + 2);
        const uint32_t wa01 = mcd_sxtb16(wa), wa23 = mcd_sxtb16_ror8(wa);
        const uint32_t wb01 = mcd_sxtb16(wb), wb23 = mcd_sxtb16_ror8(wb);
        s00 = mcd_smlad(a23, wa23, mcd_smlad(a01, wa01, s00));
        s01 = mcd_smlad(a23, wb23, mcd_smlad(a01, wb01, s01));
        s10 = mcd_smlad(b23, wa23, mcd_smlad(b01, wa01, s10));
        s11 = mcd_smlad(b23, wb23, mcd_smlad(b01, wb01, s11));
        w += 8;
        a += 4;
        b += 4;
    }
#endif
    s[0] = s00;
    s[1] = s01;
    s[2] = s10;
    s[3] = s11;
}

#endif
