/* int8 softmax over the c contiguous channels of each of rows rows (see mcudeploy/ops/softmax.py):
 * e = exp_table[max - q] (2^16 * exp(-s_in * d)), out = round(256 e / sum) - 128, half up, in
 * unsigned 32-bit arithmetic (512 e + sum < 2^32 for c <= 16384). Each row is read whole before
 * it is written (the max and the sum first): in-place safe. */
#include "mcd_common.h"
#include "mcd_ops.h"

void mcd_softmax_s8(int32_t rows, int32_t c, const int8_t *in, const int32_t *exp_table, int8_t *out)
{
    int32_t r, i;
    for (r = 0; r < rows; r++, in += c, out += c) {
        int32_t mx = -128;
        uint32_t sum = 0;
        for (i = 0; i < c; i++) mx = in[i] > mx ? in[i] : mx;
        for (i = 0; i < c; i++) sum += (uint32_t)exp_table[mx - in[i]];
        for (i = 0; i < c; i++) {
            const uint32_t e = (uint32_t)exp_table[mx - in[i]];
            const int32_t y = (int32_t)((512u * e + sum) / (2u * sum)) - 128;
            out[i] = (int8_t)(y > 127 ? 127 : y);
        }
    }
}
