/* int8 transposed convolution (ConvTranspose2d, groups 1), HWC. Output pixel (oy, ox) receives
 * tap (ky, kx) of input pixel (iy, ix) where oy = iy * stride_h - pad_t + ky (likewise x), so only
 * the taps ky = ry, ry + stride_h, ... with ry = (oy + pad_t) mod stride_h reach it (likewise x):
 * its phase class. Within a class the output pixels ox, ox + stride_w, ... read consecutive input
 * pixels, so each class of an output row is a small dense convolution over the input rows its
 * tap rows reach (a k2s2 class is a 1x1 convolution: a GEMM over the input pixels). Those rows
 * are widened once per output row into a band (mcd_band_s8.h, zero columns either side) and
 * every class is computed from it two pixels x two output channels a step, with no gather.
 * Weights int16 per class, classes in (ry, rx) order, each [O2/2][taps_y][taps_x][C2/2][2
 * channels][2 values] (O2, C2 = output / input channels rounded up to even, zero weights).
 * Scratch: mcd_convt2d_s8_scratch_bytes() (mcudeploy/ops/convt.py computes the same): the band,
 * ceil(k_h / stride_h) rows of (left pad + W + right pad) x C int16 and two spare int16, rounded
 * up to a word; then the int32 tap offsets, ceil(k_h / s_h) * ceil(k_w / s_w) * C2 + 2. */
#include "mcd_kernels.h"
#include "mcd_ops.h"
#include "mcd_band_s8.h"

static int32_t mcd_ct_taps(int32_t k, int32_t s, int32_t r) { return r < k ? (k - r + s - 1) / s : 0; }

static int32_t mcd_ct_band_n(int32_t rows, int32_t row_stride)
{
    const int32_t n = rows * row_stride + 2;
    return n + (n & 1);
}

/* band columns left of input column 0 and right of column W - 1 that some tap reaches */
static int32_t mcd_ct_pad_l(int32_t k_w, int32_t stride_w) { return (k_w - 1) / stride_w; }
static int32_t mcd_ct_pad_r(int32_t in_w, int32_t out_w, int32_t stride_w, int32_t pad_l)
{
    const int32_t r = (out_w - 1 + pad_l) / stride_w - (in_w - 1);
    return r > 0 ? r : 0;
}

int32_t mcd_convt2d_s8_scratch_bytes(int32_t k_h, int32_t k_w, int32_t c_in, int32_t stride_h, int32_t stride_w,
                                     int32_t in_w, int32_t out_w, int32_t pad_l)
{
    const int32_t rows = mcd_ct_taps(k_h, stride_h, 0), cols = mcd_ct_taps(k_w, stride_w, 0);
    const int32_t wp = mcd_ct_pad_l(k_w, stride_w) + in_w + mcd_ct_pad_r(in_w, out_w, stride_w, pad_l);
    return 2 * mcd_ct_band_n(rows, wp * c_in) + 4 * (rows * cols * (c_in + (c_in & 1)) + 2);
}

void mcd_convt2d_s8(const mcd_conv_params *p, const mcd_channel_quant *q, const mcd_dims *in_d,
                    const int8_t *in, int32_t k_h, int32_t k_w, const int16_t *w, const int32_t *bias,
                    const mcd_dims *out_d, int8_t *out, void *scratch)
{
    const int32_t c = in_d->c, c2 = c + (c & 1), o2 = out_d->c + (out_d->c & 1);
    const int32_t sh = p->stride_h, sw = p->stride_w, h = in_d->h;
    const int32_t bl = mcd_ct_pad_l(k_w, sw), br = mcd_ct_pad_r(in_d->w, out_d->w, sw, p->pad_l);
    const int32_t rs = (bl + in_d->w + br) * c, rows = mcd_ct_taps(k_h, sh, 0);
    int16_t *band = (int16_t *)scratch;
    int32_t *off = (int32_t *)(void *)(band + mcd_ct_band_n(rows, rs));
    mcd_band_job jb;
    int32_t oy, ty, rx, cls;
    mcd_zero16(band + rows * rs, 2); /* the spare int16 an odd channel's partner may read */
    jb.pix_step = c;
    jb.off = off;
    jb.quad = (c2 & 7) == 0 ? 2 : (c2 & 3) == 0;
    jb.dst_step = sw * out_d->c;
    for (oy = 0; oy < out_d->h; oy++) {
        const int32_t ry = (oy + p->pad_t) % sh, n_ty = mcd_ct_taps(k_h, sh, ry);
        const int32_t base = (oy + p->pad_t - ry) / sh; /* input row of tap row 0 */
        const int32_t ty0 = base - (h - 1) > 0 ? base - (h - 1) : 0;
        const int32_t ty1 = base + 1 < n_ty ? base + 1 : n_ty;
        const int32_t nv = ty1 > ty0 ? ty1 - ty0 : 0, kb = nv ? ty0 : 0;
        const int16_t *wc = w;
        for (cls = 0; cls < ry * sw; cls++) /* the weights of the classes before this row's */
            wc += o2 * mcd_ct_taps(k_h, sh, cls / sw) * mcd_ct_taps(k_w, sw, cls % sw) * c2;
        for (ty = ty0; ty < ty1; ty++)
            mcd_band_row(band + ty * rs, in + (base - ty) * in_d->w * c, in_d->w, c, bl, br, p->in_zp);
        for (rx = 0; rx < sw; rx++) {
            const int32_t n_tx = mcd_ct_taps(k_w, sw, rx), kc = n_ty * n_tx * c2;
            const int32_t ox0 = ((rx - p->pad_l) % sw + sw) % sw, ix0 = (ox0 + p->pad_l - rx) / sw;
            if (ox0 < out_d->w) {
                jb.x = band + kb * rs + (ix0 + bl) * c;
                jb.n_pix = (out_d->w - ox0 + sw - 1) / sw;
                jb.n = mcd_band_offsets(off, nv, rs, 0, n_tx, -c, c2, jb.quad, jb.n_pix >= 2 ? c : 0);
                mcd_band_conv(&jb, wc + 2 * kb * n_tx * c2, 2 * kc, out_d->c, bias, q, p,
                              out + (oy * out_d->w + ox0) * out_d->c);
            }
            wc += o2 * kc;
        }
    }
}
