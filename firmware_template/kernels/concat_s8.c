/* Portable int8 channel concat, one input per call. */
#include "mcd_kernels.h"

void mcd_concat_s8(int32_t pixels, const int8_t *in, int32_t in_c, int32_t copy, int32_t in_zp,
                   int32_t mult, int32_t shift, int32_t out_zp, int32_t c_off, int32_t out_c, int8_t *out)
{
    int32_t px, ch;
    for (px = 0; px < pixels; px++) {
        const int8_t *src = in + px * in_c;
        int8_t *dst = out + px * out_c + c_off;
        for (ch = 0; ch < in_c; ch++)
            dst[ch] = copy ? src[ch] : mcd_clamp8(mcd_requant(src[ch] - in_zp, mult, shift) + out_zp, -128, 127);
    }
}
