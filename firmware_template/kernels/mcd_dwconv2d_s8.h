/* int8 depthwise convolution (channel multiplier 1), HWC: the shape-specialised fast path.
 *
 * Why it is built this way (estimated Cortex-M4 cycles, see tool/mcudeploy/cycles.py):
 *
 * - Borders cost as much as the interior. A depthwise layer of a small map is mostly border (KWS
 *   25x5: 40 % of the output pixels touch the padding), so there is no separate border code: the
 *   k_h input rows an output row reads are copied once into a ring of padded row buffers (the
 *   scratch), the padding filled with the input zero point (which is real zero: x - zp = 0), and
 *   rows above/below the image point at one row of zero points. Every output pixel then runs the
 *   same unrolled k_h x k_w loop, with no bounds tests. Each input row is copied once (the ring
 *   keeps rows that the next output row reuses), one word per load/store.
 * - Four channels a pass: one word load brings channels c..c+3 of a tap; SXTAB16 widens them
 *   minus the zero point into lanes (c0, c2) and, with ROR #8, (c1, c3); the generator stores the
 *   weights pre-widened in the same lane order, so SMLABB / SMLATT feed four accumulators with no
 *   repacking. Weights are grouped per four channels ([C4/4][k_h][k_w][4] int16), so a group's
 *   taps are at constant offsets from one pointer.
 * - Shape-specialised: static inline, included by the generated model.c whose call site passes
 *   literal sizes, so every tap offset (kx * C) is an immediate and the tap loops unroll.
 * - Requantization with the rule of mcd_common.h, shift >= 1 done as one SMLAL on a rounding
 *   constant built from the shift (two shifts), then one arithmetic shift; the ReLU clamp is a
 *   single SSAT where the activation range is the whole int8 range (a compile-time test).
 *
 * A partial last group of channels (C not a multiple of 4) runs the same code: its padding lanes
 * have zero weights and read bytes inside the row buffer (4 spare bytes); only valid lanes are
 * stored. Fused max-pool and kernels taller than MCD_DW_MAX_KH go to the generic (out-of-line)
 * kernel of dwconv2d_s8.c, which reads the same weight layout.
 */
#ifndef MCD_DWCONV2D_S8_H
#define MCD_DWCONV2D_S8_H
#include "mcd_kernels.h"
#include "mcd_simd.h"

#define MCD_DW_MAX_KH 8

#if MCD_HAVE_DSP
static inline int32_t mcd_dw_smlabb(uint32_t a, uint32_t b, int32_t acc) { return __smlabb(a, b, acc); }
static inline int32_t mcd_dw_smlatt(uint32_t a, uint32_t b, int32_t acc) { return __smlatt(a, b, acc); }
static inline uint32_t mcd_dw_sxtab16_ror8(uint32_t a, uint32_t x)
{
    uint32_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(x));
    return r;
}
static inline int32_t mcd_dw_sat8(int32_t v) { return __ssat(v, 8); }
#else
static inline int32_t mcd_dw_smlabb(uint32_t a, uint32_t b, int32_t acc)
{
    return acc + (int32_t)(int16_t)(a & 0xFFFFu) * (int16_t)(b & 0xFFFFu);
}
static inline int32_t mcd_dw_smlatt(uint32_t a, uint32_t b, int32_t acc)
{
    return acc + (int32_t)(int16_t)(a >> 16) * (int16_t)(b >> 16);
}
static inline uint32_t mcd_dw_sxtab16_ror8(uint32_t a, uint32_t x) { return mcd_sxtab16(a, (x >> 8) | (x << 24)); }
static inline int32_t mcd_dw_sat8(int32_t v) { return v < -128 ? -128 : (v > 127 ? 127 : v); }
#endif

/* Requantization from the generator's per-channel record (docs/contracts.md, `rq`):
 * (mult, cz, s) with s = shift - 1 and the output zero point folded in, so that mcd_common.h's
 * rule plus the zero point is ONE multiply-accumulate of the high word and one shift:
 *   y = SMMLA(acc, mult, cz) >> s,   cz = 2^(s-1) + zp * 2^s,   s >= 1
 * (floor((H + frac + 2^(s-1)) / 2^s) = floor((H + 2^(s-1)) / 2^s) for the high word H of
 * acc * mult: the low word never changes the result when shift >= 2; |H + cz| < 2^31 for
 * s <= 22.) The generator writes s = -1 when a layer's shifts do not fit (shift < 2 or > 23);
 * the kernel then uses mcd_dw_out. */
