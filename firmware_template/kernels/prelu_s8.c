/* int8 PReLU, HWC, one int8 slope per channel (TFLite's PRELU arithmetic, see
 * mcudeploy/ops/prelu.py): x >= 0 rescaled by s_in / s_out, x < 0 multiplied by the slope and
 * rescaled by s_in * s_alpha / s_out. In-place safe. */
#include "mcd_common.h"
#include "mcd_ops.h"

void mcd_prelu_s8(int32_t pixels, int32_t c, const int8_t *in, const int8_t *alpha, int32_t in_zp,
                  int32_t out_zp, int32_t pos_mult, int32_t pos_shift, int32_t neg_mult, int32_t neg_shift, int8_t *out)
{
    int32_t p, ch, i = 0;
    for (p = 0; p < pixels; p++) {
        for (ch = 0; ch < c; ch++, i++) {
            const int32_t x = in[i] - in_zp;
            const int32_t y = x >= 0 ? mcd_requant(x, pos_mult, pos_shift) : mcd_requant(x * alpha[ch], neg_mult, neg_shift);
            out[i] = mcd_clamp8(y + out_zp, -128, 127);
        }
    }
}
