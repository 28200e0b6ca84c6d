/* A dense convolution with a residual add fused into its requantization (codegen/fuse.py):
 *
 *     out = add(conv(in), skip)      (LiteRT's int8 ADD, conv's operand first)
 *
 * The conv is conv2d_s8.c's: im2col of two output pixels, the 2x4 GEMM, requantization from its
 * registers with the records rq (which hold the conv's own output zero point and clamp), weights
 * staged by bits 2 and 4 of fast as there (no fused pool; records only: fast & 1 is set). Each int8
 * conv value v is then combined with the skip element s at the same index:
 *
 *     x = tab[v + 128] + tab[256 + s + 128]  (each input's rescale, ops/add.py: rescale_tables;
 *                                             doubled under MCD_ROUNDING_DOUBLE)
 *     out = clamp(rescale(x, out_mult, out_shift) + out_zp)     (add_s8.c's output step, by mode)
 *
 * so the conv's output map is never stored: the add's result goes straight over the skip (out may
 * be skip: each block of four channels reads its skip words before it writes them). Saves the
 * conv output's buffer at the arena's peak, and the add's own pass over three maps.
 *
 * mode (the generator's literal, ops/conv2d.py: fused_add_mode): 1 double rule as one SMMLAR
 * (exact where act_min >= out_zp: the tie that differs from the two-step rule is clamped away,
 * see mcd_rq_out_dbl_relu in mcd_simd.h), 2 the double rule in two steps, 3 its generic form,
 * 4 single rounding from the high word (total shift >= 32), 5 its generic form, 6 single rounding
 * as one SMMLA (2 <= shift <= 22: the rounding term 2^(30 + shift) has no low word, so
 * (x * mult + 2^(30 + shift)) >> 32 = SMMLA(x, mult, 2^(shift - 2)); the zero point folds in as
 * zp << (shift - 1) before the last shift, exactly, as in mcd_rq_out's single-rule records).
 *
 * fast: bit 0 records (required), bits 1 and 2 the weights staged (conv2d_s8.c), bit 3 the
 * tables copied into the scratch first (2 KB after the rest), bit 4 the records too, after the
 * tables (ops/conv2d.py: fused_tab_bytes). */
#include "mcd_kernels.h"
#include "mcd_gemm2x4_s8.h"
#include "mcd_im2col_s8.h"
#include "mcd_simd.h"

/* The add's output step on x = the two table entries' sum (add_s8.c: add_from_tables, same rule). */
MCD_SPECIALISED int32_t add_out(int32_t x, int32_t mode, int32_t mult, int32_t cz, int32_t shift, int32_t zp,
                                int32_t lo, int32_t hi)
{
    int32_t y;
#if !MCD_ROUNDING_DOUBLE /* (not compiled where it cannot occur: the double rule's code stays as it was) */
    if (mode == 6) {
        y = mcd_sat8(mcd_smmla(x, mult, cz) >> shift);
        return lo <= -128 && hi >= 127 ? y : (y < lo ? lo : (y > hi ? hi : y));
    }
#endif
    if (mode == 1) {
        y = mcd_sat8(mcd_smmlar(x, mult, cz) >> shift);
        return lo <= -128 && hi >= 127 ? y : (y < lo ? lo : (y > hi ? hi : y));
    }
    if (mode == 2) {
        const int32_t h = mcd_smmulr(x, mult);
        y = ((h + ((int32_t)1 << (shift - 1)) + (h >> 31)) >> shift) + zp;
    } else if (mode == 3) {
        y = mcd_requant(x / 2, mult, shift) + zp; /* the doubled entries are even: / 2 is exact */
    } else if (mode == 4) {
        y = (int32_t)(((int64_t)x * mult + ((int64_t)1 << (30 + shift))) >> 32) >> (shift - 1);
        y += zp;
    } else {
        y = mcd_requant(x, mult, shift) + zp;
    }
    return mcd_clamp8(y, lo, hi);
}

/* mcd_rq_out with int8's range as the clamp, as an int32: no sign extension before it indexes a
 * table (SSAT's result is in range, but an int8_t return makes GCC extend it again). */
MCD_SPECIALISED int32_t rq_full(int32_t acc, int32_t m, int32_t cz, int32_t s)
{
#if MCD_ROUNDING_DOUBLE
    const int32_t h = mcd_smmulr((int32_t)((uint32_t)acc << 1), m);
    return mcd_sat8((h + cz + (h >> 31)) >> s);
#else
    return mcd_sat8(mcd_smmla(acc, m, cz) >> s);
#endif
}

