/* int8 fully-connected layer with ternary (bits = 2) or int4 (bits = 4) weights packed in flash
 * (layout: mcd_lowbit_s8.h). The input, offset by its zero point, is widened once to int16 in
 * scratch (mcd_fc_lowbit_s8_scratch_bytes), zero padded to whole weight words; each row is
 * unpacked in registers and accumulated with SMLAD (two rows per pass, so each input pair is loaded
 * once for both), then requantized as the dense kernel does:
 * out[o] = requant(bias[o] + sum_i (in[i] - in_zp) * q[o][i]).
 */
#include "mcd_kernels.h"
#include "mcd_lowbit_s8.h"

int32_t mcd_fc_lowbit_s8_scratch_bytes(int32_t bits, int32_t in_n) { return mcd_lb_kp(bits, in_n) * 2; }

/* s0 += x . w0, s1 += x . w1 (times 2^(8 - bits)) over nw words: each input pair loaded once for two rows */
static inline void dot_2rows(int32_t bits, const int16_t *x, const uint32_t *w0, const uint32_t *w1, int32_t nw,
                             int32_t *s0, int32_t *s1)
{
    const uint32_t m = MCD_LB_MASK(bits);
    int32_t a = 0, b = 0, j;
    while (nw--) {
        const uint32_t v0 = *w0++, v1 = *w1++;
        for (j = 0; j < 8 / bits; j++) {
            const uint32_t x01 = mcd_ld32(x), x23 = mcd_ld32(x + 2);
            const uint32_t u0 = (v0 << (bits * j)) & m, u1 = (v1 << (bits * j)) & m;
            a = mcd_smlad(x01, mcd_sxtb16(u0), a);
            a = mcd_smlad(x23, mcd_sxtb16_ror8(u0), a);
            b = mcd_smlad(x01, mcd_sxtb16(u1), b);
            b = mcd_smlad(x23, mcd_sxtb16_ror8(u1), b);
            x += 4;
        }
    }
    *s0 = a;
    *s1 = b;
}

static void fc_rows(int32_t bits, const int16_t *x, int32_t kp, int32_t out_n, const uint32_t *w,
                    const int32_t *bias, const mcd_channel_quant *q, int32_t out_zp, int32_t lo, int32_t hi, int8_t *out)
{
    const int32_t nw = kp / MCD_LB_PER_WORD(bits), sh = 8 - bits;
    int32_t o = 0, s0, s1;
    for (; o + 2 <= out_n; o += 2, w += 2 * nw) {
        if (bits == 2)
            dot_2rows(2, x, w, w + nw, nw, &s0, &s1);
        else
            dot_2rows(4, x, w, w + nw, nw, &s0, &s1);
        out[o] = mcd_clamp8(mcd_requant_fc((s0 >> sh) + bias[o], q->mult[o], q->shift[o]) + out_zp, lo, hi);
        out[o + 1] = mcd_clamp8(mcd_requant_fc((s1 >> sh) + bias[o + 1], q->mult[o + 1], q->shift[o + 1]) + out_zp,
                                lo, hi);
    }
    if (o < out_n) {
        s0 = (bits == 2 ? mcd_lb_dot(2, x, w, nw, 0) : mcd_lb_dot(4, x, w, nw, 0)) >> sh;
        out[o] = mcd_clamp8(mcd_requant_fc(s0 + bias[o], q->mult[o], q->shift[o]) + out_zp, lo, hi);
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
