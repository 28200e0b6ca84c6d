/* int8 mean over the middle axis of an (outer, reduce, inner) view, same quantization in and
 * out: the integer sum divided by reduce, rounding half away from zero (C's division truncates
 * toward zero, so +/- reduce/2 first), as mcd_avgpool_s8. */
#include "mcd_common.h"
#include "mcd_ops.h"

void mcd_mean_s8(int32_t outer, int32_t reduce, int32_t inner, const int8_t *in, int8_t *out)
{
    int32_t o, r, i;
    for (o = 0; o < outer; o++) {
        for (i = 0; i < inner; i++) {
            const int8_t *src = in + o * reduce * inner + i;
            int32_t sum = 0, avg;
            for (r = 0; r < reduce; r++) sum += src[r * inner];
            avg = sum >= 0 ? (sum + reduce / 2) / reduce : (sum - reduce / 2) / reduce;
            out[o * inner + i] = mcd_clamp8(avg, -128, 127);
        }
    }
}
