/* int8 convolution for few input channels (first layers: C_in <= 4; with a fused 2x2 max-pool
 * C_in <= 8 and 16+ channels, e.g. LeNet-5's conv2), without im2col.
 *
 * Where C_in is small, building an im2col column per output pixel costs more than the MACs (a
 * 5x5 kernel on one channel is 25 MACs per column). Here the k_h input rows a conv output row
 * needs are widened once to int16 (minus the zero point; padding is real 0) into a row buffer;
 * a kernel row of an output pixel is then k_w * C_in consecutive halfwords of that buffer, read
 * directly in pairs by SMLAD against weights the generator stored pre-widened to int16:
 * [O][k_h][R2] with R2 = k_w * C_in rounded up to even (the pad weight is 0, so the extra
 * element read past a window never counts). Two output pixels share each weight load; on the
 * M4 (hand-scheduled asm) a 2x2-pooled window's four positions share each weight load and two
 * channels each input load (mcd_rows_quad2), and unpooled pixel pairs take four channels a pass
 * (mcd_rows_pair4). Outputs are requantized through the layer's rq records.
 *
 * Scratch (mcd_conv2d_rows_s8_scratch_bytes): the k_h widened rows (k_h + stride_h with a fused
 * 2x2 pool), plus one int32 running max per pooled output and channel of a row when another
 * max-pool is fused; then the staged weights when the generator marks the layer (fast & 2). With
 * a 2x2 pool, out_w_conv may be a strip of the conv's columns: the rows are widened strip by strip
 * (the generator picks the strip that keeps the scratch within the GEMM's).
 *
 * Shape-specialised: the kernel is static inline in this header, included by the generated
 * model.c, so each call site passes its layer's constants (kernel size, channels, strides from
 * static const structs) and the compiler unrolls the short inner loops for that layer.
 */
#ifndef MCD_CONV2D_ROWS_S8_H
#define MCD_CONV2D_ROWS_S8_H
#include "mcd_kernels.h"
#include "mcd_simd.h"

static inline int32_t mcd_rows_row_halfwords(const mcd_conv_params *p, const mcd_dims *in_d, int32_t k_w, int32_t out_w_conv)
{
    /* every position any output pixel of a row reads, plus one for the odd-run pair */
    return ((out_w_conv - 1) * p->stride_w + k_w) * in_d->c + 2;
}

/* Rows held at once: k_h, or k_h + stride_h for a fused 2x2 pool (both conv rows of a window). */
static inline int32_t mcd_conv2d_rows_s8_scratch_bytes(int32_t k_h, int32_t k_w, int32_t c_in, int32_t c_out,
                                                       int32_t stride_h, int32_t stride_w, int32_t out_w_conv,
                                                       int32_t pool_2x2, int32_t pooled_w)
{
    const int32_t row = ((out_w_conv - 1) * stride_w + k_w) * c_in + 2;
    const int32_t n_rows = pool_2x2 ? k_h + stride_h : k_h;
    return ((n_rows * row * 2 + 3) & ~3) + (pool_2x2 ? 0 : pooled_w * c_out * 4);
}

/* rows[ky][i] = in[iy][x0 + i / C][i % C] - zp, or 0 outside the image, for k_h rows from conv row oy
 * (x0: the first input column, -pad_l or a strip's) */
static inline void mcd_rows_widen_at(const mcd_conv_params *p, const mcd_dims *in_d, const int8_t *in, int32_t k_h,
                                     int32_t oy, int32_t x0, int32_t row_len, int16_t *rows)
{
    const int32_t c = in_d->c;
    int32_t ky;
    for (ky = 0; ky < k_h; ky++) {
        int16_t *dst = rows + ky * row_len;
        const int32_t iy = oy * p->stride_h - p->pad_t + ky;
        int32_t lo, hi, n = row_len - 2;
        if (iy < 0 || iy >= in_d->h) {
            mcd_zero16(dst, row_len);
            continue;
        }
        lo = (x0 < 0 ? -x0 : 0) * c;                  /* halfwords of left padding */
        hi = (in_d->w - x0) * c;                       /* first halfword right of the image */
        if (hi > n) hi = n;
        if (hi < lo) hi = lo;
        mcd_zero16(dst, lo);
        mcd_widen_s8(in + (iy * in_d->w + x0 + lo / c) * c, dst + lo, hi - lo, -p->in_zp);
        mcd_zero16(dst + hi, row_len - hi);
    }
}

