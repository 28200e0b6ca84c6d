/* int8 fully-connected layer, rows in pairs with one byte extraction per four MACs.
 *
 * The input, offset by its zero point, is widened once to int16 in scratch (x, K4 = in_n rounded
 * up to 4, zero padded), and its sum X is kept. The weights come packed by the generator
 * (codegen/fc_pack.py: pack_fc_pairs): rows in pairs (r0, r1) (an odd last row gets a zero
 * partner), per tap pair (k, k+1) one word, bytes (r0[k] + 128, r1[k], r0[k+1] + 128, r1[k+1]):
 * the even row is stored offset by +128 (unsigned), the odd row as is. Then
 *   UXTB16(word) = (r0[k] + 128, r0[k+1] + 128)
 *   word itself  = (r0[k] + 128 + 256 r1[k], r0[k+1] + 128 + 256 r1[k+1])   as two int16 lanes
 * and with the input pair xv = (x[k], x[k+1]) two SMLADs give, summed over the taps,
 *   B = SMLAD(xv, UXTB16(word)) = S0 + 128 X
 *   A = SMLAD(xv, word)         = S0 + 128 X + 256 S1
 * so, starting from B = bias0 - 128 X and A = B + 256 bias1 (everything mod 2^32, as SMLAD wraps):
 *   acc0 = B,  acc1 = (A - B) >> 8   (exact while |bias1 + S1| < 2^23, so that 256 acc1 fits).
 * One LDR, one UXTB16 and two SMLADs per four MACs, against two SXTB16s for the plain layout.
 * The generator checks that bound for every odd row (|bias| + 255 sum|w| < 2^23) and sets
 * MCD_FC_PAIRS_RAW; without it the same layout is read with SXTB16 ROR 8 for the odd row (exact
 * for any weights, one instruction more per four MACs).
 * With MCD_FC_PAIRS_RAW the pairs go in blocks of four (eight rows, interleaved word by word: pair 0
 * tap pair 0, pair 1 tap pair 0, ..., pair 0 tap pair 1, ...) so one pointer streams through flash;
 * pairs past the last block (and every pair without the flag) are stored pair after pair.
 * MCD_FC_RQ_FAST: every shift fits the one-SMMLA requantization (mcd_fc_rq below);
 * MCD_FC_RQ_UNIFORM: every channel has the same (mult, shift), read once.
 * Scratch: mcd_fc_s8_scratch_bytes(in_n). mcd_fc_s8 is static inline, shape-specialised at each
 * call of the generated model.c (its flags and sizes are literals there); the blocks' asm is one
 * shared noinline function (mcd_fc_block8). */
#ifndef MCD_FC_S8_H
#define MCD_FC_S8_H
#include "mcd_kernels.h"
#include "mcd_simd.h"

#define MCD_FC_PAIRS_RAW 1 /* blocks of eight rows, the odd row read from the raw word */
#define MCD_FC_RQ_FAST 2   /* shifts within the one-SMMLA requantization (codegen: rq_fits) */
#define MCD_FC_RQ_UNIFORM 4 /* one (mult, shift) for every channel (per-tensor quantization) */

static inline int32_t mcd_fc_s8_scratch_bytes(int32_t in_n) { return ((in_n + 3) & ~3) * 2; }

#if MCD_HAVE_DSP
static inline uint32_t mcd_fc_uxtb16(uint32_t v) { return __uxtb16(v); }
#else
static inline uint32_t mcd_fc_uxtb16(uint32_t v) { return v & 0x00FF00FFu; }
#endif

/* x[i] = in[i] - zp for i < n, 0 up to k4; returns the sum of x (|sum| <= 255 n). Four inputs a
 * word: SXTAB16 widens bytes 0,2 and 1,3 and adds -zp, the pairs go back in natural order, and
 * SMLAD against (1, 1) adds both lanes to the sum. */
