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
            da[o0] = mcd_rq_channel_zc(s[0], rq, o, q, p, fast);
            da[o1] = mcd_rq_channel_zc(s[1], rq, o + 1, q, p, fast);
            if (two) {
                db[o0] = mcd_rq_channel_zc(s[2], rq, o, q, p, fast);
                db[o1] = mcd_rq_channel_zc(s[3], rq, o + 1, q, p, fast);
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
            da[o0] = mcd_rq_channel_zc(sa, rq, o, q, p, fast);
            if (two) db[o0] = mcd_rq_channel_zc(sb, rq, o, q, p, fast);
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
            da[o] = mcd_rq_channel_zc(s[0], rq, o, q, p, fast);
            da[o + 1] = mcd_rq_channel_zc(s[1], rq, o + 1, q, p, fast);
            if (two) {
                db[o] = mcd_rq_channel_zc(s[2], rq, o, q, p, fast);
                db[o + 1] = mcd_rq_channel_zc(s[3], rq, o + 1, q, p, fast);
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
            da[o] = mcd_rq_channel_zc(sa, rq, o, q, p, fast);
            if (two) db[o] = mcd_rq_channel_zc(sb, rq, o, q, p, fast);
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
/* --- 4 pixels x 2 output channels, in place where the output fits over the input -----------------
 * Why: on the F446RE every pass over a layer's weights misses the ART's 8-line data cache (KWS's
 * 64x64 pointwise: 4 KB a pass), so the 2x2 kernel above pays the flash once per pixel PAIR. Here
 * one weight word feeds 8 SMLADs (4 pixels x 2 channels): half the passes, and per 16 MACs 5 loads,
 * 2 SXTB16 and 8 SMLAD (~17 cycles against ~20). Its four widened pixel columns (8 * K4 bytes)
 * are more scratch than the 2x2 kernel's, so the generator picks it where the layer writes its
 * output over its input (codegen/kernels.py: pw4_ok), which more than pays for it; the freed
 * arena then also holds a copy of the weights and records (stage: flash read once a layer).
 *
 * Columns: per group of four taps (k0..k3) of the input, the words (k0, k2) of pixels 0..3, then
 * (k1, k3) of pixels 0..3 (SXTB16 and SXTB16 ROR 8 of the input word: no repacking). Weights
 * (codegen/kernels.py: pack_pw4): per row pair and group the words (r0[k0], r1[k0], r0[k2],
 * r1[k2]) and (r0[k1], r1[k1], r0[k3], r1[k3]), so SXTB16 of a word gives row 0's pair, ROR 8
 * row 1's; an odd last row has a zero partner. In place: the four input pixels of a block are
 * widened before any output of the block is written, and output pixel i (C_out <= C_in bytes)
 * never reaches an input pixel not yet read (input pixel of output i >= i). */
static inline int32_t mcd_pwconv2d_s8_4px_scratch_bytes(int32_t c_in, int32_t c_out, int32_t stage)
{
    const int32_t k4 = (c_in + 3) & ~3;
    return 8 * k4 + 4 + (stage ? ((c_out + 1) & ~1) * k4 + 16 * c_out : 0);
}

#if MCD_HAVE_DSP && defined(__OPTIMIZE__) /* 14 registers: not without optimisation (frame pointer) */
/* One tap pair of four pixels and two rows: 8 accumulators, x, y, two temporaries and the two
 * pointers are the 14 allocatable registers. The loop's end is not an operand: a memory operand
 * ("m", as mcd_gemm2x4_s8.h's) may need a base register, and inlined into a shape-specialised
 * layer call gcc 12 then reports "impossible constraints" (seen on k4 = 4, 8, 12). Instead the
 * word after the columns holds its own address (mcd_pw_sentinel) and the loop stops when the
 * word at the pointer equals the pointer: a column word is two sign-extended bytes, whose high
 * half (0x0000-0x007F or 0xFF80-0xFFFF) no SRAM, CCM or flash address has. */
#define MCD_DOT4X2_STEP                                                                                       \
    "ldr %[x], [%[c]], #4\n\t"                                                                               \
    "ldr %[y], [%[c]], #4\n\t"                                                                               \
    "ldr %[t0], [%[w]], #4\n\t"                                                                              \
    "sxtb16 %[t1], %[t0]\n\t"                                                                                \
    "sxtb16 %[t0], %[t0], ror #8\n\t"                                                                        \
    "smlad %[a0], %[x], %[t1], %[a0]\n\t"                                                                    \
    "smlad %[a1], %[x], %[t0], %[a1]\n\t"                                                                    \
    "smlad %[b0], %[y], %[t1], %[b0]\n\t"                                                                    \
    "smlad %[b1], %[y], %[t0], %[b1]\n\t"                                                                    \
    "ldr %[x], [%[c]], #4\n\t"                                                                               \
    "ldr %[y], [%[c]], #4\n\t"                                                                               \
    "smlad %[c0], %[x], %[t1], %[c0]\n\t"                                                                    \
    "smlad %[c1], %[x], %[t0], %[c1]\n\t"                                                                    \
    "smlad %[d0], %[y], %[t1], %[d0]\n\t"                                                                    \
    "smlad %[d1], %[y], %[t0], %[d1]\n\t"
#define MCD_DOT4X2_OPERANDS                                                                                   \
    : [a0] "+r"(a0), [a1] "+r"(a1), [b0] "+r"(b0), [b1] "+r"(b1), [c0] "+r"(c0), [c1] "+r"(c1),             \
      [d0] "+r"(d0), [d1] "+r"(d1), [c] "+r"(c), [w] "+r"(w), [x] "=&r"(tx), [y] "=&r"(ty), [t0] "=&r"(t0),  \
      [t1] "=&r"(t1)                                                                                         \
    :                                                                                                        \
    : "cc", "memory"
#endif

/* s[2t + r] += pixel t . row r (t = 0..3, r = 0..1) over k4 taps (a multiple of 4, > 0); the
 * word at col + 4 * k4 holds its own address (mcd_pw_sentinel). */
static inline void mcd_dot4x2(const int16_t *col, const int8_t *w, int32_t k4, int32_t s[8])
{
    const int16_t *c = col;
    const int16_t *end = col + 4 * k4;
    int32_t a0 = s[0], a1 = s[1], b0 = s[2], b1 = s[3], c0 = s[4], c1 = s[5], d0 = s[6], d1 = s[7];
#if MCD_HAVE_DSP && defined(__OPTIMIZE__)
    /* eight tap pairs a loop pass (the end load, compare and taken branch: ~6 cycles); k4 / 2
     * tap pairs, an even number: 2 and 4 first as k4 asks */
    uint32_t tx, ty, t0, t1;
    if (k4 & 4) __asm__ volatile(MCD_DOT4X2_STEP MCD_DOT4X2_STEP MCD_DOT4X2_OPERANDS);
    if (k4 & 8) __asm__ volatile(MCD_DOT4X2_STEP MCD_DOT4X2_STEP MCD_DOT4X2_STEP MCD_DOT4X2_STEP MCD_DOT4X2_OPERANDS);
    if (c < end)
        __asm__ volatile("1:\n\t" MCD_DOT4X2_STEP MCD_DOT4X2_STEP MCD_DOT4X2_STEP MCD_DOT4X2_STEP
                         MCD_DOT4X2_STEP MCD_DOT4X2_STEP MCD_DOT4X2_STEP MCD_DOT4X2_STEP
                         "ldr %[x], [%[c]]\n\tcmp %[c], %[x]\n\tbne 1b\n\t" MCD_DOT4X2_OPERANDS);
#else
    while (c < end) {
        const uint32_t wd = mcd_ld32(w), r0 = mcd_sxtb16(wd), r1 = mcd_sxtb16_ror8(wd);
        const uint32_t x0 = mcd_ld32(c), x1 = mcd_ld32(c + 2), x2 = mcd_ld32(c + 4), x3 = mcd_ld32(c + 6);
        a0 = mcd_smlad(x0, r0, a0);
        a1 = mcd_smlad(x0, r1, a1);
        b0 = mcd_smlad(x1, r0, b0);
        b1 = mcd_smlad(x1, r1, b1);
        c0 = mcd_smlad(x2, r0, c0);
        c1 = mcd_smlad(x2, r1, c1);
        d0 = mcd_smlad(x3, r0, d0);
        d1 = mcd_smlad(x3, r1, d1);
        c += 8;
        w += 4;
    }
#endif
    s[0] = a0;
    s[1] = a1;
    s[2] = b0;
    s[3] = b1;
    s[4] = c0;
    s[5] = c1;
    s[6] = d0;
    s[7] = d1;
}

/* The loop end of mcd_dot4x2: the word after the columns holds its own address. */
static inline void mcd_pw_sentinel(int16_t *col, int32_t k4)
{
    mcd_st32(col + 4 * k4, (uint32_t)(uintptr_t)(col + 4 * k4));
}

/* Four input pixels (px[0..3], k channels each) into the interleaved columns (see above); taps
 * past k are zeros (the weights there are zero too, but the bytes past a pixel may be another
 * pixel's output already, or past the arena). */
MCD_SPECIALISED void mcd_pw_widen4(const int8_t *const px[4], int16_t *col, int32_t k)
{
    uint32_t *d = (uint32_t *)col;
    int32_t j, t;
    for (j = 0; j + 4 <= k; j += 4, d += 8)
        for (t = 0; t < 4; t++) {
            const uint32_t v = mcd_ld32(px[t] + j);
            d[t] = mcd_sxtb16(v);
            d[4 + t] = mcd_sxtb16_ror8(v);
        }
    if (j < k)
        for (t = 0; t < 4; t++) {
            const int8_t *s = px[t] + j;
            const int32_t v0 = s[0], v1 = k - j > 1 ? s[1] : 0, v2 = k - j > 2 ? s[2] : 0;
            d[t] = (uint32_t)(uint16_t)v0 | (uint32_t)(uint16_t)v2 << 16;
            d[4 + t] = (uint32_t)(uint16_t)v1;
        }
}

/* As mcd_pw_widen4 over the live input channels lin[0 .. k) only (mcd_pwconv2d_s8_live_4px). */
MCD_SPECIALISED void mcd_pw_gather4(const int8_t *const px[4], int16_t *col, const uint16_t *lin, int32_t k)
{
    uint32_t *d = (uint32_t *)col;
    int32_t j, t, m;
    for (j = 0; j < k; j += 4, d += 8) {
        int32_t c[4];
        for (m = 0; m < 4; m++) c[m] = j + m < k ? lin[j + m] : -1;
        for (t = 0; t < 4; t++) {
            const int8_t *s = px[t];
            const int32_t v0 = s[c[0]], v1 = c[1] >= 0 ? s[c[1]] : 0;
            const int32_t v2 = c[2] >= 0 ? s[c[2]] : 0, v3 = c[3] >= 0 ? s[c[3]] : 0;
            d[t] = (uint32_t)(uint16_t)v0 | (uint32_t)(uint16_t)v2 << 16;
            d[4 + t] = (uint32_t)(uint16_t)v1 | (uint32_t)(uint16_t)v3 << 16;
        }
    }
}

/* Four outputs of one channel from the records' (mult, cz, s) held in registers (a byte store may
 * alias the records, so they are read once, before the stores). */
MCD_SPECIALISED void mcd_pw_rq4(const int32_t *s, int32_t o, int32_t nt, const int32_t *rq, const mcd_channel_quant *q,
                                const mcd_conv_params *p, int32_t fast, int8_t *dst, int32_t c_out)
{
    int32_t t;
    if (fast) {
        const int32_t mult = rq[4 * o + 1], cz = rq[4 * o + 2], sh = rq[4 * o + 3];
        const int32_t lo = p->act_min, hi = p->act_max;
        const int8_t y0 = mcd_rq_out(s[0], mult, cz, sh, lo, hi), y1 = mcd_rq_out(s[2], mult, cz, sh, lo, hi);
        const int8_t y2 = mcd_rq_out(s[4], mult, cz, sh, lo, hi), y3 = mcd_rq_out(s[6], mult, cz, sh, lo, hi);
        dst[0] = y0;
        if (nt > 1) dst[c_out] = y1;
        if (nt > 2) dst[2 * c_out] = y2;
        if (nt > 3) dst[3 * c_out] = y3;
        return;
    }
    for (t = 0; t < nt; t++) dst[t * c_out] = mcd_rq_channel_zc(s[2 * t], rq, o, q, p, 0);
}

/* The n_rows computed output channels of one block of nt <= 4 pixels (dst: the first pixel's
 * output; row o goes to channel live[o], or o without live). */
MCD_SPECIALISED void mcd_pw4_block(const mcd_conv_params *p, const mcd_channel_quant *q,
                                   const int16_t *col, const int8_t *w, const int32_t *rq, int32_t fast,
                                   int32_t k4, int32_t n_rows, const uint16_t *live, int32_t c_out, int32_t nt,
                                   int8_t *dst)
{
    const int32_t oe = (n_rows + 1) & ~1;
    int32_t o;
    for (o = 0; o < oe; o += 2) {
        int32_t s[8];
        const int32_t r1 = o + 1 < n_rows ? rq[4 * o + 4] : 0;
        s[0] = s[2] = s[4] = s[6] = rq[4 * o];
        s[1] = s[3] = s[5] = s[7] = r1;
        mcd_dot4x2(col, w + o * k4, k4, s);
        mcd_pw_rq4(s, o, nt, rq, q, p, fast, dst + (live ? live[o] : o), c_out);
        if (o + 1 < n_rows) mcd_pw_rq4(s + 1, o + 1, nt, rq, q, p, fast, dst + (live ? live[o + 1] : o + 1), c_out);
    }
}

/* The plain pointwise conv (as mcd_pwconv2d_s8) four pixels at a time; output may be the input
 * (C_out <= C_in). fast: bit 0 the records' rule (as mcd_pwconv2d_s8), bit 1 stage the weights
 * and records into the scratch (after the columns and the sentinel) first. */
MCD_SPECIALISED void mcd_pwconv2d_s8_4px(const mcd_conv_params *p, const mcd_channel_quant *q, const mcd_dims *in_d,
                                         const int8_t *in, const int8_t *w, const int32_t *rq, int32_t fast,
                                         const mcd_dims *out_d, int8_t *out, void *scratch)
{
    const int32_t k = in_d->c, k4 = (k + 3) & ~3, c_out = out_d->c, n = out_d->h * out_d->w;
    const int32_t oe = (c_out + 1) & ~1;
    int16_t *col = (int16_t *)scratch;
    int32_t i, t;
    if (fast & 2) { /* one read of the flash a layer instead of one a pixel block */
        int8_t *dst = (int8_t *)scratch + 8 * k4 + 4; /* after the columns and the sentinel */
        int32_t *rq_dst = (int32_t *)(dst + oe * k4);
        memcpy(dst, w, (size_t)(oe * k4));
        memcpy(rq_dst, rq, (size_t)(16 * c_out));
        w = dst;
        rq = rq_dst;
    }
    fast &= 1;
    mcd_pw_sentinel(col, k4);
    for (i = 0; i < n; i += 4) {
        const int32_t nt = n - i < 4 ? n - i : 4;
        const int8_t *px[4];
        for (t = 0; t < 4; t++) px[t] = mcd_pw_pixel(p, in_d, out_d, in, t < nt ? i + t : i);
        mcd_pw_widen4(px, col, k);
        mcd_pw4_block(p, q, col, w, rq, fast, k4, c_out, 0, c_out, nt, out + i * c_out);
    }
}

/* mcd_pwconv2d_s8_live (constant channels copied, constant inputs folded) four pixels at a time,
 * in the 4-pixel layout (weights [n_live][K4'] as pack_pw4); may be in place as the plain one:
 * a block's constants are copied after its inputs are widened. */
MCD_SPECIALISED void mcd_pwconv2d_s8_live_4px(const mcd_conv_params *p, const mcd_dims *in_d, const int8_t *in,
                                              const int8_t *w, const int32_t *rq, int32_t n_live,
                                              const uint16_t *live, const int8_t *cst, int32_t k_live,
                                              const uint16_t *lin, const mcd_dims *out_d, int8_t *out, void *scratch)
{
    const int32_t k = lin ? k_live : in_d->c, k4 = (k + 3) & ~3, c_out = out_d->c, n = out_d->h * out_d->w;
    int16_t *col = (int16_t *)scratch;
    int32_t i, t;
    mcd_pw_sentinel(col, k4);
    for (i = 0; i < n; i += 4) {
        const int32_t nt = n - i < 4 ? n - i : 4;
        const int8_t *px[4];
        int8_t *dst = out + i * c_out;
        for (t = 0; t < 4; t++) px[t] = mcd_pw_pixel(p, in_d, out_d, in, t < nt ? i + t : i);
        if (lin) mcd_pw_gather4(px, col, lin, k);
        else mcd_pw_widen4(px, col, k);
        for (t = 0; t < nt; t++) memcpy(dst + t * c_out, cst, (size_t)c_out);
        mcd_pw4_block(p, 0, col, w, rq, 1, k4, n_live, live, c_out, nt, dst);
    }
}
#endif
