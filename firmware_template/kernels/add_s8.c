/* int8 element-wise add (TFLite's scheme): each input, offset by its zero point and shifted left
 * by left_shift (20) for headroom, is rescaled to twice the larger input scale; the sum is
 * rescaled to the output. (x << 20 is written as a multiply: left-shifting a negative int is
 * undefined in C99.) Reads a[i], b[i] before writing out[i]: in-place safe.
 *
 * The per-input rescale depends only on the int8 value, so with scratch (2 x 256 int32, given
 * by the generator for tensors of >= MCD_ADD_LUT_MIN elements) it is tabulated once per call:
 * one 64-bit requantization per element instead of three. Same arithmetic, same bytes. */
#include "mcd_kernels.h"
#include "mcd_simd.h"

int32_t mcd_add_s8_scratch_bytes(int32_t n) { return n >= MCD_ADD_LUT_MIN ? 2 * 256 * 4 : 0; }

void mcd_add_s8(const mcd_add_params *p, int32_t n, const int8_t *a, const int8_t *b, int8_t *out, void *scratch)
{
    const int32_t scale = (int32_t)1 << p->left_shift;
    int32_t i;
    if (scratch && n >= MCD_ADD_LUT_MIN) {
        int32_t *ta = (int32_t *)scratch + 128, *tb = ta + 256; /* indexed by the int8 value */
        for (i = -128; i < 128; i++) {
            ta[i] = mcd_requant((i - p->zp1) * scale, p->mult1, p->shift1);
            tb[i] = mcd_requant((i - p->zp2) * scale, p->mult2, p->shift2);
        }
        {   /* the output rescale with its constants in locals (an int8 store may alias *p, so
             * reading p in the loop reloads it) and the rounding term hoisted; same rule */
            const int32_t mult = p->out_mult, shift = p->out_shift, zp = p->out_zp;
            const int32_t lo = p->act_min, hi = p->act_max;
#if MCD_ROUNDING_DOUBLE
            if (shift >= 1) {
                /* the double rule in two steps (mcd_simd.h, mcd_rq_out): h = SMMULR(2 * sum, mult) is
                 * the rounding doubling high multiply, exact since |sum| < 2^28 (each table entry is
                 * at most 255 * 2^20 times a multiplier <= 1/2); then h / 2^shift, ties away from zero */
                const int32_t rnd = (int32_t)1 << (shift - 1);
                for (i = 0; i < n; i++) {
                    const int32_t h = mcd_smmulr((ta[a[i]] + tb[b[i]]) * 2, mult);
                    out[i] = mcd_clamp8(((h + rnd + (h >> 31)) >> shift) + zp, lo, hi);
                }
            } else
#endif
            if (shift >= 1 && !MCD_ROUNDING_DOUBLE) { /* total shift >= 32: only the high word is shifted (mcd_requant_fast) */
                const int64_t rnd = (int64_t)1 << (30 + shift);
                const int32_t s = shift - 1;
                for (i = 0; i < n; i++) {
                    const int32_t y = (int32_t)(((int64_t)(ta[a[i]] + tb[b[i]]) * mult + rnd) >> 32) >> s;
                    out[i] = mcd_clamp8(y + zp, lo, hi);
                }
            } else {
                for (i = 0; i < n; i++) out[i] = mcd_clamp8(mcd_requant(ta[a[i]] + tb[b[i]], mult, shift) + zp, lo, hi);
            }
        }
        return;
    }
    for (i = 0; i < n; i++) {
        const int32_t x = mcd_requant((a[i] - p->zp1) * scale, p->mult1, p->shift1);
        const int32_t y = mcd_requant((b[i] - p->zp2) * scale, p->mult2, p->shift2);
        out[i] = mcd_clamp8(mcd_requant(x + y, p->out_mult, p->out_shift) + p->out_zp, p->act_min, p->act_max);
    }
}
