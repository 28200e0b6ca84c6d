/* int8 transposed convolution (ConvTranspose2d, groups 1), HWC. Output pixel (oy, ox) receives
 * tap (ky, kx) of input pixel (iy, ix) where oy = iy * stride_h - pad_t + ky (likewise x), so only
 * the taps ky = ry, ry + stride_h, ... with ry = (oy + pad_t) mod stride_h reach it (likewise x):
 * its phase class. Per output pixel the int16 column (q - zp) of its class's taps in (ky, kx, ci)
 * order is gathered into scratch (a tap whose input pixel lies outside the map is 0); each output
 * channel is then a dot product with the class's weight row, two MACs per SMLAD. Weights int16,
 * per class [O][Kc2] (Kc = the class's taps x c_in, Kc2 even), classes in (ry, rx) order; the
 * generator gives mcd_convt2d_s8_scratch_bytes() of scratch (mcudeploy/ops/convt.py). */
#include "mcd_kernels.h"
#include "mcd_ops.h"
#include "mcd_simd.h"

static int32_t mcd_ct_taps(int32_t k, int32_t s, int32_t r) { return r < k ? (k - r + s - 1) / s : 0; }

int32_t mcd_convt2d_s8_scratch_bytes(int32_t k_h, int32_t k_w, int32_t c_in, int32_t stride_h, int32_t stride_w)
{
    const int32_t k = mcd_ct_taps(k_h, stride_h, 0) * mcd_ct_taps(k_w, stride_w, 0) * c_in;
    return 2 * (k + (k & 1));
}

void mcd_convt2d_s8(const mcd_conv_params *p, const mcd_channel_quant *q, const mcd_dims *in_d,
                    const int8_t *in, int32_t k_h, int32_t k_w, const int16_t *w, const int32_t *bias,
                    const mcd_dims *out_d, int8_t *out, void *scratch)
{
    const int32_t c = in_d->c, sh = p->stride_h, sw = p->stride_w;
    int16_t *col = (int16_t *)scratch;
    int32_t oy, ox, ky, kx, ci, o;
    for (oy = 0; oy < out_d->h; oy++) {
        const int32_t ry = (oy + p->pad_t) % sh;
        for (ox = 0; ox < out_d->w; ox++) {
            const int32_t rx = (ox + p->pad_l) % sw;
            int8_t *dst = out + (oy * out_d->w + ox) * out_d->c;
            int16_t *cp = col;
            const int16_t *wc = w;
            int32_t k, k2, cls;
            for (cls = 0; cls < ry * sw + rx; cls++) { /* skip the rows of the classes before this one */
                const int32_t kc = mcd_ct_taps(k_h, sh, cls / sw) * mcd_ct_taps(k_w, sw, cls % sw) * c;
                wc += out_d->c * (kc + (kc & 1));
            }
            for (ky = ry; ky < k_h; ky += sh) {
                const int32_t ty = oy + p->pad_t - ky, iy = ty / sh;
                for (kx = rx; kx < k_w; kx += sw) {
                    const int32_t tx = ox + p->pad_l - kx, ix = tx / sw;
                    if (ty >= 0 && iy < in_d->h && tx >= 0 && ix < in_d->w) {
                        const int8_t *src = in + (iy * in_d->w + ix) * c;
                        for (ci = 0; ci < c; ci++) *cp++ = (int16_t)(src[ci] - p->in_zp);
                    } else {
                        for (ci = 0; ci < c; ci++) *cp++ = 0;
                    }
                }
            }
            k = (int32_t)(cp - col);
            k2 = k + (k & 1);
            if (k & 1) *cp = 0;
            for (o = 0; o < out_d->c; o++) {
                const int16_t *wr = wc + o * k2;
                int32_t acc = bias[o], i;
                for (i = 0; i < k2; i += 2) acc = mcd_smlad(mcd_ld32(col + i), mcd_ld32(wr + i), acc);
                dst[o] = mcd_clamp8(mcd_requant(acc, q->mult[o], q->shift[o]) + p->out_zp, p->act_min, p->act_max);
            }
        }
    }
}
