/* int8 elementwise maximum / minimum with b broadcast (modes of mcd_mul_s8: 0 same shape, 1 per
 * channel, 2 one value, 3 per pixel): each input requantized to the output scale, then compared
 * (see mcudeploy/ops/minmax.py). Reads a[i] and b's element before writing out[i]: in-place safe
 * on a. */
#include "mcd_common.h"
#include "mcd_ops.h"

void mcd_minmax_s8(int32_t pixels, int32_t c, const int8_t *a, const int8_t *b, int32_t b_mode, int32_t is_max,
                   int32_t zp_a, int32_t zp_b, int32_t mult_a, int32_t shift_a, int32_t mult_b, int32_t shift_b,
                   int32_t out_zp, int8_t *out)
{
    int32_t p, ch, i = 0;
    for (p = 0; p < pixels; p++) {
        for (ch = 0; ch < c; ch++, i++) {
            const int32_t bi = mcd_bcast_index(b_mode, i, ch, p);
            const int32_t x = mcd_requant(a[i] - zp_a, mult_a, shift_a);
            const int32_t y = mcd_requant(b[bi] - zp_b, mult_b, shift_b);
            out[i] = mcd_clamp8((is_max ? (x > y ? x : y) : (x < y ? x : y)) + out_zp, -128, 127);
        }
    }
}