typedef struct {
    const int32_t *ta, *tb; /* indexed by the int8 value */
    int32_t mult, cz, shift, zp, lo, hi;
} add_step;

/* Both columns against every channel, each output through the conv's records and then the add:
 * skip_a/out_a pixel a, skip_b/out_b pixel b (a lone last pixel: b is a's skip again and a dummy
 * output). full: both clamps are the whole int8 range (literals: no test in the loop). */
MCD_SPECIALISED void gemm_pair_add(const int16_t *col, const int8_t *w, const int32_t *rq, int32_t c_out, int32_t k4,
                                   int32_t clo, int32_t chi, const int8_t *skip_a, const int8_t *skip_b,
                                   int8_t *out_a, int8_t *out_b, const add_step *a, int32_t mode, int32_t full)
{
    const int32_t *ta = a->ta, *tb = a->tb;
    const int32_t mult = a->mult, cz = a->cz, shift = a->shift, zp = a->zp;
    const int32_t lo = full ? -128 : a->lo, hi = full ? 127 : a->hi;
    const int8_t *end = out_a + (c_out & ~3);
    int32_t o, r;
    if (full) {
        clo = -128;
        chi = 127;
    }
    for (; out_a < end; out_a += 4, out_b += 4, skip_a += 4, skip_b += 4, rq += 16, w += 4 * k4) {
        int32_t s[8];
        uint32_t va, vb, ra = 0, rb = 0;
        s[0] = s[4] = rq[0];
        s[1] = s[5] = rq[4];
        s[2] = s[6] = rq[8];
        s[3] = s[7] = rq[12];
        mcd_dot2x4(col, w, k4, s);
        va = mcd_ld32(skip_a);
        vb = mcd_ld32(skip_b);
        for (r = 0; r < 4; r++) { /* pixel a, then pixel b: fewer values live at once */
            const int32_t m = rq[4 * r + 1], c = rq[4 * r + 2], sh = rq[4 * r + 3];
            const int32_t ya = full ? rq_full(s[r], m, c, sh) : mcd_rq_out(s[r], m, c, sh, clo, chi);
            ra |= (uint32_t)(uint8_t)add_out(ta[ya] + tb[(int8_t)(va >> (8 * r))], mode, mult, cz, shift, zp, lo, hi)
                  << (8 * r);
        }
        for (r = 0; r < 4; r++) {
            const int32_t m = rq[4 * r + 1], c = rq[4 * r + 2], sh = rq[4 * r + 3];
            const int32_t yb = full ? rq_full(s[4 + r], m, c, sh) : mcd_rq_out(s[4 + r], m, c, sh, clo, chi);
            rb |= (uint32_t)(uint8_t)add_out(ta[yb] + tb[(int8_t)(vb >> (8 * r))], mode, mult, cz, shift, zp, lo, hi)
                  << (8 * r);
        }
        mcd_st32(out_a, ra);
        mcd_st32(out_b, rb);
    }
    for (o = c_out & ~3; o < c_out; o += 2) { /* a last row pair (its second row a zero row when c_out is odd) */
        const int32_t n = o + 1 < c_out ? 2 : 1;
        int32_t s[4];
        s[0] = s[2] = rq[0];
        s[1] = s[3] = rq[4 * (n - 1)]; /* a lone row: its own bias again, the sums unused */
        mcd_dot2x2_pairs(col, w, k4, s);
        for (r = 0; r < n; r++) {
            const int32_t m = rq[4 * r + 1], c = rq[4 * r + 2], sh = rq[4 * r + 3];
            const int32_t sa = skip_a[r], sb = skip_b[r];
            out_a[r] = (int8_t)add_out(ta[mcd_rq_out(s[r], m, c, sh, clo, chi)] + tb[sa], mode, mult, cz, shift, zp,
                                       lo, hi);
            out_b[r] = (int8_t)add_out(ta[mcd_rq_out(s[2 + r], m, c, sh, clo, chi)] + tb[sb], mode, mult, cz, shift,
                                       zp, lo, hi);
        }
        out_a += 2;
        out_b += 2;
        skip_a += 2;
        skip_b += 2;
        rq += 8;
        w += 2 * k4;
    }
}

/* gemm_pair_add in the pixel loop. Under the double rule it is inlined there (IC's case: mode 1,
 * no clamp). Under single rounding GCC 13 -O3 then finds no registers for the GEMM's 14-register
 * asm ("impossible constraints"), so there it runs in two out-of-line copies, IC's case and any
 * other. (Out of line under the double rule too, IC measured 19,925,710 flash-aware est. cycles
 * against 19,857,832 inlined.) */
