/* int8 convolution (groups = 1) with ternary (bits = 2) or int4 (bits = 4) weights packed in
 * flash (layout: mcd_lowbit_s8.h, rows of k_h * k_w * C_in weights in (ky, kx, c) order), HWC
 * activations, optional fused max-pool. Same scheme as conv2d_s8.c: im2col of two output pixels
 * into int16 columns (raw inputs, zero point for padding), each packed weight word unpacked once
 * in registers for both columns, sums from bias_adj = bias - in_zp * sum(q) (the records rq =
 * (bias_adj, mult, cz, s) the generator writes for the dense kernel), requantization from the
 * records or, when the layer's shifts do not fit them (fast = 0), with the generic rule.
 * Scratch (mcd_conv2d_lowbit_s8_scratch_bytes): two int16 columns of kp (K rounded up to whole
 * weight words), two int32 accumulator rows and a per-channel running max.
 */
#include "mcd_kernels.h"
#include "mcd_im2col_s8.h"
#include "mcd_lowbit_s8.h"

int32_t mcd_conv2d_lowbit_s8_scratch_bytes(int32_t bits, int32_t k_h, int32_t k_w, int32_t c_in, int32_t c_out)
{
    return 2 * mcd_lb_kp(bits, k_h * k_w * c_in) * 2 + 3 * c_out * 4;
}

static void gemm(int32_t bits, const int16_t *a, const int16_t *b, const uint32_t *w, const int32_t *rq,
                 int32_t c_out, int32_t nw, int32_t *acc_a, int32_t *acc_b)
{
    const int32_t sh = 8 - bits;
    int32_t o;
    for (o = 0; o < c_out; o++, w += nw) {
        int32_t sa = 0, sb = 0;
        if (bits == 2)
            mcd_lb_dot2(2, a, b, w, nw, &sa, &sb);
        else
            mcd_lb_dot2(4, a, b, w, nw, &sa, &sb);
        acc_a[o] = (sa >> sh) + rq[4 * o];
        acc_b[o] = (sb >> sh) + rq[4 * o];
    }
}

void mcd_conv2d_lowbit_s8(int32_t bits, const mcd_conv_params *p, const mcd_channel_quant *q, const mcd_dims *in_d,
                          const int8_t *in, int32_t k_h, int32_t k_w, const uint32_t *w, const int32_t *rq,
                          int32_t fast, const mcd_dims *out_d, int8_t *out, void *scratch)
{
    const int32_t c_out = out_d->c, kp = mcd_lb_kp(bits, k_h * k_w * in_d->c), nw = kp / MCD_LB_PER_WORD(bits);
    int16_t *col_a = (int16_t *)scratch, *col_b = col_a + kp;
    int32_t *acc_a = (int32_t *)(col_b + kp), *acc_b = acc_a + c_out, *best = acc_b + c_out;
    const int32_t pool = p->pool_h * p->pool_w;
    int32_t py, px, i, o;

    if (pool == 1) {
        const int32_t n = out_d->h * out_d->w;
        for (i = 0; i < n; i += 2) {
            const int32_t j = i + 1 < n ? i + 1 : i;
            mcd_im2col(p, in_d, in, k_h, k_w, kp, i / out_d->w, i % out_d->w, col_a);
            mcd_im2col(p, in_d, in, k_h, k_w, kp, j / out_d->w, j % out_d->w, col_b);
            gemm(bits, col_a, col_b, w, rq, c_out, nw, acc_a, acc_b);
            mcd_requant_row(p, q, rq, fast, acc_a, c_out, out + i * c_out);
            if (j != i) mcd_requant_row(p, q, rq, fast, acc_b, c_out, out + j * c_out);
        }
        return;
    }
    for (py = 0; py < out_d->h; py++) {
        for (px = 0; px < out_d->w; px++) {
            for (o = 0; o < c_out; o++) best[o] = INT32_MIN;
            for (i = 0; i < pool; i += 2) {
                const int32_t j = i + 1 < pool ? i + 1 : i;
                mcd_im2col(p, in_d, in, k_h, k_w, kp, py * p->pool_sh + i / p->pool_w, px * p->pool_sw + i % p->pool_w,
                           col_a);
                mcd_im2col(p, in_d, in, k_h, k_w, kp, py * p->pool_sh + j / p->pool_w, px * p->pool_sw + j % p->pool_w,
                           col_b);
                gemm(bits, col_a, col_b, w, rq, c_out, nw, acc_a, acc_b);
                for (o = 0; o < c_out; o++) {
                    const int32_t m = acc_a[o] > acc_b[o] ? acc_a[o] : acc_b[o];
                    if (m > best[o]) best[o] = m;
                }
            }
            mcd_requant_row(p, q, rq, fast, best, c_out, out + (py * out_d->w + px) * c_out);
        }
    }
}
