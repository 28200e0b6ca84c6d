/* int8 fully-connected layer with sparse ternary weights: multiplies become additions.
 *
 * Why a format of its own: a pruned ternary row is a set of +1 and a set of -1 positions, nothing
 * else. The generic sparse format (fc_sparse_s8.c) spends a value byte and an index byte per
 * non-zero; here a non-zero is ONE byte, its gap from the previous position in its set, and the
 * sign is where it sits: per row o, ts_count[2o] gaps of +1 weights then ts_count[2o + 1] gaps of
 * -1 weights (written by mcudeploy/codegen/kernels.py encode_ternary_sparse). About 1 byte a
 * non-zero is close to the entropy of the positions at 90-98 % sparsity (log2(e / density) + 1
 * sign bit: 6.3-8.1 bits), and the row needs two count bytes, no 16-bit pointer.
 *
 * Gaps: each set starts before position 0 (i = -1), so real gaps are 1..255; a gap byte 0 is a
 * filler that only advances 255 (for gaps over 255, possible only when in_n > 255: `fill` says
 * whether the layer has any, and the loop without the test runs when it has none).
 * The input zero point is folded at generation time: bias_adj[o] = bias[o] - in_zp * sum_i w[o][i];
 * out[o] = requant(bias_adj[o] + sum_{+1} in[i] - sum_{-1} in[i]), the dense kernel's arithmetic
 * exactly (int32 sums wrap alike).
 *
 * Per non-zero (no fillers): a quarter of a word load, one UXTAB (index += gap byte), a byte load of
 * the input, an add: no multiply.
 */
#include "mcd_kernels.h"
#include "mcd_simd.h"

/* sum of in[i] over one set of n gap-coded positions; *c advances past them */
static inline int32_t ts_sum(const int8_t *in, const uint8_t **c, int32_t n, int32_t fill)
{
    const uint8_t *p = *c, *end = p + n;
    int32_t i = -1, s = 0; /* before position 0; only read after a gap of at least 1 */
    if (fill) {
        while (p < end) {
            const uint32_t d = *p++;
            if (d == 0u) {
                i += 255;
                continue;
            }
            i += (int32_t)d;
            s += in[i];
        }
    } else {
        for (; p + 4 <= end; p += 4) { /* four gaps a word load; each step one UXTAB */
            const uint32_t v = mcd_ld32(p);
            i += (int32_t)(v & 0xFFu);
            s += in[i];
            i += (int32_t)((v >> 8) & 0xFFu);
            s += in[i];
            i += (int32_t)((v >> 16) & 0xFFu);
            s += in[i];
            i += (int32_t)(v >> 24);
            s += in[i];
        }
        while (p < end) {
            i += *p++;
            s += in[i];
        }
    }
    *c = p;
    return s;
}

void mcd_fc_ternary_sparse_s8(int32_t out_n, const int8_t *in, const uint8_t *count, const uint8_t *gaps,
                              int32_t fill, const int32_t *bias_adj, const mcd_channel_quant *q, int32_t out_zp,
                              int32_t act_min, int32_t act_max, int8_t *out)
{
    const uint8_t *c = gaps;
    int32_t o;
    for (o = 0; o < out_n; o++) {
        int32_t acc = bias_adj[o];
        acc += ts_sum(in, &c, count[2 * o], fill);
        acc -= ts_sum(in, &c, count[2 * o + 1], fill);
        out[o] = mcd_clamp8(mcd_requant_fc(acc, q->mult[o], q->shift[o]) + out_zp, act_min, act_max);
    }
}