static inline void mcd_rows_widen(const mcd_conv_params *p, const mcd_dims *in_d, const int8_t *in, int32_t k_h, int32_t oy,
                                  int32_t row_len, int16_t *rows)
{
    mcd_rows_widen_at(p, in_d, in, k_h, oy, -p->pad_l, row_len, rows);
}

/* conv outputs at (row buffer, x positions xa and xb) for every channel, bias included */
static inline void mcd_rows_dot_pair(const mcd_conv_params *p, const int16_t *rows, int32_t row_len, int32_t k_h, int32_t r2,
                     int32_t c_in, const int16_t *w, const int32_t *bias, int32_t c_out, int32_t xa, int32_t xb,
                     int32_t *acc_a, int32_t *acc_b)
{
    const int32_t oa = xa * p->stride_w * c_in, ob = xb * p->stride_w * c_in, pairs = r2 >> 1;
    int32_t o, ky, j;
    for (o = 0; o < c_out; o++) {
        int32_t sa = bias[o], sb = bias[o];
        for (ky = 0; ky < k_h; ky++) {
            const int16_t *ra = rows + ky * row_len + oa, *rb = rows + ky * row_len + ob;
            for (j = 0; j < pairs; j++) {
                const uint32_t wv = mcd_ld32(w + 2 * j);
                sa = mcd_smlad(mcd_ld32(ra + 2 * j), wv, sa);
                sb = mcd_smlad(mcd_ld32(rb + 2 * j), wv, sb);
            }
            w += r2;
        }
        acc_a[o] = sa;
        acc_b[o] = sb;
    }
}

static inline void mcd_rows_dot_quad(const int16_t *rows, int32_t row_len, int32_t k_h, int32_t r2, const int16_t *w,
                                     int32_t bias, int32_t oa, int32_t ob, int32_t dy, int32_t *best)
{
    /* the four conv positions of a 2x2 pool window: columns oa/ob of rows ky and ky + dy */
    const int32_t pairs = r2 >> 1;
    int32_t s00 = bias, s01 = bias, s10 = bias, s11 = bias, ky, j, m;
    for (ky = 0; ky < k_h; ky++) {
        const int16_t *r0 = rows + ky * row_len, *r1 = r0 + dy;
        for (j = 0; j < pairs; j++) {
            const uint32_t wv = mcd_ld32(w + 2 * j);
            s00 = mcd_smlad(mcd_ld32(r0 + oa + 2 * j), wv, s00);
            s01 = mcd_smlad(mcd_ld32(r0 + ob + 2 * j), wv, s01);
            s10 = mcd_smlad(mcd_ld32(r1 + oa + 2 * j), wv, s10);
            s11 = mcd_smlad(mcd_ld32(r1 + ob + 2 * j), wv, s11);
        }
        w += r2;
    }
    m = s00 > s01 ? s00 : s01;
    if (s10 > m) m = s10;
    if (s11 > m) m = s11;
    *best = m;
}

#if MCD_HAVE_DSP && defined(__OPTIMIZE__) && defined(__GNUC__) /* 14 registers: not without optimisation */
#define MCD_ROWS_QUAD2_ASM 1
/* One tap pair of the four positions of a 2x2 pool window (a, b of conv row 0 at r; c, d of conv
 * row 1 at r + DY) for two output channels (weight words at w and w + CH): 2 weight loads, 4
 * input loads, 8 SMLAD, the loads two by two so that the second of each pipelines (~16 cycles
 * for 16 MAC slots, against ~26 for the C quad's two channels: 2 weight loads, 8 input loads). */
