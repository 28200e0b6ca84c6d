/* int8 convolution (groups = 1), HWC activations, as im2col + a 2x2 register-blocked GEMM on
 * packed 16-bit pairs (SMLAD: two MACs an instruction on M4/M7/M33), with an optional fused
 * max-pool. Same C for every core: mcd_simd.h maps the SIMD helpers to the DSP instructions where
 * they exist and to exact portable C elsewhere.
 *
 * Weights come from the generator as [O][K4]: K = k_h * k_w * C_in in (ky, kx, c) order, zero
 * padded to K4 (a multiple of 4), each group of four stored (w0, w2, w1, w3) (see mcd_simd.h),
 * rows interleaved in pairs (row0 group0, row1 group0, row0 group1, ...): one weight pointer.
 * The im2col column of an output pixel holds the raw int8 inputs as int16 in natural order, the
 * input zero point for padding; the generator folds -in_zp * sum(w) into the records' bias_adj,
 * so acc = bias_adj + col . w is exactly the reference's bias + sum((in - in_zp) * w).
 * Requantization from the per-channel records rq = (bias_adj, mult, cz, s) (mcd_rq_out: one SMMLA
 * and one shift), or with the generic rule from q when the layer's shifts do not fit the records
 * (fast = 0, a literal from the generator).
 *
 * Fused pool: for each pooled output the conv positions of its window are computed two at a
 * time; the max accumulator per channel is requantized once (requantization is monotonic, so
 * this equals pooling the requantized outputs) and the un-pooled map is never stored.
 *
 * Scratch (mcd_conv2d_s8_scratch_bytes): two int16 columns, two int32 accumulator rows, and a
 * per-channel running max.
 */
#include "mcd_kernels.h"
#include "mcd_gemm_s8.h"
#include "mcd_im2col_s8.h"
#include "mcd_simd.h"

int32_t mcd_conv2d_s8_scratch_bytes(int32_t k_h, int32_t k_w, int32_t c_in, int32_t c_out)
{
    const int32_t k4 = (k_h * k_w * c_in + 3) & ~3;
    return 2 * k4 * 2 + 3 * c_out * 4;
}

/* acc_a[o], acc_b[o] = bias_adj[o] + col_a . w[o], col_b . w[o] for every output channel. */
static void gemm_2col(const int16_t *col_a, const int16_t *col_b, const int8_t *w, const int32_t *rq, int32_t c_out,
                      int32_t k4, int32_t *acc_a, int32_t *acc_b)
{
    int32_t o = 0;
    for (; o + 2 <= c_out; o += 2) {
        int32_t s[4];
        s[0] = s[2] = rq[4 * o];
        s[1] = s[3] = rq[4 * o + 4];
        mcd_dot2x2(col_a, col_b, w + o * k4, k4, s);
        acc_a[o] = s[0];
        acc_a[o + 1] = s[1];
        acc_b[o] = s[2];
        acc_b[o + 1] = s[3];
    }
    for (; o < c_out; o++) {
        const int8_t *w0 = w + o * k4;
        const int16_t *a = col_a, *b = col_b;
        int32_t sa = rq[4 * o], sb = sa;
        int32_t k = k4 >> 2;
        while (k--) {
            const uint32_t wa = mcd_ld32(w0);
            const uint32_t wa01 = mcd_sxtb16(wa), wa23 = mcd_sxtb16_ror8(wa);
            mcd_smlad4x2(a, b, wa01, wa23, &sa, &sb);
            w0 += 4;
            a += 4;
            b += 4;
        }
        acc_a[o] = sa;
        acc_b[o] = sb;
    }
}

void mcd_conv2d_s8(const mcd_conv_params *p, const mcd_channel_quant *q, const mcd_dims *in_d,
                   const int8_t *in, int32_t k_h, int32_t k_w, const int8_t *w, const int32_t *rq, int32_t fast,
                   const mcd_dims *out_d, int8_t *out, void *scratch)
{
    const int32_t c_out = out_d->c, k4 = (k_h * k_w * in_d->c + 3) & ~3;
    int16_t *col_a = (int16_t *)scratch, *col_b = col_a + k4;
    int32_t *acc_a = (int32_t *)(col_b + k4), *acc_b = acc_a + c_out, *best = acc_b + c_out;
    const int32_t pool = p->pool_h * p->pool_w;
    int32_t py, px, i, o;

    if (pool == 1) { /* plain conv: output pixels two at a time in raster order */
        const int32_t n = out_d->h * out_d->w;
        for (i = 0; i + 2 <= n; i += 2) {
            mcd_im2col(p, in_d, in, k_h, k_w, k4, i / out_d->w, i % out_d->w, col_a);
            mcd_im2col(p, in_d, in, k_h, k_w, k4, (i + 1) / out_d->w, (i + 1) % out_d->w, col_b);
            gemm_2col(col_a, col_b, w, rq, c_out, k4, acc_a, acc_b);
            mcd_requant_row(p, q, rq, fast, acc_a, c_out, out + i * c_out);
            mcd_requant_row(p, q, rq, fast, acc_b, c_out, out + (i + 1) * c_out);
        }
        if (i < n) {
            mcd_im2col(p, in_d, in, k_h, k_w, k4, i / out_d->w, i % out_d->w, col_a);
            gemm_2col(col_a, col_a, w, rq, c_out, k4, acc_a, acc_b);
            mcd_requant_row(p, q, rq, fast, acc_a, c_out, out + i * c_out);
        }
        return;
    }
    for (py = 0; py < out_d->h; py++) {
        for (px = 0; px < out_d->w; px++) {
            for (o = 0; o < c_out; o++) best[o] = INT32_MIN;
            for (i = 0; i < pool; i += 2) { /* the window's conv positions, two at a time */
                const int32_t j = i + 1 < pool ? i + 1 : i;
                mcd_im2col(p, in_d, in, k_h, k_w, k4, py * p->pool_sh + i / p->pool_w, px * p->pool_sw + i % p->pool_w,
                       col_a);
                mcd_im2col(p, in_d, in, k_h, k_w, k4, py * p->pool_sh + j / p->pool_w, px * p->pool_sw + j % p->pool_w,
                       col_b);
                gemm_2col(col_a, col_b, w, rq, c_out, k4, acc_a, acc_b);
                for (o = 0; o < c_out; o++) {
                    const int32_t m = acc_a[o] > acc_b[o] ? acc_a[o] : acc_b[o];
                    if (m > best[o]) best[o] = m;
                }
            }
            mcd_requant_row(p, q, rq, fast, best, c_out, out + (py * out_d->w + px) * c_out);
        }
    }
}
