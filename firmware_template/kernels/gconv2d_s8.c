/* Grouped and/or dilated int8 convolution, HWC (what mcd_conv2d_s8 / the depthwise kernels do not
 * take; Conv1d arrives as a 1 x L map). Per output row, the k_h input rows its taps reach (row
 * ky is input row oy * stride - pad + ky * dil) are widened into a band (mcd_band_s8.h), zero
 * columns either side; each group is then a small dense convolution over the band, two pixels
 * x two output channels a step, with no gather: a tap is an offset, dilation a longer offset.
 * Weights int16, per group and pair of its output channels (O2 = a group's outputs rounded up to
 * even, zero weights): [k_h][k_w][I2 / 2][2 channels][2 values], I2 = a group's input channels
 * rounded up to even (zero weight).
 *
 * Depthwise (one input and one output channel a group, e.g. a dilated depthwise conv) pairs taps
 * instead of channels: the words (x[tA, c], x[tA, c+1]) and (x[tB, c], x[tB, c+1]) repack into
 * (x[tA, c], x[tB, c]) and (x[tA, c+1], x[tB, c+1]) (one PKHBT/PKHTB each) against weights stored
 * as tap pairs, [C2/2][T2/2][2 channels][2 taps] (C2, T2 rounded up to even, zero weights). Tap
 * rows outside the image point at a zero row of the band.
 * Scratch (mcd_gconv2d_s8_scratch_bytes; mcudeploy/ops/gconv.py computes the same): the band,
 * S rows (+ the zero row for depthwise) of (pad_l + W + right pad) x C int16 and two spare
 * int16, rounded up to a word, S = (k_h - 1) * dil_h + 1 with stride 1 (a ring: each input row
 * widened once), else k_h; then int32: the tap offsets (k_h * k_w * I2 + 2), the input row each
 * band row holds (S), the band offset of each tap row (k_h). */
#include "mcd_kernels.h"
#include "mcd_ops.h"
#include "mcd_band_s8.h"

static int32_t mcd_gconv_pad_r(int32_t in_w, int32_t out_w, int32_t k_w, int32_t stride_w, int32_t pad_l,
                               int32_t dil_w)
{
    const int32_t r = (out_w - 1) * stride_w - pad_l + (k_w - 1) * dil_w - (in_w - 1);
    return r > 0 ? r : 0;
}

/* int16 of the band, rounded up to even so that the offsets after it are word-aligned */
static int32_t mcd_gconv_band_n(int32_t rows, int32_t row_stride)
{
    const int32_t n = rows * row_stride + 2;
    return n + (n & 1);
}

/* band rows: with stride 1 a ring of every input row a window spans (each row widened once),
 * else one a tap row (re-widened for each output row) */
static int32_t mcd_gconv_slots(int32_t k_h, int32_t stride_h, int32_t dil_h)
{
    return stride_h == 1 ? (k_h - 1) * dil_h + 1 : k_h;
}

int32_t mcd_gconv2d_s8_scratch_bytes(int32_t k_h, int32_t k_w, int32_t c_in_group, int32_t c_out, int32_t groups,
                                     int32_t in_w, int32_t out_w, int32_t stride_w, int32_t pad_l, int32_t dil_w,
                                     int32_t stride_h, int32_t dil_h)
{
    const int32_t wp = pad_l + in_w + mcd_gconv_pad_r(in_w, out_w, k_w, stride_w, pad_l, dil_w);
    const int32_t dw = c_in_group == 1 && c_out == groups, slots = mcd_gconv_slots(k_h, stride_h, dil_h);
    return 2 * mcd_gconv_band_n(slots + dw, wp * c_in_group * groups) +
           4 * (k_h * k_w * (c_in_group + (c_in_group & 1)) + 2 + slots + k_h);
}

/* Depthwise: channels (c, c+1) over the row's pixels, two pixels a step; x: the band at the first
 * pixel, channel c; jb->off: per tap pair (tA, tB) the offsets (tA, tB, tA + ps, tB + ps); w:
 * the channel pair's tap-pair weights. */