#define MCD_ROWS_QUAD2_STEP                                                                               \
    "ldr %[wa], [%[w]], #4\n\t"                                                                          \
    "ldr %[wb], [%[w], #(%c[ch] - 4)]\n\t"                                                               \
    "ldr %[xb], [%[r], #%c[ob]]\n\t"                                                                     \
    "ldr %[xa], [%[r]], #4\n\t"                                                                          \
    "smlad %[a0], %[xa], %[wa], %[a0]\n\t"                                                               \
    "smlad %[a1], %[xa], %[wb], %[a1]\n\t"                                                               \
    "smlad %[b0], %[xb], %[wa], %[b0]\n\t"                                                               \
    "smlad %[b1], %[xb], %[wb], %[b1]\n\t"                                                               \
    "ldr %[xa], [%[r], #(%c[dy] - 4)]\n\t"                                                               \
    "ldr %[xb], [%[r], #(%c[dy] + %c[ob] - 4)]\n\t"                                                      \
    "smlad %[c0], %[xa], %[wa], %[c0]\n\t"                                                               \
    "smlad %[c1], %[xa], %[wb], %[c1]\n\t"                                                               \
    "smlad %[d0], %[xb], %[wa], %[d0]\n\t"                                                               \
    "smlad %[d1], %[xb], %[wb], %[d1]\n\t"
#endif

#if MCD_ROWS_QUAD2_ASM
/* The step's weights and multiplies, after its two input loads (xa, xb): shared with
 * mcd_conv2d_few_s8.h's tail step, which loads its inputs elsewhere. */
#define MCD_ROWS_PAIR4_MAC                                                                                \
    "ldr %[wa], [%[w]], #4\n\t"                                                                          \
    "ldr %[wb], [%[w], #(%c[ch] - 4)]\n\t"                                                               \
    "smlad %[a0], %[xa], %[wa], %[a0]\n\t"                                                               \
    "smlad %[b0], %[xb], %[wa], %[b0]\n\t"                                                               \
    "smlad %[a1], %[xa], %[wb], %[a1]\n\t"                                                               \
    "smlad %[b1], %[xb], %[wb], %[b1]\n\t"                                                               \
    "ldr %[wa], [%[w], #(2 * %c[ch] - 4)]\n\t"                                                           \
    "ldr %[wb], [%[w], #(3 * %c[ch] - 4)]\n\t"                                                           \
    "smlad %[a2], %[xa], %[wa], %[a2]\n\t"                                                               \
    "smlad %[b2], %[xb], %[wa], %[b2]\n\t"                                                               \
    "smlad %[a3], %[xa], %[wb], %[a3]\n\t"                                                               \
    "smlad %[b3], %[xb], %[wb], %[b3]\n\t"

/* One tap pair of two output pixels (a at r, b at r + OB) for four output channels (weight words
 * at w + i * CH): 4 weight loads, 2 input loads, 8 SMLAD (~16 cycles for 16 MAC slots, against
 * ~24 for the C pair's four channels: 4 weight loads, 8 input loads). */
#define MCD_ROWS_PAIR4_STEP                                                                               \
    "ldr %[xb], [%[r], #%c[ob]]\n\t"                                                                     \
    "ldr %[xa], [%[r]], #4\n\t"                                                                          \
    MCD_ROWS_PAIR4_MAC
#endif

/* The geometry is a compile-time constant (always, inlined into model.c at -O3), the immediates
 * fit, and a kernel row's unrolled code stays short (it fits the ART's 1 KB instruction cache).
 * MCD_ROWS_UNROLL: the whole window unrolled too (else a loop over the kernel rows). */
