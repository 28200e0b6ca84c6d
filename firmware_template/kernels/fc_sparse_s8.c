/* int8 fully-connected layer with sparse weights.
 *
 * Format (written by mcudeploy/codegen/kernels.py, encode_tile with unit 1): per output row o,
 * records rec[ptr[o] .. ptr[o+1]-1], each 32 bits holding two non-zeros as bytes (d0, w0, d1, w1):
 * a pointer into the input advances by d (uint8; gaps over 255 bridged by fillers (255, 0)) and
 * multiplies w (int8); a row with an odd count ends with a (0, 0) pad. The input zero point is
 * folded at generation time: bias_adj[o] = bias[o] - in_zp * sum_i w[o][i].
 *
 * Per record: UXTAB steps the pointer (ROR #16 for d1), two byte loads, SXTB16 (ROR #8) widens
 * (w0, w1) in place, and one SMLAD does both multiplies: ~6 estimated M4 cycles a non-zero.
 */
#include "mcd_kernels.h"
#include "mcd_simd.h"

void mcd_fc_sparse_s8(int32_t out_n, const int8_t *in, const uint16_t *ptr, const int32_t *rec,
                      const int32_t *bias_adj, const mcd_channel_quant *q, int32_t out_zp, int32_t act_min,
                      int32_t act_max, int8_t *out)
{
    const uint32_t *r = (const uint32_t *)rec;
    int32_t o;
    for (o = 0; o < out_n; o++) {
        const uint32_t *end = (const uint32_t *)rec + ptr[o + 1];
        const int8_t *x = in;
        int32_t acc = bias_adj[o];
        for (; r + 2 <= end; r += 2) {
            const uint32_t v0 = r[0], v1 = r[1];
            uint32_t a, b;
            x += v0 & 0xFFu;
            a = (uint32_t)(uint16_t)x[0];
            x += (v0 >> 16) & 0xFFu;
            a |= (uint32_t)x[0] << 16;
            x += v1 & 0xFFu;
            b = (uint32_t)(uint16_t)x[0];
            x += (v1 >> 16) & 0xFFu;
            b |= (uint32_t)x[0] << 16;
            acc = mcd_smlad(a, mcd_sxtb16_ror8(v0), acc);
            acc = mcd_smlad(b, mcd_sxtb16_ror8(v1), acc);
        }
        if (r < end) {
            const uint32_t v0 = *r++;
            uint32_t a;
            x += v0 & 0xFFu;
            a = (uint32_t)(uint16_t)x[0];
            x += (v0 >> 16) & 0xFFu;
            a |= (uint32_t)x[0] << 16;
            acc = mcd_smlad(a, mcd_sxtb16_ror8(v0), acc);
        }
        out[o] = mcd_clamp8(mcd_requant_fc(acc, q->mult[o], q->shift[o]) + out_zp, act_min, act_max);
    }
}
