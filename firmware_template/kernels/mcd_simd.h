/* Packed 16-bit SIMD helpers: the Cortex-M DSP extension's SMLAD / SXTB16 when the target has it,
 * and exact portable C equivalents otherwise, so the same kernel runs (and is tested) on the host,
 * on M4/M7/M33 at full speed, and on M0+.
 *
 * The compiler decides: ACLE's __ARM_FEATURE_DSP is set by -mcpu=cortex-m4 / m7 / m33 / m55 (and
 * not by m0 / m0plus / m3, or m33+nodsp), so the engine built with the core's ordinary -mcpu flag
 * runs the DSP kernels; nothing else is needed. -DMCD_NO_DSP forces the portable C (to compare, or
 * to debug). -DMCD_USE_DSP, which older builds required, is accepted and changes nothing.
 *
 * Weight layout for the packed kernels: int8 weights in groups of four along the reduction axis,
 * stored as (w0, w2, w1, w3). Then sxtb16(word) = (w0, w1) and sxtb16(ror8(word)) = (w2, w3): two
 * instructions widen four weights into the two halfword pairs that SMLAD wants, with no repacking.
 */
#ifndef MCD_SIMD_H
#define MCD_SIMD_H
#include <stdint.h>
#include <string.h>
#include "mcd_common.h"

#if defined(__ARM_FEATURE_DSP) && !defined(MCD_NO_DSP)
#include <arm_acle.h>
#define MCD_HAVE_DSP 1
#else
#define MCD_HAVE_DSP 0
#endif

static inline uint32_t mcd_ld32(const void *p)
{
    uint32_t v;
    memcpy(&v, p, 4); /* one LDR on Cortex-M3+/M4/M7 (unaligned word loads are allowed) */
    return v;
}

static inline void mcd_st32(void *p, uint32_t v) { memcpy(p, &v, 4); }

#if MCD_HAVE_DSP
static inline int32_t mcd_smlad(uint32_t a, uint32_t b, int32_t acc) { return __smlad(a, b, acc); }
static inline uint32_t mcd_sxtb16(uint32_t x) { return __sxtb16(x); }
static inline uint32_t mcd_sxtb16_ror8(uint32_t x)
{
    uint32_t r; /* one instruction; gcc 12's arm_acle.h has no __ror to fold into SXTB16 */
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}
static inline uint32_t mcd_sxtab16(uint32_t a, uint32_t x) { return __sxtab16(a, x); }
static inline uint32_t mcd_sxtab16_ror8(uint32_t a, uint32_t x)
{
    uint32_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(x));
    return r;
}
static inline int32_t mcd_smladx(uint32_t a, uint32_t b, int32_t acc) { return __smladx(a, b, acc); }
#else
static inline int32_t mcd_smlad(uint32_t a, uint32_t b, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)((int32_t)(int16_t)(a & 0xFFFFu) * (int16_t)(b & 0xFFFFu)) +
                     (uint32_t)((int32_t)(int16_t)(a >> 16) * (int16_t)(b >> 16)));
}
static inline uint32_t mcd_sxtb16(uint32_t x)
{
    return ((uint32_t)(uint16_t)(int16_t)(int8_t)(x & 0xFFu)) |
           ((uint32_t)(uint16_t)(int16_t)(int8_t)((x >> 16) & 0xFFu) << 16);
}
static inline uint32_t mcd_sxtb16_ror8(uint32_t x) { return mcd_sxtb16((x >> 8) | (x << 24)); }
/* acc + a.lo * b.hi + a.hi * b.lo */
static inline int32_t mcd_smladx(uint32_t a, uint32_t b, int32_t acc) { return mcd_smlad(a, (b >> 16) | (b << 16), acc); }
/* a + sxtb16(x), lane by lane (16-bit wrap-around, as the instruction) */
static inline uint32_t mcd_sxtab16(uint32_t a, uint32_t x)
{
    const uint32_t s = mcd_sxtb16(x);
    return ((a + s) & 0xFFFFu) | (((a >> 16) + (s >> 16)) << 16);
}
static inline uint32_t mcd_sxtab16_ror8(uint32_t a, uint32_t x) { return mcd_sxtab16(a, (x >> 8) | (x << 24)); }
#endif

/* Halfword packing, one PKHBT / PKHTB each with the DSP extension (gcc 12 does not find them in
 * the C expressions): (a.lo, b.lo), (a.hi, b.hi) and (a.lo, b.hi), low halfword first. */