#define MCD_ROWS_ASM_OK(row_len, k_h, r2, ob, dy, n_ch)                                                    \
    (__builtin_constant_p(row_len) && __builtin_constant_p(k_h) && __builtin_constant_p(r2) &&             \
     __builtin_constant_p(ob) && __builtin_constant_p(dy) && ((dy) + (ob)) * 2 <= 4095 && (ob) * 2 <= 4095 && \
     (n_ch) * (k_h) * (r2) * 2 <= 4095 && ((row_len) - (r2)) * 2 <= 4095 && ((r2) >> 1) <= 32)
#define MCD_ROWS_UNROLL(k_h, r2) ((k_h) * ((r2) >> 1) <= 32)
/* GCC sizes an asm by its lines (the GCC manual, "Size of an asm"), and .rept expands one line
 * into many: without empty lines up to the emitted size it places its literal pools and short
 * branches out of reach past the asm. MCD_ROWS_ASM(n, ...): the asm with 128, 256 or 512 lines
 * for n steps of 14 instructions (+ one add or four loop instructions a kernel row): n <= 8, 16
 * or 32; the one for the layer's constant n is all that is compiled. */
#define MCD_NL8 "\n\n\n\n\n\n\n\n"
#define MCD_NL64 MCD_NL8 MCD_NL8 MCD_NL8 MCD_NL8 MCD_NL8 MCD_NL8 MCD_NL8 MCD_NL8
#define MCD_NL128 MCD_NL64 MCD_NL64
#define MCD_ROWS_ASM(n, code, ...)                                                                         \
    do {                                                                                                  \
        if ((n) <= 8)                                                                                     \
            __asm__(code MCD_NL128 __VA_ARGS__);                                                          \
        else if ((n) <= 16)                                                                               \
            __asm__(code MCD_NL128 MCD_NL128 __VA_ARGS__);                                                \
        else                                                                                              \
            __asm__(code MCD_NL128 MCD_NL128 MCD_NL128 MCD_NL128 __VA_ARGS__);                            \
    } while (0)

/* Conv outputs of channels o .. o + 3 at pixels a (rows) and b (rows + ob), bias included:
 * acc_a[0..3], acc_b[0..3]. The whole window unrolled in asm when MCD_ROWS_ASM_OK, else C. */
MCD_SPECIALISED void mcd_rows_pair4(const int16_t *rows, int32_t row_len, int32_t k_h, int32_t r2, const int16_t *w,
                                    const int32_t *bias, int32_t ob, int32_t *acc_a, int32_t *acc_b)
{
#if MCD_ROWS_QUAD2_ASM
    if (MCD_ROWS_ASM_OK(row_len, k_h, r2, ob, 0, 4) && MCD_ROWS_UNROLL(k_h, r2)) {
        int32_t a0 = bias[0], a1 = bias[1], a2 = bias[2], a3 = bias[3], b0 = a0, b1 = a1, b2 = a2, b3 = a3;
        const int16_t *r = rows, *wp = w;
        uint32_t wa, wb, xa, xb;
        MCD_ROWS_ASM(k_h * (r2 >> 1), ".rept %c[kh]\n\t.rept %c[pairs]\n\t" MCD_ROWS_PAIR4_STEP ".endr\n\t"
                     "add %[r], %[r], #%c[adv]\n\t.endr\n\t",
                : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [b0] "+r"(b0), [b1] "+r"(b1),
                  [b2] "+r"(b2), [b3] "+r"(b3), [r] "+r"(r), [w] "+r"(wp), [wa] "=&r"(wa), [wb] "=&r"(wb),
                  [xa] "=&r"(xa), [xb] "=&r"(xb)
                : [kh] "i"(k_h), [pairs] "i"(r2 >> 1), [adv] "i"((row_len - r2) * 2), [ch] "i"(k_h * r2 * 2),
                  [ob] "i"(ob * 2)
                : "memory");
        acc_a[0] = a0, acc_a[1] = a1, acc_a[2] = a2, acc_a[3] = a3;
        acc_b[0] = b0, acc_b[1] = b1, acc_b[2] = b2, acc_b[3] = b3;
        return;
    }
#endif
    {
        int32_t o, ky, j;
        for (o = 0; o < 4; o++, w += k_h * r2) {
            int32_t sa = bias[o], sb = bias[o];
            const int16_t *wo = w;
            for (ky = 0; ky < k_h; ky++, wo += r2) {
                const int16_t *ra = rows + ky * row_len, *rb = ra + ob;
                for (j = 0; j < r2 >> 1; j++) {
                    const uint32_t wv = mcd_ld32(wo + 2 * j);
                    sa = mcd_smlad(mcd_ld32(ra + 2 * j), wv, sa);
                    sb = mcd_smlad(mcd_ld32(rb + 2 * j), wv, sb);
                }
            }
            acc_a[o] = sa;
            acc_b[o] = sb;
        }
    }
}