static inline int32_t mcd_fc_widen(const int8_t *in, int16_t *x, int32_t n, int32_t k4, int32_t zp)
{
    const uint32_t off2 = (uint32_t)(uint16_t)(-zp) * 0x00010001u;
    const int32_t n4 = n & ~3;
    int32_t i, sum = 0;
    for (i = 0; i < n4; i += 4) {
        const uint32_t v = mcd_ld32(in + i);
        const uint32_t a = mcd_sxtab16(off2, v), b = mcd_sxtab16_ror8(off2, v); /* (x0, x2), (x1, x3) */
        mcd_st32(x + i, mcd_pack_lo(a, b));
        mcd_st32(x + i + 2, mcd_pack_hi(a, b));
        sum = mcd_smlad(a, 0x00010001u, sum);
        sum = mcd_smlad(b, 0x00010001u, sum);
    }
    for (; i < n; i++) {
        x[i] = (int16_t)(in[i] - zp);
        sum += x[i];
    }
    for (; i < k4; i++) x[i] = 0;
    return sum;
}

/* Output o: mcd_common.h's rule (MCD_ROUNDING_DOUBLE_FC) plus the zero point and the clamp. Fast:
 * the records' arithmetic of mcd_rq_out (mcd_simd.h) with cz = 2^(s-1) + zp 2^s built here from
 * zp2p1 = 2 zp + 1 as (zp2p1 << s) >> 1 (no per-channel table in flash):
 *   single: s = shift - 1, y = SMMLA(acc, mult, cz) >> s                (2 <= shift <= 23)
 *   double: s = shift, h = SMMULR(2 acc, mult), y = (h + cz + (h >> 31)) >> s
 *                                                     (1 <= shift <= 21, |acc| < 2^30)
 * else the generic rule. c is the channel whose (mult, shift) apply: o, or 0 for a layer with
 * one (MCD_FC_RQ_UNIFORM), which the specialised call site then reads once. */
static inline int8_t mcd_fc_rq(int32_t acc, const mcd_channel_quant *q, int32_t c, int32_t out_zp, int32_t lo,
                               int32_t hi, int32_t fast)
{
    if (fast) {
        const int32_t zp2p1 = 2 * out_zp + 1;
#if MCD_ROUNDING_DOUBLE_FC
        const int32_t s = q->shift[c];
        const int32_t cz = (int32_t)((uint32_t)zp2p1 << s) >> 1;
        const int32_t h = mcd_smmulr((int32_t)((uint32_t)acc << 1), q->mult[c]);
        const int32_t y = mcd_sat8((h + cz + (h >> 31)) >> s);
#else
        const int32_t s = q->shift[c] - 1;
        const int32_t cz = (int32_t)((uint32_t)zp2p1 << s) >> 1;
        const int32_t y = mcd_sat8(mcd_smmla(acc, q->mult[c], cz) >> s);
#endif
        if (lo <= -128 && hi >= 127) return (int8_t)y;
        return (int8_t)(y < lo ? lo : (y > hi ? hi : y));
    }
    return mcd_clamp8(mcd_requant_fc(acc, q->mult[c], q->shift[c]) + out_zp, lo, hi);
}

#if MCD_HAVE_DSP && defined(__OPTIMIZE__)
/* One step: two inputs (one int16 pair) against a block's four pair words (16 MACs). The input
 * and two words load back to back (4 cycles), each word feeds SMLAD raw, then in place UXTB16
 * and SMLAD (3 cycles), the other two words load as a pair (3 cycles): 19 cycles. 8 sums, the
 * input pair, 2 temporaries, 2 pointers: 13 registers (with 14, gcc -O3 fails to allocate at
 * some call sites). */
#define MCD_FC_PAIR(a, b, r)                                                                              \
    "smlad %[" a "], %[xv], %[" r "], %[" a "]\n\t"                                                      \
    "uxtb16 %[" r "], %[" r "]\n\t"                                                                       \
    "smlad %[" b "], %[xv], %[" r "], %[" b "]\n\t"
#define MCD_FC_STEP                                                                                       \
    "ldr %[xv], [%[x]], #4\n\t"                                                                          \
    "ldr %[v], [%[w]], #4\n\t"                                                                           \
    "ldr %[u], [%[w]], #4\n\t"                                                                           \
    MCD_FC_PAIR("a0", "b0", "v") MCD_FC_PAIR("a1", "b1", "u")                                             \
    "ldr %[v], [%[w]], #4\n\t"                                                                           \
    "ldr %[u], [%[w]], #4\n\t"                                                                           \
    MCD_FC_PAIR("a2", "b2", "v") MCD_FC_PAIR("a3", "b3", "u")
