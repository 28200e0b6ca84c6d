/* Portable int8 element-wise add (TFLite's scheme): each input, offset by its zero point and
 * shifted left by left_shift (20) for headroom, is rescaled to twice the larger input scale;
 * the sum is rescaled to the output. (x << 20 is written as a multiply: left-shifting a
 * negative int is undefined in C99.) Reads a[i], b[i] before writing out[i]: in-place safe. */
#include "mcd_kernels.h"

void mcd_add_s8(const mcd_add_params *p, int32_t n, const int8_t *a, const int8_t *b, int8_t *out)
{
    const int32_t scale = (int32_t)1 << p->left_shift;
    int32_t i;
    for (i = 0; i < n; i++) {
        const int32_t x = mcd_requant((a[i] - p->zp1) * scale, p->mult1, p->shift1);
        const int32_t y = mcd_requant((b[i] - p->zp2) * scale, p->mult2, p->shift2);
        out[i] = mcd_clamp8(mcd_requant(x + y, p->out_mult, p->out_shift) + p->out_zp, p->act_min, p->act_max);
    }
}
