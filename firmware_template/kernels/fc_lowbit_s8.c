/* int8 fully-connected layer with ternary (bits = 2) or int4 (bits = 4) weights packed in flash
 * (layout: mcd_lowbit_s8.h). The input, offset by its zero point, is widened once to int16 in
 * scratch (mcd_fc_lowbit_s8_scratch_bytes), zero padded to whole weight words; each row is
 * unpacked in registers and accumulated with SMLAD, then requantized as the dense kernel does:
 * out[o] = requant(bias[o] + sum_i (in[i] - in_zp) * q[o][i]).
 */
#include "mcd_kernels.h"
#include "mcd_lowbit_s8.h"

int32_t mcd_fc_lowbit_s8_scratch_bytes(int32_t bits, int32_t in_n) { return mcd_lb_kp(bits, in_n) * 2; }

static void fc_rows(int32_t bits, const int16_t *x, int32_t kp, int32_t out_n, const uint32_t *w,
                    const int32_t *bias, const mcd_channel_quant *q, int32_t out_zp, int32_t lo, int32_t hi, int8_t *out)
{
    const int32_t nw = kp / MCD_LB_PER_WORD(bits), sh = 8 - bits;
    int32_t o;
    for (o = 0; o < out_n; o++, w += nw) {
        const int32_t s = (bits == 2 ? mcd_lb_dot(2, x, w, nw, 0) : mcd_lb_dot(4, x, w, nw, 0)) >> sh;
        out[o] = mcd_clamp8(mcd_requant_fast(s + bias[o], q->mult[o], q->shift[o]) + out_zp, lo, hi);
    }
}

void mcd_fc_lowbit_s8(int32_t bits, int32_t in_n, const int8_t *in, int32_t out_n, const uint32_t *w,
                      const int32_t *bias, const mcd_channel_quant *q, int32_t in_zp, int32_t out_zp,
                      int32_t act_min, int32_t act_max, int8_t *out, void *scratch)
{
    const int32_t kp = mcd_lb_kp(bits, in_n);
    int16_t *x = (int16_t *)scratch;
    mcd_widen_s8(in, x, in_n, -in_zp);
    mcd_zero16(x + in_n, kp - in_n);
    if (bits == 2)
        fc_rows(2, x, kp, out_n, w, bias, q, out_zp, act_min, act_max, out);
    else
        fc_rows(4, x, kp, out_n, w, bias, q, out_zp, act_min, act_max, out);
}
