/* int8 elementwise add with b broadcast (modes as mcd_mul_s8: 0 same shape, 1 per channel, 2 one
 * value, 3 per pixel); the arithmetic of mcd_add_s8 (TFLite's ADD: inputs << left_shift rescaled
 * to twice the larger scale, summed, rescaled to the output). In-place safe on a. */
#include "mcd_kernels.h"
#include "mcd_ops.h"

void mcd_add_bc_s8(const mcd_add_params *p, int32_t pixels, int32_t c, const int8_t *a, const int8_t *b,
                   int32_t b_mode, int8_t *out)
{
    const int32_t scale = (int32_t)1 << p->left_shift;
    int32_t px, ch, i = 0;
    for (px = 0; px < pixels; px++) {
        for (ch = 0; ch < c; ch++, i++) {
            const int32_t bi = mcd_bcast_index(b_mode, i, ch, px);
            const int32_t x = mcd_requant((a[i] - p->zp1) * scale, p->mult1, p->shift1);
            const int32_t y = mcd_requant((b[bi] - p->zp2) * scale, p->mult2, p->shift2);
            out[i] = mcd_clamp8(mcd_requant(x + y, p->out_mult, p->out_shift) + p->out_zp, p->act_min, p->act_max);
        }
    }
}
