/* int8 convolution (groups = 1), HWC activations, as im2col + a 2x4 register-blocked GEMM on
 * packed 16-bit pairs (SMLAD: two MACs an instruction on M4/M7/M33), with an optional fused
 * max-pool. Same C for every core: mcd_simd.h maps the SIMD helpers to the DSP instructions where
 * they exist and to exact portable C elsewhere.
 *
 * Weights come from the generator as row pairs (an odd last row gets a zero partner): K = k_h *
 * k_w * C_in in (ky, kx, c) order, zero padded to K4 (a multiple of 4); per tap pair (k, k+1) a
 * pair's word (r0[k], r1[k], r0[k+1], r1[k+1]); the pairs of a block of four channels alternate
 * word by word (mcd_gemm2x4_s8.h; codegen/kernels.py: pack_pairs). Row pair o/2 starts at byte
 * o * K4. The im2col columns of two output pixels are interleaved a tap pair at a time and hold
 * the raw int8 inputs as int16, the input zero point for padding; the generator folds
 * -in_zp * sum(w) into the records' bias_adj, so acc = bias_adj + col . w is exactly the
 * reference's bias + sum((in - in_zp) * w). Requantization from the per-channel records
 * rq = (bias_adj, mult, cz, s) (mcd_rq_out: one SMMLA and one shift), or with the generic rule from
 * q when the layer's shifts do not fit the records (fast = 0, a literal from the generator).
 *
 * Four channels of two pixels are requantized straight from registers (no accumulator rows).
 * Fused pool: for each pooled output the conv positions of its window are computed two at a
 * time; the max accumulator per channel is requantized once (requantization is monotonic, so
 * this equals pooling the requantized outputs) and the un-pooled map is never stored.
 *
 * Scratch (mcd_conv2d_s8_scratch_bytes): the two interleaved int16 columns and a per-channel
 * running max (channels rounded up to even). With bit 1 of fast set (the generator's
 * stage_weights: where the arena has room while the layer runs) the scratch also holds a copy of
 * the weights, made at the start: the GEMM re-reads all of them for every pixel pair, far more
 * than the F446RE's 8-line flash data cache holds, so from flash each pass costs 5 wait states a
 * 16-byte line; from SRAM only the copy does. Bit 3 of fast (with bit 1 or 2): the requantization
 * records are copied too, after the weights (every pixel pair re-reads them: four 16-byte lines a
 * block of four channels, which with the weights' or the columns' reads the data cache does not
 * keep). Bits 16.. of fast, nb > 0 (blocked staging: weights larger than the free arena): the
 * weights and records are staged nb output channels at a time (nb a multiple of 4) and all pixels
 * run against each block before the next is copied (no pool). Bit 5 (with bit 2): until the input's
 * dead rows can take them, the weights (and records) are read from a copy in the output's tail.
 */
#include "mcd_kernels.h"
#include "mcd_gemm2x4_s8.h"
#include "mcd_im2col_s8.h"
#include "mcd_simd.h"

int32_t mcd_conv2d_s8_scratch_bytes(int32_t k_h, int32_t k_w, int32_t c_in, int32_t c_out)
{
    const int32_t k4 = (k_h * k_w * c_in + 3) & ~3;
    return 2 * k4 * 2 + ((c_out + 1) & ~1) * 4;
}

static inline int8_t rq_one(const mcd_conv_params *p, const mcd_channel_quant *q, const int32_t *rq, int32_t fast,
                            int32_t acc, int32_t o, int32_t lo, int32_t hi)
{
    return fast ? mcd_rq_out(acc, rq[4 * o + 1], rq[4 * o + 2], rq[4 * o + 3], lo, hi)
                : mcd_rq_out_generic(acc, q->mult[o], q->shift[o], p->out_zp, lo, hi);
}

/* The common case of gemm_pair (records' rule, two pixels, no pool) on its own: the accumulators go
 * from the GEMM's registers to the requantization with no array between, each channel's record is
 * read once for both pixels, and the clamp test is out of the loop (lo = -128, hi = 127 literals:
 * no clamp). In gemm_pair's shared loop this cost ~28 cycles an output against ~12 of arithmetic.
 * Returns the channels done (whole blocks of four). */