#define MCD_FC_STEP2 MCD_FC_STEP MCD_FC_STEP
#define MCD_FC_OPERANDS                                                                                   \
    : [a0] "+r"(a0), [b0] "+r"(b0), [a1] "+r"(a1), [b1] "+r"(b1), [a2] "+r"(a2), [b2] "+r"(b2),         \
      [a3] "+r"(a3), [b3] "+r"(b3), [x] "+r"(xp), [w] "+r"(wp), [xv] "=&r"(xv), [v] "+r"(v), [u] "=&r"(u) \
    :                                                                                                     \
    : "cc", "memory"
#endif

/* The sums of rows o .. o+7 (one block, its words at wp) into acc[8]: from the biases (B = bias0 -
 * corr, A = B + 256 bias1, corr = 128 X) over the k4 inputs, then acc0 = B, acc1 = (A - B) >> 8.
 * DSP: the steps above, eight a loop pass (the end pointer waits on the stack: no register is
 * left for it), the k4 mod 16 inputs first. A function of its own (noinline): inlined into a
 * larger one, gcc -O3 sometimes fails to find the asm's 13 registers ("impossible
 * constraints"); the call and acc[] cost a few dozen cycles a block. */
#if MCD_HAVE_DSP && defined(__OPTIMIZE__)
__attribute__((noinline, unused)) static void mcd_fc_block8(const int16_t *x, int32_t k4, const int8_t *wp,
                                                    const int32_t *bias, uint32_t corr, int32_t *acc)
#else
static inline void mcd_fc_block8(const int16_t *x, int32_t k4, const int8_t *wp, const int32_t *bias, uint32_t corr,
                                 int32_t *acc)
#endif
{
    const uint32_t c0 = (uint32_t)bias[0] - corr, c1 = (uint32_t)bias[2] - corr, c2 = (uint32_t)bias[4] - corr,
                   c3 = (uint32_t)bias[6] - corr;
    int32_t b0 = (int32_t)c0, b1 = (int32_t)c1, b2 = (int32_t)c2, b3 = (int32_t)c3;
    int32_t a0 = (int32_t)(c0 + ((uint32_t)bias[1] << 8)), a1 = (int32_t)(c1 + ((uint32_t)bias[3] << 8)),
            a2 = (int32_t)(c2 + ((uint32_t)bias[5] << 8)), a3 = (int32_t)(c3 + ((uint32_t)bias[7] << 8));
#if MCD_HAVE_DSP && defined(__OPTIMIZE__)
    const int16_t *xp = x;
    uint32_t xv, v = 0, u;
    if (k4 & 8) __asm__ volatile(MCD_FC_STEP2 MCD_FC_STEP2 MCD_FC_OPERANDS);
    if (k4 & 4) __asm__ volatile(MCD_FC_STEP2 MCD_FC_OPERANDS);
    if (k4 >= 16) {
        v = (uint32_t)(uintptr_t)(x + k4);
        __asm__ volatile("push {%[v]}\n1:\n\t" MCD_FC_STEP2 MCD_FC_STEP2 MCD_FC_STEP2 MCD_FC_STEP2
                         "ldr %[v], [sp]\n\tcmp %[x], %[v]\n\tbne 1b\n\tadd sp, sp, #4\n\t" MCD_FC_OPERANDS);
    }
#else
    int32_t k;
    for (k = 0; k < k4; k += 2, wp += 16) {
        const uint32_t xv = mcd_ld32(x + k), v0 = mcd_ld32(wp), v1 = mcd_ld32(wp + 4), v2 = mcd_ld32(wp + 8),
                       v3 = mcd_ld32(wp + 12);
        a0 = mcd_smlad(xv, v0, a0);
        b0 = mcd_smlad(xv, mcd_fc_uxtb16(v0), b0);
        a1 = mcd_smlad(xv, v1, a1);
        b1 = mcd_smlad(xv, mcd_fc_uxtb16(v1), b1);
        a2 = mcd_smlad(xv, v2, a2);
        b2 = mcd_smlad(xv, mcd_fc_uxtb16(v2), b2);
        a3 = mcd_smlad(xv, v3, a3);
        b3 = mcd_smlad(xv, mcd_fc_uxtb16(v3), b3);
    }
#endif
    acc[0] = b0, acc[1] = (int32_t)((uint32_t)a0 - (uint32_t)b0) >> 8;
    acc[2] = b1, acc[3] = (int32_t)((uint32_t)a1 - (uint32_t)b1) >> 8;
    acc[4] = b2, acc[5] = (int32_t)((uint32_t)a2 - (uint32_t)b2) >> 8;
    acc[6] = b3, acc[7] = (int32_t)((uint32_t)a3 - (uint32_t)b3) >> 8;
}

