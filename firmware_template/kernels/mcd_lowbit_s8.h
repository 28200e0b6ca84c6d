/* Low-bit weights (ternary in 2 bits, int4 in 4 bits) unpacked in registers to int16 pairs for
 * SMLAD: the int8-equivalent weights of the layer (q in [-1, 1] or [-7, 7], see quantize.py
 * quantize_lowbit_weights_and_bias), so the arithmetic is the dense kernels' exactly.
 *
 * Packing (mcudeploy/codegen/kernels.py pack_lowbit): a row of K weights is zero padded to whole
 * 32-bit words of 32 / bits weights (16 for bits = 2, 8 for bits = 4).
 * Within a word, weight 4j + m (m = 0..3) is a two's complement field of `bits` bits whose top
 * bit is bit 8L + 7 - bits * j of byte lane L = (0, 2, 1, 3)[m]. Then (v << bits * j) & MASK puts
 * field j of every byte at the byte's top: SXTB16 gives (w[4j], w[4j+1]) * 2^(8 - bits) and
 * SXTB16 ROR 8 gives (w[4j+2], w[4j+3]) * 2^(8 - bits), lined up with two int16 input pairs.
 * Decode costs one shift-and-mask (one instruction with a shifted operand) and two SXTB16 per four
 * weights, no table. Sums carry the factor 2^(8 - bits) (exact: every product is a multiple of
 * it) and are shifted back once per output; |sum| < 2^31 holds for K < 2^31 / (128 * 128).
 */
#ifndef MCD_LOWBIT_S8_H
#define MCD_LOWBIT_S8_H
#include "mcd_simd.h"

#define MCD_LB_MASK(bits) ((bits) == 2 ? 0xC0C0C0C0u : 0xF0F0F0F0u)
#define MCD_LB_PER_WORD(bits) (32 / (bits))

/* kp = k rounded up to a whole number of words */
static inline int32_t mcd_lb_kp(int32_t bits, int32_t k)
{
    const int32_t g = MCD_LB_PER_WORD(bits);
    return (k + g - 1) / g * g;
}

/* sa += a . w * 2^(8-bits), sb += b . w * 2^(8-bits) over nw packed words (a, b: int16 columns) */
static inline void mcd_lb_dot2(int32_t bits, const int16_t *a, const int16_t *b, const uint32_t *w, int32_t nw,
                               int32_t *sa, int32_t *sb)
{
    const uint32_t m = MCD_LB_MASK(bits);
    int32_t s0 = *sa, s1 = *sb, j;
    while (nw--) {
        const uint32_t v = *w++;
        for (j = 0; j < 8 / bits; j++) {
            const uint32_t u = (v << (bits * j)) & m;
            mcd_smlad4x2(a, b, mcd_sxtb16(u), mcd_sxtb16_ror8(u), &s0, &s1);
            a += 4;
            b += 4;
        }
    }
    *sa = s0;
    *sb = s1;
}

/* s += x . w * 2^(8-bits) over nw packed words */
static inline int32_t mcd_lb_dot(int32_t bits, const int16_t *x, const uint32_t *w, int32_t nw, int32_t s)
{
    const uint32_t m = MCD_LB_MASK(bits);
    int32_t j;
    while (nw--) {
        const uint32_t v = *w++;
        for (j = 0; j < 8 / bits; j++) {
            const uint32_t u = (v << (bits * j)) & m;
            s = mcd_smlad(mcd_ld32(x), mcd_sxtb16(u), s);
            s = mcd_smlad(mcd_ld32(x + 2), mcd_sxtb16_ror8(u), s);
            x += 4;
        }
    }
    return s;
}

#endif