#if !MCD_ROUNDING_DOUBLE
static void __attribute__((noinline)) gemm_pair_add_full(const int16_t *col, const int8_t *w, const int32_t *rq,
                                                         int32_t c_out, int32_t k4, const int8_t *skip_a,
                                                         const int8_t *skip_b, int8_t *out_a, int8_t *out_b,
                                                         const add_step *a)
{
    gemm_pair_add(col, w, rq, c_out, k4, -128, 127, skip_a, skip_b, out_a, out_b, a, 6, 1);
}

static void __attribute__((noinline)) gemm_pair_add_any(const int16_t *col, const int8_t *w, const int32_t *rq,
                                                        int32_t c_out, int32_t k4, int32_t clo, int32_t chi,
                                                        const int8_t *skip_a, const int8_t *skip_b, int8_t *out_a,
                                                        int8_t *out_b, const add_step *a, int32_t mode)
{
    gemm_pair_add(col, w, rq, c_out, k4, clo, chi, skip_a, skip_b, out_a, out_b, a, mode, 0);
}

#endif

MCD_SPECIALISED void gemm_pair_add_call(const int16_t *col, const int8_t *w, const int32_t *rq, int32_t c_out,
                                        int32_t k4, int32_t clo, int32_t chi, const int8_t *skip_a,
                                        const int8_t *skip_b, int8_t *out_a, int8_t *out_b, const add_step *a,
                                        int32_t mode, int32_t full)
{
#if MCD_ROUNDING_DOUBLE
    gemm_pair_add(col, w, rq, c_out, k4, clo, chi, skip_a, skip_b, out_a, out_b, a, mode, full);
#else
    if (full)
        gemm_pair_add_full(col, w, rq, c_out, k4, skip_a, skip_b, out_a, out_b, a);
    else
        gemm_pair_add_any(col, w, rq, c_out, k4, clo, chi, skip_a, skip_b, out_a, out_b, a, mode);
#endif
}

/* The pixel loop of mcd_conv2d_s8 (plain conv, no pool), with gemm_pair_add for the GEMM. */
MCD_SPECIALISED void conv_add_run(const mcd_conv_params *p, const mcd_dims *in_d, const int8_t *in, int32_t k_h,
                                  int32_t k_w, const int8_t *w, const int32_t *rq, int32_t fast, const mcd_dims *out_d,
                                  const int8_t *skip, int8_t *out, int16_t *col, const add_step *a, int32_t mode,
                                  int32_t full)
{
    const int32_t c_out = out_d->c, k4 = (k_h * k_w * in_d->c + 3) & ~3;
    const int32_t n = out_d->h * out_d->w, c = in_d->c, run = k_w * c, row = in_d->w * c;
    const int32_t step = p->stride_w * c, clo = p->act_min, chi = p->act_max;
    int32_t i = 0, stop = n; /* bit 2 of fast: from pixel `stop` on, the weights are read from the input's dead rows */
    if (fast & 4) {
        const int32_t bytes = ((c_out + 1) & ~1) * k4;
        const int32_t oy_s = ((bytes + row - 1) / row + p->pad_t + p->stride_h - 1) / p->stride_h;
        stop = (oy_s * out_d->w + 1) & ~1;
        if (stop > n) stop = n;
    }
    for (;;) {
        for (; i + 2 <= stop; i += 2) {
            const int32_t oy = i / out_d->w, ox = i % out_d->w;
            const int32_t x0 = ox * p->stride_w - p->pad_l, y0 = oy * p->stride_h - p->pad_t;
            if (ox + 1 < out_d->w && x0 >= 0 && x0 + p->stride_w + k_w <= in_d->w && y0 >= 0 && y0 + k_h <= in_d->h) {
                mcd_im2col_pair_inside(in + (y0 * in_d->w + x0) * c, step, row, run, k_h, k4, col);
            } else {
                mcd_im2col_pair(p, in_d, in, k_h, k_w, k4, oy, ox, col, 0);
                mcd_im2col_pair(p, in_d, in, k_h, k_w, k4, (i + 1) / out_d->w, (i + 1) % out_d->w, col, 1);
            }
            gemm_pair_add_call(col, w, rq, c_out, k4, clo, chi, skip + i * c_out, skip + (i + 1) * c_out, out + i * c_out,
                          out + (i + 1) * c_out, a, mode, full);
        }
        if (stop == n) break;
        { /* as mcd_conv2d_s8: the input rows no later pixel reads hold the weights from here on */
            int8_t *dst = (int8_t *)(uintptr_t)in;
            const int32_t words = ((c_out + 1) & ~1) * k4 / 4;
            int32_t t;
            for (t = 0; t < words; t++) mcd_st32(dst + 4 * t, mcd_ld32(w + 4 * t));
            w = dst;
        }
        stop = n;
    }
    if (i < n) {
        mcd_im2col_pair(p, in_d, in, k_h, k_w, k4, i / out_d->w, i % out_d->w, col, 0);
        mcd_im2col_pair(p, in_d, in, k_h, k_w, k4, i / out_d->w, i % out_d->w, col, 1);
        /* pixel b: a's skip again, its outputs into the scratch's per-channel words (unused here) */
        gemm_pair_add_call(col, w, rq, c_out, k4, clo, chi, skip + i * c_out, skip + i * c_out, out + i * c_out,
                      (int8_t *)(col + 2 * k4), a, mode, full);
    }
}