MCD_SPECIALISED int32_t gemm_pair_rq(const int16_t *col, const int8_t *w, const int32_t *rq, int32_t c_out, int32_t k4,
                                     int8_t *oa, int8_t *ob, int32_t lo, int32_t hi)
{
    const int8_t *end = oa + (c_out & ~3);
    for (; oa < end; oa += 4, ob += 4, rq += 16, w += 4 * k4) {
        int32_t s[8], r;
        s[0] = s[4] = rq[0];
        s[1] = s[5] = rq[4];
        s[2] = s[6] = rq[8];
        s[3] = s[7] = rq[12];
        mcd_dot2x4(col, w, k4, s);
        for (r = 0; r < 4; r++) {
            const int32_t m = rq[4 * r + 1], cz = rq[4 * r + 2], sh = rq[4 * r + 3];
            oa[r] = mcd_rq_out(s[r], m, cz, sh, lo, hi);
            ob[r] = mcd_rq_out(s[4 + r], m, cz, sh, lo, hi);
        }
    }
    return c_out & ~3;
}

/* Both columns against every channel. out_a/out_b: the two pixels' outputs (out_b may be 0: a
 * lone last pixel); best: when not 0, the running max per channel instead (pool). Inlined at every
 * call: with the block loop around the pixel loop GCC left it out of line (IC's 32x32 convs: about
 * +30 k est. cycles each); ~4 KB more flash. */
MCD_SPECIALISED void gemm_pair(const mcd_conv_params *p, const mcd_channel_quant *q, const int16_t *col, const int8_t *w,
                      const int32_t *rq, int32_t fast, int32_t c_out, int32_t k4, int8_t *out_a, int8_t *out_b,
                      int32_t *best)
{
    const int32_t lo = p->act_min, hi = p->act_max;
    int32_t o = 0, r;
    if (fast && out_b && !best)
        o = lo <= -128 && hi >= 127 ? gemm_pair_rq(col, w, rq, c_out, k4, out_a, out_b, -128, 127)
                                    : gemm_pair_rq(col, w, rq, c_out, k4, out_a, out_b, lo, hi);
    for (; o + 4 <= c_out; o += 4) {
        int32_t s[8];
        for (r = 0; r < 4; r++) s[r] = s[4 + r] = rq[4 * (o + r)];
        mcd_dot2x4(col, w + o * k4, k4, s);
        if (best) {
            for (r = 0; r < 4; r++) {
                const int32_t m = s[r] > s[4 + r] ? s[r] : s[4 + r];
                if (m > best[o + r]) best[o + r] = m;
            }
            continue;
        }
        for (r = 0; r < 4; r++) out_a[o + r] = rq_one(p, q, rq, fast, s[r], o + r, lo, hi);
        if (out_b)
            for (r = 0; r < 4; r++) out_b[o + r] = rq_one(p, q, rq, fast, s[4 + r], o + r, lo, hi);
    }
    for (; o < c_out; o += 2) { /* a last row pair (its second row a zero row when c_out is odd) */
        const int32_t n = o + 1 < c_out ? 2 : 1;
        int32_t s[4];
        s[0] = s[2] = rq[4 * o];
        s[1] = s[3] = rq[4 * (o + n - 1)]; /* a lone row: its own bias again, the sums unused.
            * Not a conditional load: Unicorn (the timing model's emulator) ran an IT-block LDRGT
            * wrongly once a memory-read hook was set (the flash model's), so bench refused it */
        mcd_dot2x2_pairs(col, w + o * k4, k4, s);
        for (r = 0; r < n; r++) {
            if (best) {
                const int32_t m = s[r] > s[2 + r] ? s[r] : s[2 + r];
                if (m > best[o + r]) best[o + r] = m;
                continue;
            }
            out_a[o + r] = rq_one(p, q, rq, fast, s[r], o + r, lo, hi);
            if (out_b) out_b[o + r] = rq_one(p, q, rq, fast, s[2 + r], o + r, lo, hi);
        }
    }
}

