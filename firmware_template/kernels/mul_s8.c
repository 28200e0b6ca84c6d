/* int8 elementwise multiply with broadcasting of b (see mcudeploy/ops/mul.py for the modes):
 * out = clamp(out_zp + requant((a - zp_a) * (b - zp_b))). a is the full-size tensor, HWC with
 * c channels per pixel. Reads a[i] and b's element before writing out[i]: in-place safe on a. */
#include "mcd_common.h"
#include "mcd_ops.h"

void mcd_mul_s8(int32_t pixels, int32_t c, const int8_t *a, const int8_t *b, int32_t b_mode,
                int32_t zp_a, int32_t zp_b, int32_t mult, int32_t shift, int32_t out_zp, int32_t act_min,
                int32_t act_max, int8_t *out)
{
    int32_t p, ch, i = 0;
    for (p = 0; p < pixels; p++) {
        for (ch = 0; ch < c; ch++, i++) {
            const int32_t bi = mcd_bcast_index(b_mode, i, ch, p);
            const int32_t acc = (a[i] - zp_a) * (b[bi] - zp_b);
            out[i] = mcd_clamp8(mcd_requant(acc, mult, shift) + out_zp, act_min, act_max);
        }
    }
}
