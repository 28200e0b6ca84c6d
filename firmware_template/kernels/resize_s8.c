/* int8 upsampling, HWC, same quantization in and out. mode 0: nearest by integer factors fy, fx
 * (each input pixel repeated). mode 1: bilinear x2, half-pixel centres (torch's align_corners=
 * False): per axis the two nearest inputs weigh 3/4 and 1/4 (edges clamped); the sum of the four
 * integer-weighted values (16 x the result) is rounded half up, floor((s + 8) / 16), written with
 * a non-negative dividend so C's truncation is a floor. */
#include "mcd_common.h"
#include "mcd_ops.h"

void mcd_resize_s8(const mcd_dims *in_d, const int8_t *in, int32_t mode, int32_t fy, int32_t fx, int8_t *out)
{
    const int32_t h = in_d->h, w = in_d->w, c = in_d->c, ow = w * fx;
    int32_t oy, ox, ch;
    for (oy = 0; oy < h * fy; oy++) {
        for (ox = 0; ox < ow; ox++) {
            int8_t *dst = out + (oy * ow + ox) * c;
            if (mode == 0) {
                const int8_t *src = in + ((oy / fy) * w + ox / fx) * c;
                for (ch = 0; ch < c; ch++) dst[ch] = src[ch];
            } else {
                const int32_t y = oy >> 1, x = ox >> 1;
                const int32_t y2 = (oy & 1) ? (y + 1 < h ? y + 1 : y) : (y > 0 ? y - 1 : 0);
                const int32_t x2 = (ox & 1) ? (x + 1 < w ? x + 1 : x) : (x > 0 ? x - 1 : 0);
                const int8_t *a = in + (y * w + x) * c, *b = in + (y * w + x2) * c;
                const int8_t *d = in + (y2 * w + x) * c, *e = in + (y2 * w + x2) * c;
                for (ch = 0; ch < c; ch++) {
                    const int32_t s = 9 * a[ch] + 3 * b[ch] + 3 * d[ch] + e[ch];
                    dst[ch] = (int8_t)((s + 8 + 16 * 128) / 16 - 128);
                }
            }
        }
    }
}
