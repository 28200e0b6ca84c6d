/* int8 constant padding of H and W, HWC, same quantization in and out; value is the quantized
 * pad constant. Bottom/right padding follows from out_d. */
#include "mcd_common.h"
#include "mcd_ops.h"

void mcd_pad_s8(const mcd_dims *in_d, const int8_t *in, int32_t pad_t, int32_t pad_l,
                const mcd_dims *out_d, int32_t value, int8_t *out)
{
    const int32_t c = in_d->c;
    int32_t oy, ox, ch;
    for (oy = 0; oy < out_d->h; oy++) {
        const int32_t iy = oy - pad_t;
        for (ox = 0; ox < out_d->w; ox++) {
            const int32_t ix = ox - pad_l;
            int8_t *dst = out + (oy * out_d->w + ox) * c;
            if (iy < 0 || iy >= in_d->h || ix < 0 || ix >= in_d->w) {
                for (ch = 0; ch < c; ch++) dst[ch] = (int8_t)value;
            } else {
                const int8_t *src = in + (iy * in_d->w + ix) * c;
                for (ch = 0; ch < c; ch++) dst[ch] = src[ch];
            }
        }
    }
}