#if MCD_HAVE_DSP
static inline uint32_t mcd_pack_lo(uint32_t a, uint32_t b)
{
    uint32_t r;
    __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(a), "r"(b));
    return r;
}
static inline uint32_t mcd_pack_hi(uint32_t a, uint32_t b)
{
    uint32_t r;
    __asm__("pkhtb %0, %2, %1, asr #16" : "=r"(r) : "r"(a), "r"(b));
    return r;
}
static inline uint32_t mcd_pack_lo_hi(uint32_t a, uint32_t b)
{
    uint32_t r;
    __asm__("pkhbt %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
}
#else
static inline uint32_t mcd_pack_lo(uint32_t a, uint32_t b) { return (a & 0xFFFFu) | (b << 16); }
static inline uint32_t mcd_pack_hi(uint32_t a, uint32_t b) { return (a >> 16) | (b & 0xFFFF0000u); }
static inline uint32_t mcd_pack_lo_hi(uint32_t a, uint32_t b) { return (a & 0xFFFFu) | (b & 0xFFFF0000u); }
#endif

/* Four taps of two output pixels: the int16 columns a and b (four values each) against four int8
 * weights already widened into the pairs w01 = (w0, w1) and w23 = (w2, w3): one weight word feeds
 * four SMLADs. The step of the convolutions' GEMM loops (conv2d_s8.c, mcd_lowbit_s8.h). */
static inline void mcd_smlad4x2(const int16_t *a, const int16_t *b, uint32_t w01, uint32_t w23, int32_t *sa,
                                int32_t *sb)
{
    *sa = mcd_smlad(mcd_ld32(a + 2), w23, mcd_smlad(mcd_ld32(a), w01, *sa));
    *sb = mcd_smlad(mcd_ld32(b + 2), w23, mcd_smlad(mcd_ld32(b), w01, *sb));
}

/* dst[i] = src[i] + off (int8 -> int16), four at a time: SXTAB16 widens bytes 0,2 and 1,3 and
 * adds the offset to both lanes; the two halfword pairs are then put back in natural order. */
static inline void mcd_widen_s8(const int8_t *src, int16_t *dst, int32_t n, int32_t off)
{
    const uint32_t off2 = ((uint32_t)(uint16_t)off) | ((uint32_t)(uint16_t)off << 16);
    const int32_t n4 = n & ~3;
    int32_t i;
    for (i = 0; i < n4; i += 4) {
        const uint32_t x = mcd_ld32(src + i);
        const uint32_t a = mcd_sxtab16(off2, x);                         /* (x0, x2) + off */
        const uint32_t b = mcd_sxtab16_ror8(off2, x);                    /* (x1, x3) + off */
        mcd_st32(dst + i, mcd_pack_lo(a, b));                            /* (x0, x1) */
        mcd_st32(dst + i + 2, mcd_pack_hi(a, b));                        /* (x2, x3) */
    }
    for (; i < n; i++) dst[i] = (int16_t)(src[i] + off);
}

/* dst[0 .. n) = v, a word (two values) a store where dst allows. */
static inline void mcd_fill16(int16_t *dst, int32_t n, int32_t v)
{
    const uint32_t v2 = (uint32_t)(uint16_t)(int16_t)v * 0x00010001u;
    int16_t *const end = dst + n;
    if (n > 0 && ((uintptr_t)dst & 2)) *dst++ = (int16_t)v;
    for (; end - dst >= 8; dst += 8) {
        mcd_st32(dst, v2);
        mcd_st32(dst + 2, v2);
        mcd_st32(dst + 4, v2);
        mcd_st32(dst + 6, v2);
    }
    for (; end - dst >= 2; dst += 2) mcd_st32(dst, v2);
    if (dst < end) *dst = (int16_t)v;
}

static inline void mcd_zero16(int16_t *dst, int32_t n) { mcd_fill16(dst, n, 0); }

/* Requantize with the rule of mcd_common.h, faster when total shift >= 32 (the usual case):
 * floor(v / 2^32) then an arithmetic shift equals floor(v / 2^total), so only the high word of
 * the 64-bit product-plus-rounding is shifted. */
static inline int32_t mcd_requant_single_fast(int32_t acc, int32_t mult, int32_t shift)
{
    const int64_t v = (int64_t)acc * mult + ((int64_t)1 << (30 + shift));
    if (shift >= 1) return (int32_t)(v >> 32) >> (shift - 1);
    {   /* total = 31 + shift <= 31: the result is the low word of v >> total, unless it saturates */
        const int64_t r = v >> (31 + shift);
        return r > INT32_MAX ? INT32_MAX : (r < INT32_MIN ? INT32_MIN : (int32_t)r);
    }
}

/* The engine's rule (MCD_ROUNDING_DOUBLE, mcd_common.h) for convolutions and the rest... */
static inline int32_t mcd_requant_fast(int32_t acc, int32_t mult, int32_t shift)
{
#if MCD_ROUNDING_DOUBLE
    return mcd_requant_double(acc, mult, shift);
#else
    return mcd_requant_single_fast(acc, mult, shift);
#endif
}

/* ... and the fully-connected kernels' own (MCD_ROUNDING_DOUBLE_FC): LiteRT's reference kernels
 * round FULLY_CONNECTED once and convolutions twice, and an imported graph follows them. */
static inline int32_t mcd_requant_fc(int32_t acc, int32_t mult, int32_t shift)
{
#if MCD_ROUNDING_DOUBLE_FC
    return mcd_requant_double(acc, mult, shift);
#else
    return mcd_requant_single_fast(acc, mult, shift);
#endif
}

/* Requantization records (docs/contracts.md, `rq`; the generator's codegen/kernels.py:
 * rq_records), shared by the convolution, pointwise and depthwise kernels: per output channel
 * (bias_adj, mult, cz, s) with s = shift - 1 and the output zero point folded in, so that
 * mcd_common.h's rule plus the zero point is ONE multiply-accumulate of the high word and one shift:
 *   y = SMMLA(acc, mult, cz) >> s,   cz = 2^(s-1) + zp * 2^s,   s >= 1
 * (floor((H + frac + 2^(s-1)) / 2^s) = floor((H + 2^(s-1)) / 2^s) for the high word H of
 * acc * mult: the low word never changes the result when shift >= 2; |H + cz| < 2^31 for
 * s <= 22.) The generator writes s = -1 when a layer's shifts do not fit (shift < 2 or > 23) and
 * passes the kernels fast = 0; they then use the generic rule (mcd_rq_out_generic).
 *
 * Under MCD_ROUNDING_DOUBLE the records hold the double rule: s = shift, cz = 2^(s-1) + zp * 2^s,
 *   h = SMMULR(2 * acc, mult)             = round(acc * mult / 2^31), ties toward +inf: the
 *                                           doubling high multiply, exact while |acc| < 2^30
 *   y = (h + cz + (h >> 31)) >> s         the divide by 2^s, ties away from zero (a negative h
 *                                           rounds down one more on a tie), plus the zero point
 * The generator writes s = -1 (fast = 0) unless 1 <= shift <= 21 and the layer's weights and
 * bias bound every |acc| below 2^30 (codegen/kernels.py: rq_fits). */
#if MCD_HAVE_DSP
static inline int32_t mcd_sat8(int32_t v) { return __ssat(v, 8); }
static inline int32_t mcd_smmla(int32_t a, int32_t b, int32_t c)
{
    int32_t r;
    __asm__("smmla %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(c));
    return r;
}
static inline int32_t mcd_smmulr(int32_t a, int32_t b)
{
    int32_t r;
    __asm__("smmulr %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
}
static inline int32_t mcd_smmlar(int32_t a, int32_t b, int32_t c)
{
    int32_t r;
    __asm__("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(c));
    return r;
}
#else
static inline int32_t mcd_sat8(int32_t v) { return v < -128 ? -128 : (v > 127 ? 127 : v); }
static inline int32_t mcd_smmla(int32_t a, int32_t b, int32_t c) { return c + (int32_t)(((int64_t)a * b) >> 32); }
static inline int32_t mcd_smmulr(int32_t a, int32_t b) { return (int32_t)(((int64_t)a * b + 0x80000000LL) >> 32); }
static inline int32_t mcd_smmlar(int32_t a, int32_t b, int32_t c)
{
    return (int32_t)((uint32_t)c + (uint32_t)(int32_t)(((int64_t)a * b + 0x80000000LL) >> 32));
}
#endif

static inline int8_t mcd_rq_out(int32_t acc, int32_t mult, int32_t cz, int32_t s, int32_t lo, int32_t hi)
{
#if MCD_ROUNDING_DOUBLE
    const int32_t h = mcd_smmulr((int32_t)((uint32_t)acc << 1), mult);
    const int32_t y = mcd_sat8((h + cz + (h >> 31)) >> s);
#else
    const int32_t y = mcd_sat8(mcd_smmla(acc, mult, cz) >> s);
#endif
    if (lo <= -128 && hi >= 127) return (int8_t)y;
    return (int8_t)(y < lo ? lo : (y > hi ? hi : y));
}

/* mcd_rq_out's double rule in two instructions fewer, for a layer whose clamp starts at or above
 * the output zero point (act_min >= zp: ReLU, ReLU6, and a full int8 range with zp = -128), from
 * acc2 = 2 * acc (the caller doubles weights and bias, so the accumulator is built doubled):
 *   y = SMMLAR(acc2, mult, cz) >> s = (h + cz) >> s,   h = round(acc * mult / 2^31) as above.
 * For h >= 0 this is mcd_rq_out's (h + cz + (h >> 31)) >> s term for term. For h < 0 the two
 * differ only on a tie of the divide by 2^s (half up here, half away from zero there), but both
 * are then <= zp: (h + 2^(s-1)) >> s <= (2^(s-1) - 1) >> s = 0 for s >= 1. So both clamp to
 * act_min, and the int8 output is the same for every acc (tests/test_dw_pw_kernels.py checks it
 * exhaustively on ties and edges). */
static inline int8_t mcd_rq_out_dbl_relu(int32_t acc2, int32_t mult, int32_t cz, int32_t s, int32_t lo, int32_t hi)
{
    const int32_t y = mcd_sat8(mcd_smmlar(acc2, mult, cz) >> s);
    if (lo <= -128 && hi >= 127) return (int8_t)y;
    return (int8_t)(y < lo ? lo : (y > hi ? hi : y));
}

/* The generic rule (mcd_common.h) + zero point + clamp, for layers whose shifts the records
 * cannot hold. */
static inline int8_t mcd_rq_out_generic(int32_t acc, int32_t mult, int32_t shift, int32_t zp, int32_t lo, int32_t hi)
{
    return mcd_clamp8(mcd_requant_fast(acc, mult, shift) + zp, lo, hi);
}

/* Output channel o of a layer with records rq [O][4]: the records' rule when fast, else the
 * generic one from q. */
MCD_SPECIALISED int8_t mcd_rq_channel(int32_t acc, const int32_t *rq, int32_t o, const mcd_channel_quant *q,
                                      const mcd_conv_params *p, int32_t fast)
{
    return fast ? mcd_rq_out(acc, rq[4 * o + 1], rq[4 * o + 2], rq[4 * o + 3], p->act_min, p->act_max)
                : mcd_rq_out_generic(acc, q->mult[o], q->shift[o], p->out_zp, p->act_min, p->act_max);
}
/* mcd_rq_channel with the double rule's cheaper form wherever the layer allows it: under
 * MCD_ROUNDING_DOUBLE, a records layer (fast) whose clamp starts at or above the output zero point
 * (p->act_min >= p->out_zp: ReLU, ReLU6, VWW's and KWS's layers) takes mcd_rq_out_dbl_relu of
 * 2 * acc (LSL, SMMLAR, shift, SSAT: two instructions fewer than mcd_rq_out), else it is
 * mcd_rq_channel. Same int8 for every acc (see mcd_rq_out_dbl_relu); p is a literal struct at the
 * generated call site, so the test folds away. For the kernels that requantize one output per
 * few MACs (pointwise on few input channels): a drop-in for mcd_rq_channel. */
MCD_SPECIALISED int8_t mcd_rq_channel_zc(int32_t acc, const int32_t *rq, int32_t o, const mcd_channel_quant *q,
                                         const mcd_conv_params *p, int32_t fast)
{
#if MCD_ROUNDING_DOUBLE
    if (fast && p->act_min >= p->out_zp)
        return mcd_rq_out_dbl_relu((int32_t)((uint32_t)acc << 1), rq[4 * o + 1], rq[4 * o + 2], rq[4 * o + 3],
                                   p->act_min, p->act_max);
#endif
    return mcd_rq_channel(acc, rq, o, q, p, fast);
}
#endif