/* Copy `words` 32-bit words from flash (or anywhere) to SRAM, four a step. */
static void stage_words(int8_t *dst, const int8_t *src, int32_t words)
{
    int32_t i;
    for (i = 0; i + 4 <= words; i += 4) {
        const uint32_t a = mcd_ld32(src + 4 * i), b = mcd_ld32(src + 4 * i + 4);
        const uint32_t c = mcd_ld32(src + 4 * i + 8), d = mcd_ld32(src + 4 * i + 12);
        mcd_st32(dst + 4 * i, a);
        mcd_st32(dst + 4 * i + 4, b);
        mcd_st32(dst + 4 * i + 8, c);
        mcd_st32(dst + 4 * i + 12, d);
    }
    for (; i < words; i++) mcd_st32(dst + 4 * i, mcd_ld32(src + 4 * i));
}

void mcd_conv2d_s8(const mcd_conv_params *p, const mcd_channel_quant *q, const mcd_dims *in_d,
                   const int8_t *in, int32_t k_h, int32_t k_w, const int8_t *w, const int32_t *rq, int32_t fast,
                   const mcd_dims *out_d, int8_t *out, void *scratch)
{
    const int32_t c_out = out_d->c, k4 = (k_h * k_w * in_d->c + 3) & ~3;
    int16_t *col = (int16_t *)scratch;
    int32_t *best = (int32_t *)(col + 2 * k4);
    const int32_t pool = p->pool_h * p->pool_w;
    int32_t py, px, i, o;

    if (fast & 2) { /* stage the weights in SRAM, after the columns and the running max */
        const int32_t words = ((c_out + 1) & ~1) * k4 / 4;
        int8_t *dst = (int8_t *)(best + ((c_out + 1) & ~1));
        stage_words(dst, w, words);
        w = dst;
        if (fast & 8) { /* the records after the weights */
            stage_words((int8_t *)dst + 4 * words, (const int8_t *)rq, 4 * c_out);
            rq = (const int32_t *)(dst + 4 * words);
        }
    }
    const int32_t fast_in = fast;
    fast &= 1;

    if (pool == 1) { /* plain conv: output pixels two at a time in raster order */
        const int32_t n = out_d->h * out_d->w, c = in_d->c, run = k_w * c, row = in_d->w * c;
        const int32_t step = p->stride_w * c;
        /* bits 16.. of fast, nb: blocked staging. The weights do not fit the free arena whole (IC's
         * last 3x3 conv: 36 KB), so nb output channels' weights and records at a time are copied
         * after the running max and every pixel pair runs against that block, the im2col columns
         * rebuilt per block (cheaper than the flash reads they replace: a block's weights are
         * re-read once a pixel pair). A block is a contiguous run of the packed weights (row pair
         * o/2 at byte o * K4; nb a multiple of 4 keeps the word interleave of each four intact). */
        const int32_t nb = fast_in >> 16 ? fast_in >> 16 : c_out;
        const int8_t *const w0 = w;
        const int32_t *const rq0 = rq;
        mcd_channel_quant qb = *q;
        const mcd_channel_quant *qp = q; /* &qb only when blocked: q itself kept the common path as fast */
        int32_t ob;
        for (ob = 0; ob < c_out; ob += nb) {
            const int32_t m = c_out - ob < nb ? c_out - ob : nb;
            int32_t stop = n; /* bit 2 of fast: from pixel `stop` on, the weights are read from the input's dead rows */
            if (fast_in >> 16) {
                int8_t *stage = (int8_t *)(best + ((c_out + 1) & ~1));
                const int32_t wb = ((m + 1) & ~1) * k4;
                stage_words(stage, w0 + ob * k4, wb / 4);
                stage_words(stage + wb, (const int8_t *)(rq0 + 4 * ob), 4 * m);
                w = stage;
                rq = (const int32_t *)(stage + wb);
                qb.mult = q->mult + ob;
                qb.shift = q->shift + ob;
                qp = &qb;
            }
            if (fast_in & 4) {
                const int32_t bytes = ((c_out + 1) & ~1) * k4 + (fast_in & 8 ? 16 * c_out : 0); /* + the records */
                const int32_t oy_s = ((bytes + row - 1) / row + p->pad_t + p->stride_h - 1) / p->stride_h;
                stop = (oy_s * out_d->w + 1) & ~1; /* even, and every pair from there starts at output row oy_s */
                if (stop > n) stop = n;
                if ((fast_in & 32) && stop < n) { /* until then from the output's tail, which no pixel before
                    * `stop` writes (the generator checks stop * c_out <= its offset: _stage_more) */
                    int8_t *dst = out + ((n * c_out - bytes) & ~3);
                    const int32_t words = ((c_out + 1) & ~1) * k4 / 4;
                    stage_words(dst, w, words);
                    w = dst;
                    if (fast_in & 8) {
                        stage_words(dst + 4 * words, (const int8_t *)rq, 4 * c_out);
                        rq = (const int32_t *)(dst + 4 * words);
                    }
                }
            }
            i = 0;
            for (;;) {
                for (; i + 2 <= stop; i += 2) {
                    const int32_t oy = i / out_d->w, ox = i % out_d->w;
                    const int32_t x0 = ox * p->stride_w - p->pad_l, y0 = oy * p->stride_h - p->pad_t;
                    if (ox + 1 < out_d->w && x0 >= 0 && x0 + p->stride_w + k_w <= in_d->w && y0 >= 0 &&
                        y0 + k_h <= in_d->h) {
                        mcd_im2col_pair_inside(in + (y0 * in_d->w + x0) * c, step, row, run, k_h, k4, col);
                    } else {
                        mcd_im2col_pair(p, in_d, in, k_h, k_w, k4, oy, ox, col, 0);
                        mcd_im2col_pair(p, in_d, in, k_h, k_w, k4, (i + 1) / out_d->w, (i + 1) % out_d->w, col, 1);
                    }
                    gemm_pair(p, qp, col, w, rq, fast, m, k4, out + i * c_out + ob, out + (i + 1) * c_out + ob, 0);
                }
                if (stop == n) break;
                { /* input rows [0, oy_s * stride_h - pad_t) are read by no pixel from here on: their
                   * bytes hold the weights now (the input's buffer is this layer's alone: stage_in_input_ok) */
                    int8_t *dst = (int8_t *)(uintptr_t)in;
                    const int32_t words = ((c_out + 1) & ~1) * k4 / 4;
                    int32_t t;
                    for (t = 0; t < words; t++) mcd_st32(dst + 4 * t, mcd_ld32(w + 4 * t));
                    w = dst;
                    if (fast_in & 8) {
                        stage_words(dst + 4 * words, (const int8_t *)rq, 4 * c_out);
                        rq = (const int32_t *)(uintptr_t)(dst + 4 * words);
                    }
                }
                stop = n;
            }
            if (i < n) {
                mcd_im2col_pair(p, in_d, in, k_h, k_w, k4, i / out_d->w, i % out_d->w, col, 0);
                mcd_im2col_pair(p, in_d, in, k_h, k_w, k4, i / out_d->w, i % out_d->w, col, 1);
                gemm_pair(p, qp, col, w, rq, fast, m, k4, out + i * c_out + ob, 0, 0);
            }
        }
        return;
    }
    for (py = 0; py < out_d->h; py++) {
        for (px = 0; px < out_d->w; px++) {
            int8_t *dst = out + (py * out_d->w + px) * c_out;
            for (o = 0; o < c_out; o++) best[o] = INT32_MIN;
            for (i = 0; i < pool; i += 2) { /* the window's conv positions, two at a time */
                const int32_t j = i + 1 < pool ? i + 1 : i;
                mcd_im2col_pair(p, in_d, in, k_h, k_w, k4, py * p->pool_sh + i / p->pool_w,
                                px * p->pool_sw + i % p->pool_w, col, 0);
                mcd_im2col_pair(p, in_d, in, k_h, k_w, k4, py * p->pool_sh + j / p->pool_w,
                                px * p->pool_sw + j % p->pool_w, col, 1);
                gemm_pair(p, q, col, w, rq, fast, c_out, k4, 0, 0, best);
            }
            for (o = 0; o < c_out; o++) dst[o] = rq_one(p, q, rq, fast, best[o], o, p->act_min, p->act_max);
        }
    }
}