/* The 2x2-pooled conv outputs of channels o and o + 1 at one window: best[0], best[1] (bias
 * included). rows: the window's first tap (row 0, column oa); dy: halfwords from conv row 0 to 1;
 * ob: halfwords from column a to b. Hand-scheduled when MCD_ROWS_ASM_OK, each kernel row
 * unrolled (.rept; the 14 registers are 8 accumulators, 2 weights, 2 inputs, 2 pointers), and the
 * rows too (MCD_ROWS_UNROLL) or in a loop whose end is read from the stack; else two quads. */
MCD_SPECIALISED void mcd_rows_quad2(const int16_t *rows, int32_t row_len, int32_t k_h, int32_t r2, const int16_t *w,
                                    const int32_t *bias, int32_t ob, int32_t dy, int32_t *best)
{
#if MCD_ROWS_QUAD2_ASM
    if (MCD_ROWS_ASM_OK(row_len, k_h, r2, ob, dy, 2)) {
        int32_t a0 = bias[0], a1 = bias[1], b0 = a0, b1 = a1, c0 = a0, c1 = a1, d0 = a0, d1 = a1;
        const int16_t *r = rows, *wp = w;
        uint32_t wa, wb, xa, xb;
#define MCD_ROWS_QUAD2_OPERANDS(last)                                                                     \
    : [a0] "+r"(a0), [a1] "+r"(a1), [b0] "+r"(b0), [b1] "+r"(b1), [c0] "+r"(c0), [c1] "+r"(c1), [d0] "+r"(d0), \
      [d1] "+r"(d1), [r] "+r"(r), [w] "+r"(wp), [wa] "=&r"(wa), [wb] "=&r"(wb), [xa] "=&r"(xa), [xb] "=&r"(xb)  \
    : [pairs] "i"(r2 >> 1), [adv] "i"((row_len - r2) * 2), [ch] "i"(k_h * r2 * 2), [ob] "i"(ob * 2),           \
      [dy] "i"(dy * 2), last                                                                                   \
    : "cc", "memory"
        if (MCD_ROWS_UNROLL(k_h, r2)) {
            MCD_ROWS_ASM(k_h * (r2 >> 1), ".rept %c[kh]\n\t.rept %c[pairs]\n\t" MCD_ROWS_QUAD2_STEP ".endr\n\t"
                         "add %[r], %[r], #%c[adv]\n\t.endr\n\t", MCD_ROWS_QUAD2_OPERANDS([kh] "i"(k_h)));
        } else {
            const int16_t *const wend = w + k_h * r2; /* the loop's end, read from the stack into xa (dead there) */
            MCD_ROWS_ASM(r2 >> 1, "1:\n\t.rept %c[pairs]\n\t" MCD_ROWS_QUAD2_STEP ".endr\n\t"
                         "add %[r], %[r], #%c[adv]\n\tldr %[xa], %[end]\n\tcmp %[w], %[xa]\n\tbne 1b\n\t",
                    MCD_ROWS_QUAD2_OPERANDS([end] "m"(wend)));
        }
#undef MCD_ROWS_QUAD2_OPERANDS
        a0 = a0 > b0 ? a0 : b0;
        c0 = c0 > d0 ? c0 : d0;
        a1 = a1 > b1 ? a1 : b1;
        c1 = c1 > d1 ? c1 : d1;
        best[0] = a0 > c0 ? a0 : c0;
        best[1] = a1 > c1 ? a1 : c1;
        return;
    }
#endif
    mcd_rows_dot_quad(rows, row_len, k_h, r2, w, bias[0], 0, ob, dy, &best[0]);
    mcd_rows_dot_quad(rows, row_len, k_h, r2, w + k_h * r2, bias[1], 0, ob, dy, &best[1]);
}

