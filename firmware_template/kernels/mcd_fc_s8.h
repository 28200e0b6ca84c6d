/* int8 fully-connected layer: the input, offset by its zero point, is widened once to int16 in
 * scratch; four weight rows at a time are then widened with SXTB16 and accumulated with SMLAD
 * (two MACs an instruction on M4/M7/M33; exact portable C elsewhere, see mcd_simd.h).
 * Weights come packed from the generator: [out_n][K4], K4 = in_n rounded up to 4, zero padded,
 * groups of four stored (w0, w2, w1, w3), and rows interleaved by blocks of four (row0 group0,
 * row1 group0, row2 group0, row3 group0, row0 group1, ...) so one pointer walks a block: fewer
 * live registers, no spills in the inner loop. Scratch: mcd_fc_s8_scratch_bytes(in_n). */
#include "mcd_kernels.h"
#include "mcd_simd.h"

int32_t mcd_fc_s8_scratch_bytes(int32_t in_n) { return ((in_n + 3) & ~3) * 2; }

void mcd_fc_s8(int32_t in_n, const int8_t *in, int32_t out_n, const int8_t *w, const int32_t *bias,
               const mcd_channel_quant *q, int32_t in_zp, int32_t out_zp, int32_t act_min, int32_t act_max,
               int8_t *out, void *scratch)
{
    const int32_t k4 = (in_n + 3) & ~3;
    int16_t *x = (int16_t *)scratch;
    int32_t i, o = 0, k;
    mcd_widen_s8(in, x, in_n, -in_zp);
    for (i = in_n; i < k4; i++) x[i] = 0;
    for (; o + 4 <= out_n; o += 4) {
        const int8_t *wp = w + o * k4;
        const int16_t *xp = x, *xend = x + k4;
        int32_t s0 = bias[o], s1 = bias[o + 1], s2 = bias[o + 2], s3 = bias[o + 3];
        while (xp < xend) {
            const uint32_t x01 = mcd_ld32(xp), x23 = mcd_ld32(xp + 2);
            uint32_t v = mcd_ld32(wp);
            s0 = mcd_smlad(x01, mcd_sxtb16(v), s0);
            s0 = mcd_smlad(x23, mcd_sxtb16_ror8(v), s0);
            v = mcd_ld32(wp + 4);
            s1 = mcd_smlad(x01, mcd_sxtb16(v), s1);
            s1 = mcd_smlad(x23, mcd_sxtb16_ror8(v), s1);
            v = mcd_ld32(wp + 8);
            s2 = mcd_smlad(x01, mcd_sxtb16(v), s2);
            s2 = mcd_smlad(x23, mcd_sxtb16_ror8(v), s2);
            v = mcd_ld32(wp + 12);
            s3 = mcd_smlad(x01, mcd_sxtb16(v), s3);
            s3 = mcd_smlad(x23, mcd_sxtb16_ror8(v), s3);
            xp += 4;
            wp += 16;
        }
        out[o] = mcd_clamp8(mcd_requant_fast(s0, q->mult[o], q->shift[o]) + out_zp, act_min, act_max);
        out[o + 1] = mcd_clamp8(mcd_requant_fast(s1, q->mult[o + 1], q->shift[o + 1]) + out_zp, act_min, act_max);
        out[o + 2] = mcd_clamp8(mcd_requant_fast(s2, q->mult[o + 2], q->shift[o + 2]) + out_zp, act_min, act_max);
        out[o + 3] = mcd_clamp8(mcd_requant_fast(s3, q->mult[o + 3], q->shift[o + 3]) + out_zp, act_min, act_max);
    }
    for (; o < out_n; o++) {
        const int8_t *w0 = w + o * k4;
        int32_t s = bias[o];
        for (k = 0; k < k4; k += 4) {
            const uint32_t v = mcd_ld32(w0 + k);
            s = mcd_smlad(mcd_ld32(x + k), mcd_sxtb16(v), s);
            s = mcd_smlad(mcd_ld32(x + k + 2), mcd_sxtb16_ror8(v), s);
        }
        out[o] = mcd_clamp8(mcd_requant_fast(s, q->mult[o], q->shift[o]) + out_zp, act_min, act_max);
    }
}
