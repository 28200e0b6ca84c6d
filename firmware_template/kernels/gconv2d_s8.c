/* Grouped and/or dilated int8 convolution, HWC (what mcd_conv2d_s8 / the depthwise kernels do not
 * take; Conv1d arrives as a 1 x L map). For each output pixel and group, the dilated window of the
 * group's input channels is gathered once into scratch as int16 (q - zp; padding taps are 0), in
 * the weights' (ky, kx, ci) order; every output channel of the group is then a dot product of two
 * int16 vectors, two MACs per SMLAD. Weights int16 [O][K2], K = k_h * k_w * c_in_group, K2 = K
 * rounded up to even (a zero tap pads it); scratch: mcd_gconv2d_s8_scratch_bytes().
 * Depthwise (one input and one output channel a group, e.g. a dilated depthwise conv) takes
 * another loop order instead: per output pixel, an int32 accumulator per channel in scratch and
 * the taps walked over contiguous channels (a gather per channel would cost more than its MACs). */
#include <string.h>
#include "mcd_kernels.h"
#include "mcd_ops.h"
#include "mcd_simd.h"

int32_t mcd_gconv2d_s8_scratch_bytes(int32_t k_h, int32_t k_w, int32_t c_in_group, int32_t c_out, int32_t groups)
{
    const int32_t k = k_h * k_w * c_in_group;
    if (c_in_group == 1 && c_out == groups) return 4 * c_out; /* depthwise: one accumulator a channel */
    return 2 * (k + (k & 1));
}

static void mcd_gconv2d_dw(const mcd_conv_params *p, const mcd_channel_quant *q, const mcd_dims *in_d,
                           const int8_t *in, int32_t k_h, int32_t k_w, int32_t dil_h, int32_t dil_w,
                           const int16_t *w, const int32_t *bias, const mcd_dims *out_d, int8_t *out, int32_t *acc)
{
    const int32_t c = in_d->c, k = k_h * k_w, k2 = k + (k & 1);
    int32_t oy, ox, ky, kx, ch;
    for (oy = 0; oy < out_d->h; oy++) {
        for (ox = 0; ox < out_d->w; ox++) {
            int8_t *dst = out + (oy * out_d->w + ox) * c;
            for (ch = 0; ch < c; ch++) acc[ch] = bias[ch];
            for (ky = 0; ky < k_h; ky++) {
                const int32_t iy = oy * p->stride_h - p->pad_t + ky * dil_h;
                if (iy < 0 || iy >= in_d->h) continue;
                for (kx = 0; kx < k_w; kx++) {
                    const int32_t ix = ox * p->stride_w - p->pad_l + kx * dil_w;
                    const int8_t *src = in + (iy * in_d->w + ix) * c;
                    const int16_t *wt = w + ky * k_w + kx;
                    if (ix < 0 || ix >= in_d->w) continue;
                    for (ch = 0; ch < c; ch++) acc[ch] += (src[ch] - p->in_zp) * wt[ch * k2];
                }
            }
            for (ch = 0; ch < c; ch++)
                dst[ch] = mcd_clamp8(mcd_requant(acc[ch], q->mult[ch], q->shift[ch]) + p->out_zp, p->act_min, p->act_max);
        }
    }
}

void mcd_gconv2d_s8(const mcd_conv_params *p, const mcd_channel_quant *q, const mcd_dims *in_d,
                    const int8_t *in, int32_t k_h, int32_t k_w, int32_t dil_h, int32_t dil_w, int32_t groups,
                    const int16_t *w, const int32_t *bias, const mcd_dims *out_d, int8_t *out, void *scratch)
{
    const int32_t c_in = in_d->c, ig = c_in / groups, og = out_d->c / groups;
    const int32_t k = k_h * k_w * ig, k2 = k + (k & 1);
    int16_t *col = (int16_t *)scratch;
    int32_t oy, ox, g, ky, kx, ci, o;
    if (ig == 1 && og == 1) {
        mcd_gconv2d_dw(p, q, in_d, in, k_h, k_w, dil_h, dil_w, w, bias, out_d, out, (int32_t *)scratch);
        return;
    }
    for (oy = 0; oy < out_d->h; oy++) {
        for (ox = 0; ox < out_d->w; ox++) {
            int8_t *dst = out + (oy * out_d->w + ox) * out_d->c;
            for (g = 0; g < groups; g++) {
                int16_t *c = col;
                for (ky = 0; ky < k_h; ky++) {
                    const int32_t iy = oy * p->stride_h - p->pad_t + ky * dil_h;
                    for (kx = 0; kx < k_w; kx++) {
                        const int32_t ix = ox * p->stride_w - p->pad_l + kx * dil_w;
                        if (iy < 0 || iy >= in_d->h || ix < 0 || ix >= in_d->w) {
                            for (ci = 0; ci < ig; ci++) *c++ = 0;
                        } else {
                            const int8_t *src = in + (iy * in_d->w + ix) * c_in + g * ig;
                            for (ci = 0; ci < ig; ci++) *c++ = (int16_t)(src[ci] - p->in_zp);
                        }
                    }
                }
                if (k & 1) *c = 0;
                for (o = g * og; o < (g + 1) * og; o++) {
                    const int16_t *wr = w + o * k2;
                    int32_t acc = bias[o], i;
                    for (i = 0; i < k2; i += 2) acc = mcd_smlad(mcd_ld32(col + i), mcd_ld32(wr + i), acc);
                    dst[o] = mcd_clamp8(mcd_requant(acc, q->mult[o], q->shift[o]) + p->out_zp, p->act_min, p->act_max);
                }
            }
        }
    }
}
