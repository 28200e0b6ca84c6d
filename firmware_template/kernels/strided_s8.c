/* int8 affine gather (permute, transpose, slice, split pieces): out[oy][ox][oc] =
 * in[base + oy * s0 + ox * s1 + oc * s2], out h x w x c in memory order. Strides come from the
 * generator (mcudeploy/ops/strided.py), which checked the op is this affine form. */
#include "mcd_common.h"
#include "mcd_ops.h"

void mcd_strided_s8(int32_t h, int32_t w, int32_t c, const int8_t *in, int32_t base, int32_t s0,
                    int32_t s1, int32_t s2, int8_t *out)
{
    int32_t oy, ox, oc;
    for (oy = 0; oy < h; oy++) {
        for (ox = 0; ox < w; ox++) {
            const int8_t *src = in + base + oy * s0 + ox * s1;
            if (s2 == 1) {
                for (oc = 0; oc < c; oc++) *out++ = src[oc];
            } else {
                for (oc = 0; oc < c; oc++) *out++ = src[oc * s2];
            }
        }
    }
}
