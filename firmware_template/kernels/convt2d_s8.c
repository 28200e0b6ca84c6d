/* int8 transposed convolution (ConvTranspose2d, groups 1), HWC. Output pixel (oy, ox) receives
 * tap (ky, kx) of input pixel (iy, ix) where oy = iy * stride_h - pad_t + ky (likewise x). Per
 * output pixel the int16 column (q - zp) of every tap in (ky, kx, ci) order is gathered into
 * scratch (taps with no input pixel are 0); each output channel is a dot product over it, two
 * MACs per SMLAD. Weights int16 [O][K2], K = k_h * k_w * c_in (K2 even); the generator gives
 * mcd_convt2d_s8_scratch_bytes() of scratch. */
#include "mcd_kernels.h"
#include "mcd_ops.h"
#include "mcd_simd.h"

int32_t mcd_convt2d_s8_scratch_bytes(int32_t k_h, int32_t k_w, int32_t c_in)
{
    const int32_t k = k_h * k_w * c_in;
    return 2 * (k + (k & 1));
}

void mcd_convt2d_s8(const mcd_conv_params *p, const mcd_channel_quant *q, const mcd_dims *in_d,
                    const int8_t *in, int32_t k_h, int32_t k_w, const int16_t *w, const int32_t *bias,
                    const mcd_dims *out_d, int8_t *out, void *scratch)
{
    const int32_t c = in_d->c, k = k_h * k_w * c, k2 = k + (k & 1);
    int16_t *col = (int16_t *)scratch;
    int32_t oy, ox, ky, kx, ci, o;
    for (oy = 0; oy < out_d->h; oy++) {
        for (ox = 0; ox < out_d->w; ox++) {
            int8_t *dst = out + (oy * out_d->w + ox) * out_d->c;
            int16_t *cp = col;
            for (ky = 0; ky < k_h; ky++) {
                const int32_t ty = oy + p->pad_t - ky, iy = ty / p->stride_h;
                const int32_t y_ok = ty >= 0 && ty % p->stride_h == 0 && iy < in_d->h;
                for (kx = 0; kx < k_w; kx++) {
                    const int32_t tx = ox + p->pad_l - kx, ix = tx / p->stride_w;
                    if (y_ok && tx >= 0 && tx % p->stride_w == 0 && ix < in_d->w) {
                        const int8_t *src = in + (iy * in_d->w + ix) * c;
                        for (ci = 0; ci < c; ci++) *cp++ = (int16_t)(src[ci] - p->in_zp);
                    } else {
                        for (ci = 0; ci < c; ci++) *cp++ = 0;
                    }
                }
            }
            if (k & 1) *cp = 0;
            for (o = 0; o < out_d->c; o++) {
                const int16_t *wr = w + o * k2;
                int32_t acc = bias[o], i;
                for (i = 0; i < k2; i += 2) acc = mcd_smlad(mcd_ld32(col + i), mcd_ld32(wr + i), acc);
                dst[o] = mcd_clamp8(mcd_requant(acc, q->mult[o], q->shift[o]) + p->out_zp, p->act_min, p->act_max);
            }
        }
    }
}