void mcd_conv2d_s8_add(const mcd_conv_params *p, const mcd_dims *in_d, const int8_t *in, int32_t k_h, int32_t k_w,
                       const int8_t *w, const int32_t *rq, int32_t fast, const mcd_dims *out_d, const int8_t *skip,
                       const mcd_add_params *ap, int32_t mode, const int32_t *tab, int8_t *out, void *scratch)
{
    const int32_t c_out = out_d->c, k4 = (k_h * k_w * in_d->c + 3) & ~3;
    int16_t *col = (int16_t *)scratch;
    add_step a;
    a.ta = tab + 128;
    a.tb = tab + 256 + 128;
    a.mult = ap->out_mult;
    a.shift = ap->out_shift;
    a.zp = ap->out_zp;
    a.lo = ap->act_min;
    a.hi = ap->act_max;
    a.cz = mode == 1 ? ((int32_t)1 << (ap->out_shift - 1)) + (int32_t)((uint32_t)ap->out_zp << ap->out_shift) : 0;
#if !MCD_ROUNDING_DOUBLE
    if (mode == 6) { /* mode 6 reads shift - 1 */
        a.cz = ((int32_t)1 << (ap->out_shift - 2)) + (int32_t)((uint32_t)ap->out_zp << (ap->out_shift - 1));
        a.shift = ap->out_shift - 1;
    }
#endif
    if (fast & 2) { /* stage the weights in SRAM, after the columns and the per-channel words (conv2d_s8.c) */
        const int32_t words = ((c_out + 1) & ~1) * k4 / 4;
        int8_t *dst = (int8_t *)((int32_t *)(col + 2 * k4) + ((c_out + 1) & ~1));
        int32_t i;
        for (i = 0; i < words; i++) mcd_st32(dst + 4 * i, mcd_ld32(w + 4 * i));
        w = dst;
    }
    if (fast & 8) { /* the add's tables into SRAM, after the columns, the per-channel words and any staged weights */
        int32_t *dst = (int32_t *)(col + 2 * k4) + ((c_out + 1) & ~1) + ((fast & 2) ? ((c_out + 1) & ~1) * k4 / 4 : 0);
        int32_t i;
        for (i = 0; i < 512; i += 4) {
            const int32_t t0 = tab[i], t1 = tab[i + 1], t2 = tab[i + 2], t3 = tab[i + 3];
            dst[i] = t0;
            dst[i + 1] = t1;
            dst[i + 2] = t2;
            dst[i + 3] = t3;
        }
        a.ta = dst + 128;
        a.tb = dst + 256 + 128;
        if (fast & 16) { /* and the records after them */
            for (i = 0; i < 4 * c_out; i++) dst[512 + i] = rq[i];
            rq = dst + 512;
        }
    }
    /* the rule's one-instruction output step, no clamp: gemm_pair_add_call's fast path */
#if MCD_ROUNDING_DOUBLE
    if (mode == 1 && p->act_min <= -128 && p->act_max >= 127 && a.lo <= -128 && a.hi >= 127)
        conv_add_run(p, in_d, in, k_h, k_w, w, rq, fast, out_d, skip, out, col, &a, 1, 1);
#else
    if (mode == 6 && p->act_min <= -128 && p->act_max >= 127 && a.lo <= -128 && a.hi >= 127)
        conv_add_run(p, in_d, in, k_h, k_w, w, rq, fast, out_d, skip, out, col, &a, 6, 1);
#endif
    else
        conv_add_run(p, in_d, in, k_h, k_w, w, rq, fast, out_d, skip, out, col, &a, mode, 0);
}
