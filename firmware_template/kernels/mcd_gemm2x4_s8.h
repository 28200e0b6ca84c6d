/* The 2x4 register-blocked GEMM step of the dense convolution (conv2d_s8.c): two output pixels
 * against four output channels, a pair of taps (k, k+1) at a time.
 *
 *     mcd_dot2x4(col, w, k4, s);   // s[r] += a . w_r, s[4 + r] += b . w_r, r = 0..3
 *
 * col: the two pixels' int16 im2col columns interleaved a word (two taps) at a time
 * (a01, b01, a23, b23, ...; mcd_im2col_pair in mcd_im2col_s8.h). w: four int8 weight rows as two
 * row pairs, word by word: per tap pair (r0[k], r1[k], r0[k+1], r1[k+1]),
 * (r2[k], r3[k], r2[k+1], r3[k+1]) (codegen/kernels.py: pack_pairs), so SXTB16 of a word gives
 * row 0's pair and SXTB16 ROR 8 row 1's. A weight word feeds four SMLADs (the 2x2 kernel's fed
 * two per SXTB16 pair of a row): per 16 MACs 2 column loads, 2 weight loads, 4 SXTB16, 8 SMLAD,
 * ~18 cycles against ~20.
 */
#ifndef MCD_GEMM2X4_S8_H
#define MCD_GEMM2X4_S8_H

#include "mcd_simd.h"

#if MCD_HAVE_DSP && defined(__OPTIMIZE__) /* 14 registers: not without optimisation (frame pointer) */
/* One tap pair of both pixels and all four rows: 8 accumulators, a, b, two temporaries and the two
 * pointers are the 14 allocatable registers, so the loop's end is read from the stack into a
 * (dead at the end of a step). */
#define MCD_DOT2X4_STEP                                                                                       \
    "ldr %[a], [%[c]], #4\n\t"                                                                               \
    "ldr %[b], [%[c]], #4\n\t"                                                                               \
    "ldr %[t0], [%[w]], #4\n\t"                                                                              \
    "sxtb16 %[t1], %[t0]\n\t"                                                                                \
    "sxtb16 %[t0], %[t0], ror #8\n\t"                                                                        \
    "smlad %[a0], %[a], %[t1], %[a0]\n\t"                                                                    \
    "smlad %[b0], %[b], %[t1], %[b0]\n\t"                                                                    \
    "smlad %[a1], %[a], %[t0], %[a1]\n\t"                                                                    \
    "smlad %[b1], %[b], %[t0], %[b1]\n\t"                                                                    \
    "ldr %[t0], [%[w]], #4\n\t"                                                                              \
    "sxtb16 %[t1], %[t0]\n\t"                                                                                \
    "sxtb16 %[t0], %[t0], ror #8\n\t"                                                                        \
    "smlad %[a2], %[a], %[t1], %[a2]\n\t"                                                                    \
    "smlad %[b2], %[b], %[t1], %[b2]\n\t"                                                                    \
    "smlad %[a3], %[a], %[t0], %[a3]\n\t"                                                                    \
    "smlad %[b3], %[b], %[t0], %[b3]\n\t"
#define MCD_DOT2X4_OPERANDS                                                                                   \
    : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [b0] "+r"(b0), [b1] "+r"(b1),             \
      [b2] "+r"(b2), [b3] "+r"(b3), [c] "+r"(c), [w] "+r"(w), [a] "=&r"(ta), [b] "=&r"(tb), [t0] "=&r"(t0),  \
      [t1] "=&r"(t1)                                                                                         \
    : [end] "m"(end)                                                                                         \
    : "cc", "memory"
#endif

MCD_SPECIALISED void mcd_dot2x4(const int16_t *col, const int8_t *w, int32_t k4, int32_t s[8])
{
    const int16_t *c = col;
    const int16_t *end = col + 2 * k4;
    int32_t a0 = s[0], a1 = s[1], a2 = s[2], a3 = s[3], b0 = s[4], b1 = s[5], b2 = s[6], b3 = s[7];
#if MCD_HAVE_DSP && defined(__OPTIMIZE__)
    /* four tap pairs a loop pass (the end load, compare and taken branch: ~6 cycles); k4 is a
     * multiple of 4, so two pairs first when it is not one of 8 */
    uint32_t ta, tb, t0, t1;
    if (k4 & 4) __asm__ volatile(MCD_DOT2X4_STEP MCD_DOT2X4_STEP MCD_DOT2X4_OPERANDS);
    if (k4 & 8) __asm__ volatile(MCD_DOT2X4_STEP MCD_DOT2X4_STEP MCD_DOT2X4_STEP MCD_DOT2X4_STEP MCD_DOT2X4_OPERANDS);
    if (c < end)
        __asm__ volatile("1:\n\t" MCD_DOT2X4_STEP MCD_DOT2X4_STEP MCD_DOT2X4_STEP MCD_DOT2X4_STEP
                         MCD_DOT2X4_STEP MCD_DOT2X4_STEP MCD_DOT2X4_STEP MCD_DOT2X4_STEP
                         "ldr %[a], %[end]\n\tcmp %[c], %[a]\n\tbne 1b\n\t" MCD_DOT2X4_OPERANDS);
#else
    while (c < end) {
        const uint32_t a = mcd_ld32(c), b = mcd_ld32(c + 2), w01 = mcd_ld32(w), w23 = mcd_ld32(w + 4);
        const uint32_t r0 = mcd_sxtb16(w01), r1 = mcd_sxtb16_ror8(w01);
        const uint32_t r2 = mcd_sxtb16(w23), r3 = mcd_sxtb16_ror8(w23);
        a0 = mcd_smlad(a, r0, a0);
        b0 = mcd_smlad(b, r0, b0);
        a1 = mcd_smlad(a, r1, a1);
        b1 = mcd_smlad(b, r1, b1);
        a2 = mcd_smlad(a, r2, a2);
        b2 = mcd_smlad(b, r2, b2);
        a3 = mcd_smlad(a, r3, a3);
        b3 = mcd_smlad(b, r3, b3);
        c += 4;
        w += 8;
    }
#endif
    s[0] = a0;
    s[1] = a1;
    s[2] = a2;
    s[3] = a3;
    s[4] = b0;
    s[5] = b1;
    s[6] = b2;
    s[7] = b3;
}

/* The same for one row pair (the channels past the last block of four): s[0..1] pixel a, s[2..3] b. */
static inline void mcd_dot2x2_pairs(const int16_t *col, const int8_t *w, int32_t k4, int32_t s[4])
{
    const int16_t *c = col, *end = col + 2 * k4;
    int32_t a0 = s[0], a1 = s[1], b0 = s[2], b1 = s[3];
    while (c < end) {
        const uint32_t a = mcd_ld32(c), b = mcd_ld32(c + 2), w01 = mcd_ld32(w);
        const uint32_t r0 = mcd_sxtb16(w01), r1 = mcd_sxtb16_ror8(w01);
        a0 = mcd_smlad(a, r0, a0);
        b0 = mcd_smlad(b, r0, b0);
        a1 = mcd_smlad(a, r1, a1);
        b1 = mcd_smlad(b, r1, b1);
        c += 4;
        w += 4;
    }
    s[0] = a0;
    s[1] = a1;
    s[2] = b0;
    s[3] = b1;
}

#endif