/* rq: the layer's requantization records [O][4] (mcd_rq_channel; their bias_adj is unused: these
 * accumulators start from bias and read inputs minus the zero point, which sums to the same value),
 * fast: bit 0 whether the records hold the layer's rule (else q's generic rule), bit 1 whether to
 * copy the weights into the scratch first (past mcd_conv2d_rows_s8_scratch_bytes: staged, read
 * from SRAM instead of flash's 8-line data cache on every window). */
static inline void mcd_conv2d_rows_s8(const mcd_conv_params *p, const mcd_channel_quant *q, const mcd_dims *in_d,
                        const int8_t *in, int32_t k_h, int32_t k_w, const int16_t *w, const int32_t *bias,
                        const int32_t *rq, int32_t fast, const mcd_dims *out_d, int32_t out_w_conv, int8_t *out,
                        void *scratch)
{
    const int32_t c_in = in_d->c, c_out = out_d->c, r2 = (k_w * c_in + 1) & ~1;
    const int32_t row_len = mcd_rows_row_halfwords(p, in_d, k_w, out_w_conv);
    const int32_t pool_2x2 = p->pool_h == 2 && p->pool_w == 2;
    int16_t *rows = (int16_t *)scratch;
    int32_t *best = (int32_t *)((uint8_t *)scratch + ((k_h * row_len * 2 + 3) & ~3));
    int32_t acc_a[MCD_ROWS_MAX_COUT], acc_b[MCD_ROWS_MAX_COUT];
    int32_t oy, ox, py, px, dy, dx, o;

    if (fast & 2) { /* stage the weights in SRAM, after the rows and the running max (see stage_weights) */
        int16_t *dst = (int16_t *)((uint8_t *)scratch + mcd_conv2d_rows_s8_scratch_bytes(
            k_h, k_w, c_in, c_out, p->stride_h, p->stride_w, out_w_conv, pool_2x2, p->pool_h * p->pool_w > 1 ? out_d->w : 0));
        const int32_t words = c_out * k_h * r2 / 2; /* R2 is even: whole words (newlib-nano's memcpy goes by bytes) */
        int32_t i;
        for (i = 0; i + 2 <= words; i += 2) {
            const uint32_t a = mcd_ld32(w + 2 * i), b = mcd_ld32(w + 2 * i + 2);
            mcd_st32(dst + 2 * i, a);
            mcd_st32(dst + 2 * i + 2, b);
        }
        if (i < words) mcd_st32(dst + 2 * i, mcd_ld32(w + 2 * i));
        w = dst;
    }
    fast &= 1;

    if (p->pool_h * p->pool_w == 1) {
        for (oy = 0; oy < out_d->h; oy++) {
            int8_t *dst = out + oy * out_d->w * c_out;
            mcd_rows_widen(p, in_d, in, k_h, oy, row_len, rows);
            for (ox = 0; ox < out_d->w; ox += 2) {
                const int32_t xb = ox + 1 < out_d->w ? ox + 1 : ox;
                o = 0;
                if (xb > ox) /* blocks of four channels, then the rest */
                    for (; o + 4 <= c_out; o += 4)
                        mcd_rows_pair4(rows + ox * p->stride_w * c_in, row_len, k_h, r2, w + o * k_h * r2, bias + o,
                                       p->stride_w * c_in, acc_a + o, acc_b + o);
                if (o < c_out)
                    mcd_rows_dot_pair(p, rows, row_len, k_h, r2, c_in, w + o * k_h * r2, bias + o, c_out - o, ox, xb,
                                      acc_a + o, acc_b + o);
                for (o = 0; o < c_out; o++) {
                    dst[ox * c_out + o] = mcd_rq_channel(acc_a[o], rq, o, q, p, fast);
                    dst[xb * c_out + o] = mcd_rq_channel(acc_b[o], rq, o, q, p, fast);
                }
            }
        }
        return;
    }
    if (pool_2x2) { /* both conv rows of each window widened together, in strips of out_w_conv conv columns */
        const int32_t strip = (out_w_conv - p->pool_w) / p->pool_sw + 1; /* pooled columns a strip */
        int32_t px0;
        for (py = 0; py < out_d->h; py++)
        for (px0 = 0; px0 < out_d->w; px0 += strip) {
            const int32_t px1 = px0 + strip < out_d->w ? px0 + strip : out_d->w;
            int8_t *dst = out + py * out_d->w * c_out;
            mcd_rows_widen_at(p, in_d, in, k_h + p->stride_h, py * p->pool_sh, px0 * p->pool_sw * p->stride_w - p->pad_l,
                              row_len, rows);
            for (px = px0; px < px1; px++) {
                const int32_t oa = (px - px0) * p->pool_sw * p->stride_w * c_in, ob = oa + p->stride_w * c_in;
                const int16_t *wo = w;
                for (o = 0; o + 1 < c_out; o += 2, wo += 2 * k_h * r2) { /* channel pairs, then an odd last one */
                    int32_t m[2];
                    mcd_rows_quad2(rows + oa, row_len, k_h, r2, wo, bias + o, ob - oa, p->stride_h * row_len, m);
                    dst[px * c_out + o] = mcd_rq_channel(m[0], rq, o, q, p, fast);
                    dst[px * c_out + o + 1] = mcd_rq_channel(m[1], rq, o + 1, q, p, fast);
                }
                if (c_out & 1) {
                    int32_t m;
                    o = c_out - 1;
                    mcd_rows_dot_quad(rows, row_len, k_h, r2, w + o * k_h * r2, bias[o], oa, ob, p->stride_h * row_len, &m);
                    dst[px * c_out + o] = mcd_rq_channel(m, rq, o, q, p, fast);
                }
            }
        }
        return;
    }
    for (py = 0; py < out_d->h; py++) {
        for (o = 0; o < out_d->w * c_out; o++) best[o] = INT32_MIN;
        for (dy = 0; dy < p->pool_h; dy++) {
            mcd_rows_widen(p, in_d, in, k_h, py * p->pool_sh + dy, row_len, rows);
            for (px = 0; px < out_d->w; px++) {
                int32_t *bm = best + px * c_out;
                for (dx = 0; dx < p->pool_w; dx += 2) {
                    const int32_t xa = px * p->pool_sw + dx, xb = dx + 1 < p->pool_w ? xa + 1 : xa;
                    mcd_rows_dot_pair(p, rows, row_len, k_h, r2, c_in, w, bias, c_out, xa, xb, acc_a, acc_b);
                    for (o = 0; o < c_out; o++) {
                        const int32_t m = acc_a[o] > acc_b[o] ? acc_a[o] : acc_b[o];
                        if (m > bm[o]) bm[o] = m;
                    }
                }
            }
        }
        for (o = 0; o < out_d->w * c_out; o++) {
            const int32_t ch = o % c_out;
            out[py * out_d->w * c_out + o] = mcd_rq_channel(best[o], rq, ch, q, p, fast);
        }
    }
}
#endif
