/* int8 elementwise function by a 256-entry table (Sigmoid, Tanh, Hardswish, x * c, ...; the
 * generator fills the table, see mcudeploy/ops/lut.py). One load per element; reads in[i]
 * before writing out[i]: in-place safe. */
#include "mcd_common.h"
#include "mcd_ops.h"

void mcd_lut_s8(int32_t n, const int8_t *in, const int8_t *table, int8_t *out)
{
    const int8_t *t = table + 128; /* indexed by the signed value */
    int32_t i;
    for (i = 0; i < n; i++) out[i] = t[in[i]];
}