static __attribute__((noinline)) void mcd_gconv_dw_pixels(const mcd_band_job *jb, const int16_t *x, const int16_t *w,
                                                          int32_t bias_a, int32_t bias_b, const mcd_band_rq *ra,
                                                          const mcd_band_rq *rb, int8_t *dst, int32_t two_ch)
{
    const int32_t *const off = jb->off, n4 = 4 * jb->n;
    const int32_t last = mcd_band_last_pair(jb->n_pix), ps = jb->pix_step, ds = jb->dst_step;
    const int32_t two_pix = jb->n_pix >= 2, fast = two_pix && mcd_band_pair_fast(ra, rb, two_ch);
    const int32_t ma = ra->mult, cza = ra->cz, sa = ra->s, mb = rb->mult, czb = rb->cz, sb = rb->s;
    int32_t j = 0;
    for (;;) {
        const int16_t *const x0 = x + j * ps;
        const int16_t *wp = w;
        const int32_t *op = off, *const end = off + n4;
        int32_t a0 = bias_a, a1 = bias_b, b0 = bias_a, b1 = bias_b;
        int8_t *d0 = dst + j * ds;
        while (op < end) {
            const uint32_t xa0 = mcd_ld32(x0 + op[0]), xb0 = mcd_ld32(x0 + op[1]);
            const uint32_t u = mcd_ld32(wp), v = mcd_ld32(wp + 2);
            const uint32_t xa1 = mcd_ld32(x0 + op[2]), xb1 = mcd_ld32(x0 + op[3]);
            op += 4;
            wp += 4;
            a0 = mcd_smlad(mcd_pack_lo(xa0, xb0), u, a0);
            a1 = mcd_smlad(mcd_pack_hi(xa0, xb0), v, a1);
            b0 = mcd_smlad(mcd_pack_lo(xa1, xb1), u, b0);
            b1 = mcd_smlad(mcd_pack_hi(xa1, xb1), v, b1);
        }
        if (fast) {
            d0[0] = mcd_band_store_fast(a0, ma, cza, sa);
            d0[1] = mcd_band_store_fast(a1, mb, czb, sb);
            d0[ds] = mcd_band_store_fast(b0, ma, cza, sa);
            d0[ds + 1] = mcd_band_store_fast(b1, mb, czb, sb);
        } else {
            mcd_band_store4(a0, a1, b0, b1, d0, ds, ra, rb, two_ch, two_pix);
        }
        if (j == last) break;
        j = j + 2 > last ? last : j + 2;
    }
}

static void mcd_gconv_dw_row(const mcd_conv_params *p, const mcd_channel_quant *q, int32_t c, const int16_t *band,
                             const int32_t *toff, int32_t t2, const int16_t *w, const int32_t *bias, int32_t out_w,
                             int8_t *dst)
{
    mcd_band_job jb;
    mcd_band_rq ra, rb;
    int32_t ch;
    jb.x = band;
    jb.pix_step = p->stride_w * c;
    jb.off = toff;
    jb.n = t2 / 2;
    jb.quad = 0;
    jb.n_pix = out_w;
    jb.dst_step = c;
    for (ch = 0; ch < c; ch += 2) { /* channel pairs outer: their requantization prepared once */
        const int32_t two_ch = ch + 1 < c, c1 = ch + two_ch;
        mcd_band_rq_init(&ra, p, q->mult[ch], q->shift[ch]);
        mcd_band_rq_init(&rb, p, q->mult[c1], q->shift[c1]);
        mcd_gconv_dw_pixels(&jb, band + ch, w + ch * t2, bias[ch], bias[c1], &ra, &rb, dst + ch, two_ch);
    }
}