static inline void mcd_fc_s8(int32_t in_n, const int8_t *in, int32_t out_n, const int8_t *w, const int32_t *bias,
                             const mcd_channel_quant *q, int32_t in_zp, int32_t out_zp, int32_t act_min,
                             int32_t act_max, int8_t *out, void *scratch, int32_t flags)
{
    const int32_t k4 = (in_n + 3) & ~3, fast = flags & MCD_FC_RQ_FAST, all = !(flags & MCD_FC_RQ_UNIFORM);
    int16_t *x = (int16_t *)scratch;
    const uint32_t corr = (uint32_t)mcd_fc_widen(in, x, in_n, k4, in_zp) * 128u; /* the even rows' +128 */
    const int8_t *wp = w;
    int32_t o = 0, k;
    if (flags & MCD_FC_PAIRS_RAW) {
        int32_t acc[8];
        for (; o + 8 <= out_n; o += 8, wp += 8 * k4) {
            int32_t p;
            mcd_fc_block8(x, k4, wp, bias + o, corr, acc);
            for (p = 0; p < 8; p++) {
                /* per-channel (mult, shift): a loop, not eight copies, which spill (gcc unrolls
                 * it unless told not to); one (mult, shift): unrolled, ~6 cycles an output */
                if (all) __asm__("" : "+r"(p));
                out[o + p] = mcd_fc_rq(acc[p], q, all * (o + p), out_zp, act_min, act_max, fast);
            }
        }
    }
    for (; o < out_n; o += 2) {
        /* pair after pair, two tap pairs a pass (k4 / 2 is even): with MCD_FC_PAIRS_RAW the odd row
         * from the raw word as in the blocks (its bound holds for every odd row), else by SXTB16
         * ROR 8, exact for any weights */
        const uint32_t c0 = (uint32_t)bias[o] - corr;
        int32_t b = (int32_t)c0, c = o + 1 < out_n ? bias[o + 1] : 0;
        if (flags & MCD_FC_PAIRS_RAW) c = (int32_t)(c0 + ((uint32_t)c << 8));
        for (k = 0; k < k4; k += 4, wp += 8) {
            const uint32_t x0 = mcd_ld32(x + k), x1 = mcd_ld32(x + k + 2), v0 = mcd_ld32(wp), v1 = mcd_ld32(wp + 4);
            b = mcd_smlad(x0, mcd_fc_uxtb16(v0), b);
            c = mcd_smlad(x0, flags & MCD_FC_PAIRS_RAW ? v0 : mcd_sxtb16_ror8(v0), c);
            b = mcd_smlad(x1, mcd_fc_uxtb16(v1), b);
            c = mcd_smlad(x1, flags & MCD_FC_PAIRS_RAW ? v1 : mcd_sxtb16_ror8(v1), c);
        }
        if (flags & MCD_FC_PAIRS_RAW) c = (int32_t)((uint32_t)c - (uint32_t)b) >> 8;
        out[o] = mcd_fc_rq(b, q, all * o, out_zp, act_min, act_max, fast);
        if (o + 1 < out_n) out[o + 1] = mcd_fc_rq(c, q, all * (o + 1), out_zp, act_min, act_max, fast);
    }
}
#endif
