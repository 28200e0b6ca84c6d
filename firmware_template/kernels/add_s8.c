/* int8 element-wise add (TFLite's scheme): each input, offset by its zero point and shifted left
 * by left_shift (20) for headroom, is rescaled to twice the larger input scale; the sum is
 * rescaled to the output. (x << 20 is written as a multiply: left-shifting a negative int is
 * undefined in C99.) Reads a[i], b[i] before writing out[i]: in-place safe.
 *
 * The per-input rescale depends only on the int8 value, so with scratch (2 x 256 int32, given
 * by the generator for tensors of >= MCD_ADD_LUT_MIN elements) it is tabulated once per call:
 * one 64-bit requantization per element instead of three. Same arithmetic, same bytes.
 * The tables depend only on the add's constants, so the generator can also store them in flash
 * (mcd_add_s8_tab): no arena for them, no fill per call. Under MCD_ROUNDING_DOUBLE every entry
 * is stored doubled (the double rule's paths read 2 * sum; |2 * entry| < 2^29). */
#include "mcd_kernels.h"
#include "mcd_simd.h"

/* The output step from the two tables (indexed by the int8 value, doubled under
 * MCD_ROUNDING_DOUBLE; see the top of the file). */
static void add_from_tables(const mcd_add_params *p, int32_t n, const int8_t *a, const int8_t *b, int8_t *out,
                            const int32_t *ta, const int32_t *tb)
{
    int32_t i;
    {   /* the output rescale with its constants in locals (an int8 store may alias *p, so
         * reading p in the loop reloads it) and the rounding term hoisted; same rule */
        const int32_t mult = p->out_mult, shift = p->out_shift, zp = p->out_zp;
        const int32_t lo = p->act_min, hi = p->act_max;
#if MCD_ROUNDING_DOUBLE
        if (shift >= 1 && shift <= 22 && lo <= -128 && hi >= 127) {
            /* as below, four elements a pass: the tables hold 2 * entry (|2 * sum| < 2^29), the
             * zero point is folded into the rounding term (|h| < 2^28 and |zp << shift| <= 2^29:
             * no overflow, and floor((v + zp * 2^s) / 2^s) = floor(v / 2^s) + zp), SSAT is the
             * whole clamp; one word read from each input and one written (in-place safe) */
            const int32_t cz = ((int32_t)1 << (shift - 1)) + (int32_t)((uint32_t)zp << shift);
            for (i = 0; i + 4 <= n; i += 4) {
                const uint32_t va = mcd_ld32(a + i), vb = mcd_ld32(b + i);
                uint32_t r = 0;
                int32_t k;
                for (k = 0; k < 32; k += 8) {
                    const int32_t h = mcd_smmulr(ta[(int8_t)(va >> k)] + tb[(int8_t)(vb >> k)], mult);
                    r |= (uint32_t)(uint8_t)mcd_sat8((h + cz + (h >> 31)) >> shift) << k;
                }
                mcd_st32(out + i, r);
            }
            for (; i < n; i++) {
                const int32_t h = mcd_smmulr(ta[a[i]] + tb[b[i]], mult);
                out[i] = (int8_t)mcd_sat8((h + cz + (h >> 31)) >> shift);
            }
        } else if (shift >= 1) {
            /* the double rule in two steps (mcd_simd.h, mcd_rq_out): h = SMMULR(2 * sum, mult) is
             * the rounding doubling high multiply (the tables hold 2 * entry), exact since
             * |sum| < 2^28 (each entry is at most 255 * 2^20 times a multiplier <= 1/2); then
             * h / 2^shift, ties away from zero */
            const int32_t rnd = (int32_t)1 << (shift - 1);
            for (i = 0; i < n; i++) {
                const int32_t h = mcd_smmulr(ta[a[i]] + tb[b[i]], mult);
                out[i] = mcd_clamp8(((h + rnd + (h >> 31)) >> shift) + zp, lo, hi);
            }
        } else {
            for (i = 0; i < n; i++) /* the doubled entries are even: / 2 is exact */
                out[i] = mcd_clamp8(mcd_requant((ta[a[i]] + tb[b[i]]) / 2, mult, shift) + zp, lo, hi);
        }
        return;
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
}

int32_t mcd_add_s8_scratch_bytes(int32_t n) { return n >= MCD_ADD_LUT_MIN ? 2 * 256 * 4 : 0; }

void mcd_add_s8_tab(const mcd_add_params *p, int32_t n, const int8_t *a, const int8_t *b, int8_t *out,
                    const int32_t *tab)
{
    add_from_tables(p, n, a, b, out, tab + 128, tab + 256 + 128);
}

void mcd_add_s8(const mcd_add_params *p, int32_t n, const int8_t *a, const int8_t *b, int8_t *out, void *scratch)
{
    const int32_t scale = (int32_t)1 << p->left_shift;
    int32_t i;
    if (scratch && n >= MCD_ADD_LUT_MIN) {
        int32_t *ta = (int32_t *)scratch + 128, *tb = ta + 256; /* indexed by the int8 value */
        for (i = -128; i < 128; i++) {
            ta[i] = mcd_requant((i - p->zp1) * scale, p->mult1, p->shift1) * (1 + MCD_ROUNDING_DOUBLE);
            tb[i] = mcd_requant((i - p->zp2) * scale, p->mult2, p->shift2) * (1 + MCD_ROUNDING_DOUBLE);
        }
        add_from_tables(p, n, a, b, out, ta, tb);
        return;
    }
    for (i = 0; i < n; i++) {
        const int32_t x = mcd_requant((a[i] - p->zp1) * scale, p->mult1, p->shift1);
        const int32_t y = mcd_requant((b[i] - p->zp2) * scale, p->mult2, p->shift2);
        out[i] = mcd_clamp8(mcd_requant(x + y, p->out_mult, p->out_shift) + p->out_zp, p->act_min, p->act_max);
    }
}