void mcd_gconv2d_s8(const mcd_conv_params *p, const mcd_channel_quant *q, const mcd_dims *in_d,
                    const int8_t *in, int32_t k_h, int32_t k_w, int32_t dil_h, int32_t dil_w, int32_t groups,
                    const int16_t *w, const int32_t *bias, const mcd_dims *out_d, int8_t *out, void *scratch)
{
    const int32_t c = in_d->c, ig = c / groups, og = out_d->c / groups, ig2 = ig + (ig & 1), og2 = og + (og & 1);
    const int32_t kr = k_h * k_w * ig2, h = in_d->h, t_n = k_h * k_w, t2 = t_n + (t_n & 1);
    const int32_t pl = p->pad_l, pr = mcd_gconv_pad_r(in_d->w, out_d->w, k_w, p->stride_w, pl, dil_w);
    const int32_t rs = (pl + in_d->w + pr) * c;
    const int32_t dw = ig == 1 && og == 1, ps = out_d->w >= 2 ? p->stride_w * c : 0;
    const int32_t slots = mcd_gconv_slots(k_h, p->stride_h, dil_h), ring = p->stride_h == 1;
    int16_t *band = (int16_t *)scratch;
    int32_t *off = (int32_t *)(void *)(band + mcd_gconv_band_n(slots + dw, rs));
    int32_t *tag = off + k_h * k_w * ig2 + 2, *roff = tag + slots;
    int32_t oy, ky, t, g;
    mcd_zero16(band + (slots + dw) * rs, 2); /* the spare int16 an odd channel's partner may read */
    if (dw) mcd_zero16(band + slots * rs, rs);
    for (t = 0; t < slots; t++) tag[t] = -1;
    for (oy = 0; oy < out_d->h; oy++) {
        const int32_t iy0 = oy * p->stride_h - p->pad_t;
        const int32_t ky0 = iy0 >= 0 ? 0 : (-iy0 + dil_h - 1) / dil_h;
        int32_t ky1 = iy0 > h - 1 ? 0 : (h - 1 - iy0) / dil_h + 1;
        int8_t *dst = out + oy * out_d->w * out_d->c;
        if (ky1 > k_h) ky1 = k_h;
        for (ky = ky0; ky < ky1; ky++) {
            const int32_t iy = iy0 + ky * dil_h, slot = ring ? iy % slots : ky;
            if (tag[slot] != iy) {
                mcd_band_row(band + slot * rs, in + iy * in_d->w * c, in_d->w, c, pl, pr, p->in_zp);
                tag[slot] = iy;
            }
            roff[ky] = slot * rs;
        }
        if (dw) { /* per tap pair (tA, tB): tA, tB, then both for the second pixel; the pad tap repeats */
            for (t = 0; t < t2; t++) {
                const int32_t tt = t < t_n ? t : t_n - 1, r = tt / k_w;
                const int32_t o = (r >= ky0 && r < ky1 ? roff[r] : slots * rs) + (tt % k_w) * dil_w * c;
                off[4 * (t >> 1) + (t & 1)] = o;
                off[4 * (t >> 1) + (t & 1) + 2] = o + ps;
            }
            mcd_gconv_dw_row(p, q, c, band, off, t2, w, bias, out_d->w, dst);
        } else {
            const int32_t n_ty = ky1 > ky0 ? ky1 - ky0 : 0, kb = n_ty ? ky0 : 0;
            mcd_band_job jb;
            jb.pix_step = p->stride_w * c;
            jb.off = off;
            jb.quad = (ig2 & 7) == 0 ? 2 : (ig2 & 3) == 0;
            jb.n = mcd_band_offsets(off, n_ty, rs, roff + kb, k_w, dil_w * c, ig2, jb.quad, ps);
            jb.n_pix = out_d->w;
            jb.dst_step = out_d->c;
            for (g = 0; g < groups; g++) {
                const mcd_channel_quant qg = { q->mult + g * og, q->shift + g * og };
                jb.x = band + g * ig;
                mcd_band_conv(&jb, w + g * og2 * kr + 2 * kb * k_w * ig2, 2 * kr, og, bias + g * og, &qg, p,
                              dst + g * og);
            }
        }
    }
}