#if MCD_HAVE_DSP
static inline int32_t mcd_smmla(int32_t a, int32_t b, int32_t c)
{
    int32_t r;
    __asm__("smmla %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(c));
    return r;
}
#else
static inline int32_t mcd_smmla(int32_t a, int32_t b, int32_t c) { return c + (int32_t)(((int64_t)a * b) >> 32); }
#endif

static inline int8_t mcd_rq_out(int32_t acc, int32_t mult, int32_t cz, int32_t s, int32_t lo, int32_t hi)
{
    const int32_t y = mcd_dw_sat8(mcd_smmla(acc, mult, cz) >> s);
    if (lo <= -128 && hi >= 127) return (int8_t)y;
    return (int8_t)(y < lo ? lo : (y > hi ? hi : y));
}

/* The generic rule (mcd_common.h) + zero point + clamp, for layers whose shifts the record
 * cannot hold. */
static inline int8_t mcd_dw_out(int32_t acc, int32_t mult, int32_t shift, int32_t zp, int32_t lo, int32_t hi)
{
    return mcd_clamp8(mcd_requant_fast(acc, mult, shift) + zp, lo, hi);
}

/* Words of one row buffer: [C4/4][span], span = every input column an output row reads. */
static inline int32_t mcd_dw_row_words(int32_t k_w, int32_t c, int32_t stride_w, int32_t out_w)
{
    return ((c + 3) >> 2) * ((out_w - 1) * stride_w + k_w);
}

/* 2 * k_h row buffers: a ring of k_h rows, each stored twice (slot s and s + k_h) so that the
 * k_h rows of any window are consecutive buffers. */
static inline int32_t mcd_dwconv2d_s8_scratch_bytes(int32_t k_h, int32_t k_w, int32_t c, int32_t stride_w,
                                                    int32_t out_w, int32_t pooled)
{
    if (pooled || k_h > MCD_DW_MAX_KH) return 0;
    return 2 * k_h * 4 * mcd_dw_row_words(k_w, c, stride_w, out_w);
}

/* Row buffer(s) of input row iy (outside the image: zero points): word [g][x] holds channels
 * 4g .. 4g+3 of padded column x (x - pad_l in the image), zero points outside the image and past
 * C. Written to dst and to dst + off (the ring's mirror). */
static inline void mcd_dw_load_row(const mcd_conv_params *p, const mcd_dims *in_d, const int8_t *in, int32_t iy,
                                   int32_t span, uint32_t *dst, int32_t off)
{
    const int32_t c = in_d->c, groups = (c + 3) >> 2, full = c >> 2;
    const uint32_t zp4 = (uint32_t)(uint8_t)p->in_zp * 0x01010101u;
    int32_t lead = p->pad_l < span ? p->pad_l : span, n = in_d->w, x, g;
    if (lead + n > span) n = span - lead;
    if (iy < 0 || iy >= in_d->h) n = 0;
    for (g = 0; g < groups; g++) {
        uint32_t *d = dst + g * span;
        const int8_t *src = in + iy * in_d->w * c + 4 * g;
        for (x = 0; x < lead; x++) d[x] = d[x + off] = zp4;
        d += lead;
        if (g < full) {
            for (x = 0; x + 2 <= n; x += 2, src += 2 * c) {
                const uint32_t v0 = mcd_ld32(src), v1 = mcd_ld32(src + c);
                d[x] = v0;
                d[x + 1] = v1;
                d[x + off] = v0;
                d[x + 1 + off] = v1;
            }
            if (x < n) d[x] = d[x + off] = mcd_ld32(src);
        } else { /* partial last group: the valid bytes, zero points after */
            for (x = 0; x < n; x++, src += c) {
                uint32_t v = zp4;
                int32_t i;
                for (i = 0; i < c - 4 * full; i++)
                    v = (v & ~(0xFFu << (8 * i))) | ((uint32_t)(uint8_t)src[i] << (8 * i));
                d[x] = d[x + off] = v;
            }
        }
        for (x = n; x < span - lead; x++) d[x] = d[x + off] = zp4;
    }
}

#if MCD_HAVE_DSP && defined(__OPTIMIZE__)
/* One kernel row of three taps: 5 loads in a burst, then SXTB16 / SMLABB / SMLATT. */
#define MCD_DW_ROW3(WO)                                                                                       \
    "ldr %[x0], [%[r]]\n\t"                                                                                  \
    "ldr %[x1], [%[r], #4]\n\t"                                                                              \
    "ldr %[x2], [%[r], #8]\n\t"                                                                              \
    "ldr %[wa], [%[w], #" #WO "]\n\t"                                                                        \
    "ldr %[wb], [%[w], #" #WO "+4]\n\t"                                                                      \
    "sxtb16 %[t], %[x0]\n\t"                                                                                 \
    "smlabb %[a0], %[t], %[wa], %[a0]\n\t"                                                                   \
    "smlatt %[a2], %[t], %[wa], %[a2]\n\t"                                                                   \
    "sxtb16 %[t], %[x0], ror #8\n\t"                                                                         \
    "smlabb %[a1], %[t], %[wb], %[a1]\n\t"                                                                   \
    "smlatt %[a3], %[t], %[wb], %[a3]\n\t"                                                                   \
    "ldr %[wa], [%[w], #" #WO "+8]\n\t"                                                                      \
    "ldr %[wb], [%[w], #" #WO "+12]\n\t"                                                                     \
    "sxtb16 %[t], %[x1]\n\t"                                                                                 \
    "smlabb %[a0], %[t], %[wa], %[a0]\n\t"                                                                   \
    "smlatt %[a2], %[t], %[wa], %[a2]\n\t"                                                                   \
    "sxtb16 %[t], %[x1], ror #8\n\t"                                                                         \
    "smlabb %[a1], %[t], %[wb], %[a1]\n\t"                                                                   \
    "smlatt %[a3], %[t], %[wb], %[a3]\n\t"                                                                   \
    "ldr %[wa], [%[w], #" #WO "+16]\n\t"                                                                     \
    "ldr %[wb], [%[w], #" #WO "+20]\n\t"                                                                     \
    "sxtb16 %[t], %[x2]\n\t"                                                                                 \
    "smlabb %[a0], %[t], %[wa], %[a0]\n\t"                                                                   \
    "smlatt %[a2], %[t], %[wa], %[a2]\n\t"                                                                   \
    "sxtb16 %[t], %[x2], ror #8\n\t"                                                                         \
    "smlabb %[a1], %[t], %[wb], %[a1]\n\t"                                                                   \
    "smlatt %[a3], %[t], %[wb], %[a3]\n\t"
#define MCD_DW_ASM3 1
#else
#define MCD_DW_ASM3 0
#endif

/* Same arguments as the other conv kernels, plus the per-channel records rq (int32
 * [C4/4][4][4]: per group of four channels, four lanes of bias_adj = bias - zp_in * sum(w), then
 * mult, cz, s; see mcd_rq_out) and mcd_dwconv2d_s8_scratch_bytes() of scratch.
 * Weights int16 [C4/4][k_h][k_w][4], each group of four channels in lanes (c0, c2, c1, c3). */
static inline void mcd_dwconv2d_s8(const mcd_conv_params *p, const mcd_channel_quant *q, const mcd_dims *in_d,
                                   const int8_t *in, int32_t k_h, int32_t k_w, const int16_t *w, const int32_t *bias,
                                   const int32_t *rq, const mcd_dims *out_d, int8_t *out, void *scratch)
{
    const int32_t c = in_d->c, kk = k_h * k_w, span = (out_d->w - 1) * p->stride_w + k_w;
    const int32_t rw = mcd_dw_row_words(k_w, c, p->stride_w, out_d->w);
    const int32_t sw = p->stride_w, ow = out_d->w, lo = p->act_min, hi = p->act_max;
    const int32_t fast_rq = rq[12] >= 0;
    uint32_t *slots = (uint32_t *)scratch;
    int32_t tag[MCD_DW_MAX_KH];
    int32_t oy, ox, ky, kx, g;
    if (p->pool_h * p->pool_w != 1 || k_h > MCD_DW_MAX_KH) {
        mcd_dwconv2d_s8_any(p, q, in_d, in, k_h, k_w, w, bias, out_d, out);
        return;
    }
    for (ky = 0; ky < k_h; ky++) tag[ky] = -1;
    for (oy = 0; oy < out_d->h; oy++) {
        const int32_t j0 = oy * p->stride_h; /* padded row index of the window's top row */
        const uint32_t *win = slots + (j0 % k_h) * rw;
        int8_t *orow = out + oy * ow * c;
        for (ky = 0; ky < k_h; ky++) {
            const int32_t j = j0 + ky, s = j % k_h;
            if (tag[s] != j) {
                mcd_dw_load_row(p, in_d, in, j - p->pad_t, span, slots + s * rw, k_h * rw);
                tag[s] = j;
            }
        }
        for (g = 0; g < c; g += 4) {
            const int16_t *wg = w + (g >> 2) * kk * 4;
            const int32_t *rg = rq + 4 * g; /* this group's record: bias_adj[4], mult[4], cz[4], s[4] */
            const int32_t nv = c - g < 4 ? c - g : 4;
            const uint32_t *r = win + (g >> 2) * span;
            int8_t *dst = orow + g;
            for (ox = 0; ox < ow; ox++, dst += c, r += sw) {
                /* the zero point is folded into bias_adj: x is raw, and the padding holds zp, so a
                 * padded tap adds zp * w - zp * w = 0 overall */
                int32_t a0 = rg[0], a1 = rg[1], a2 = rg[2], a3 = rg[3];
#if MCD_DW_ASM3
                if (k_h == 3 && k_w == 3) {
                    const uint32_t *rr = r;
                    uint32_t x0, x1, x2, wa, wb, t;
                    __asm__ volatile(MCD_DW_ROW3(0) "add %[r], %[r], %[rb]\n\t" MCD_DW_ROW3(24)
                                     "add %[r], %[r], %[rb]\n\t" MCD_DW_ROW3(48)
                                     : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [r] "+r"(rr),
                                       [x0] "=&r"(x0), [x1] "=&r"(x1), [x2] "=&r"(x2), [wa] "=&r"(wa),
                                       [wb] "=&r"(wb), [t] "=&r"(t)
                                     : [w] "r"(wg), [rb] "r"(rw * 4)
                                     : "memory");
                } else
#endif
                {
                    for (ky = 0; ky < k_h; ky++) {
                        const uint32_t *src = r + ky * rw;
                        const int16_t *wk = wg + ky * k_w * 4;
                        for (kx = 0; kx < k_w; kx++) {
                            const uint32_t x = src[kx];
                            const uint32_t x02 = mcd_sxtb16(x), x13 = mcd_sxtb16_ror8(x);
                            const uint32_t w02 = mcd_ld32(wk + kx * 4), w13 = mcd_ld32(wk + kx * 4 + 2);
                            a0 = mcd_dw_smlabb(x02, w02, a0);
                            a2 = mcd_dw_smlatt(x02, w02, a2);
                            a1 = mcd_dw_smlabb(x13, w13, a1);
                            a3 = mcd_dw_smlatt(x13, w13, a3);
                        }
                    }
                }
                if (fast_rq && nv == 4) {
                    dst[0] = mcd_rq_out(a0, rg[4], rg[8], rg[12], lo, hi);
                    dst[1] = mcd_rq_out(a1, rg[5], rg[9], rg[13], lo, hi);
                    dst[2] = mcd_rq_out(a2, rg[6], rg[10], rg[14], lo, hi);
                    dst[3] = mcd_rq_out(a3, rg[7], rg[11], rg[15], lo, hi);
                } else {
                    const int32_t acc[4] = {a0, a1, a2, a3};
                    int32_t i;
                    for (i = 0; i < nv; i++)
                        dst[i] = fast_rq ? mcd_rq_out(acc[i], rg[4 + i], rg[8 + i], rg[12 + i], lo, hi)
                                         : mcd_dw_out(acc[i], q->mult[g + i], q->shift[g + i], p->out_zp, lo, hi);
                }
            }
        }
    }
}
#endif
