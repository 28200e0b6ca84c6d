/* Row bands for the convolutions that are not dense (grouped, dilated, transposed): a few input
 * rows widened once to int16 (q - zp) with zero columns either side, so that every tap of every
 * output pixel is a plain pointer into the band and the MAC loop needs no gather, no bounds test
 * and no per-tap zero point. Rows outside the image are never read (callers pass only the valid
 * tap rows), columns outside it are the band's zero columns.
 *
 * mcd_band_conv computes two output pixels x two output channels at a time: per pair of input
 * channels two words of input and two of weights feed four SMLADs. Weights are int16, per output
 * channel pair, in (tap row, tap column, channel) order with the channel count per tap rounded up
 * to even by a zero weight (the odd channel's partner read in the band is then multiplied by
 * zero; the band ends with two spare int16 so that read never leaves it) and the two channels
 * interleaved a pair of values at a time. Used by gconv2d_s8.c and convt2d_s8.c. */
#ifndef MCD_BAND_S8_H
#define MCD_BAND_S8_H
#include "mcd_simd.h"

/* dst = pl zero pixels, the w pixels of src widened to (q - zp), pr zero pixels; c channels each */
static inline void mcd_band_row(int16_t *dst, const int8_t *src, int32_t w, int32_t c, int32_t pl, int32_t pr,
                                int32_t zp)
{
    mcd_zero16(dst, pl * c);
    mcd_widen_s8(src, dst + pl * c, w * c, -zp);
    mcd_zero16(dst + (pl + w) * c, pr * c);
}

/* The input offsets (int16, from the first output pixel's first tap) of the column's runs of
 * input channels, in the weights' (tap row, tap column, channel) order, eight channels a run when
 * ci2 is a multiple of 8 (quad 2), four when of 4 (quad 1), else two; each run twice, for the first pixel of a pair and the
 * second (pix_step further; 0 computes a pixel with itself). Tap row ty starts row_off[ty] int16
 * into the band (row_off NULL: ty * row_stride). Flattening the tap loops, and the
 * second pixel into the table, keeps the MAC loop's live values in registers. Returns the
 * number of runs (2 int32 each). */
static inline int32_t mcd_band_offsets(int32_t *off, int32_t n_ty, int32_t row_stride, const int32_t *row_off,
                                       int32_t n_tx, int32_t tap_step, int32_t ci2, int32_t quad, int32_t pix_step)
{
    const int32_t step = quad == 2 ? 8 : (quad ? 4 : 2);
    int32_t ty, tx, i, n = 0;
    for (ty = 0; ty < n_ty; ty++)
        for (tx = 0; tx < n_tx; tx++)
            for (i = 0; i < ci2; i += step, n++) {
                off[2 * n] = (row_off ? row_off[ty] : ty * row_stride) + tx * tap_step + i;
                off[2 * n + 1] = off[2 * n] + pix_step;
            }
    return n;
}

/* One output channel's requantization, prepared once for a run of pixels: the records' rule of
 * mcd_simd.h (mcd_rq_out: SMMLA, one shift, SSAT) when the shift fits it (single rounding: 2 ..
 * 23; double: 1 .. 21, and then per output only while |acc| < 2^30, where the doubling multiply
 * is exact), else the engine's rule (mcd_rq_out_generic). cz and s are computed here as
 * codegen/kernels.py's rq_records computes them for the dense kernels. */
typedef struct {
    int32_t mult, cz, s; /* s < 0: the generic rule */
    int32_t shift, zp, lo8, hi8;
} mcd_band_rq;

static inline void mcd_band_rq_init(mcd_band_rq *r, const mcd_conv_params *p, int32_t mult, int32_t shift)
{
    r->mult = mult;
    r->shift = shift;
    r->zp = p->out_zp;
    r->lo8 = p->act_min;
    r->hi8 = p->act_max;
    r->s = -1;
    r->cz = 0;
#if MCD_ROUNDING_DOUBLE
    if (shift >= 1 && shift <= 21) r->s = shift;
#else
    if (shift >= 2 && shift <= 23) r->s = shift - 1;
#endif
    if (r->s >= 1) r->cz = (int32_t)((1u << (r->s - 1)) + (uint32_t)p->out_zp * (1u << r->s));
}

static inline int8_t mcd_band_rq_out(int32_t acc, const mcd_band_rq *r)
{
#if MCD_ROUNDING_DOUBLE
    if (r->s >= 0 && (uint32_t)acc + (1u << 30) < (1u << 31))
#else
    if (r->s >= 0)
#endif
        return mcd_rq_out(acc, r->mult, r->cz, r->s, r->lo8, r->hi8);
    return mcd_rq_out_generic(acc, r->mult, r->shift, r->zp, r->lo8, r->hi8);
}

/* Whether a channel pair takes the unconditional store of mcd_band_store_fast: single rounding,
 * both shifts in the records' range, no activation clamp narrower than int8, two channels. */
static inline int32_t mcd_band_pair_fast(const mcd_band_rq *ra, const mcd_band_rq *rb, int32_t two_out)
{
    return !MCD_ROUNDING_DOUBLE && two_out && ra->s >= 0 && rb->s >= 0 && ra->lo8 <= -128 && ra->hi8 >= 127;
}

/* y = SSAT8(SMMLA(acc, mult, cz) >> s): mcd_rq_out's single rule with the clamp a no-op */
static inline int8_t mcd_band_store_fast(int32_t acc, int32_t mult, int32_t cz, int32_t s)
{
    return (int8_t)mcd_sat8(mcd_smmla(acc, mult, cz) >> s);
}

/* The four results of a pixel pair x channel pair, any rule and clamp; d0: pixel 0, channel a. */
static inline void mcd_band_store4(int32_t a0, int32_t a1, int32_t b0, int32_t b1, int8_t *d0, int32_t ds,
                                   const mcd_band_rq *ra, const mcd_band_rq *rb, int32_t two_out,
                                   int32_t two_pix)
{
    d0[0] = mcd_band_rq_out(a0, ra);
    if (two_out) d0[1] = mcd_band_rq_out(a1, rb);
    if (two_pix) {
        d0[ds] = mcd_band_rq_out(b0, ra);
        if (two_out) d0[ds + 1] = mcd_band_rq_out(b1, rb);
    }
}

/* One run of output pixels over a band: what stays the same for every output channel pair. */
typedef struct {
    const int16_t *x;   /* the first pixel's first tap (the group's channel offset included) */
    int32_t pix_step;   /* int16 between consecutive output pixels' first taps */
    const int32_t *off; /* mcd_band_offsets of the taps, made with this pix_step (0 if n_pix is 1) */
    int32_t n, quad;    /* runs in off; channels a run: 8 (quad 2), 4 (quad 1), else 2 */
    int32_t n_pix;      /* output pixels */
    int32_t dst_step;   /* bytes between consecutive output pixels */
} mcd_band_job;

/* The first pixel of the job's last pair: an odd count's last pair overlaps the one before
 * (its first pixel is computed twice, to the same bytes); 0 for a single pixel. */
static inline int32_t mcd_band_last_pair(int32_t n_pix) { return n_pix >= 2 ? n_pix - 2 : 0; }

/* Two output channels (a, b) over the job's pixels, two pixels a step. Weights of the pair
 * interleaved by channel pairs: (a: ci, ci+1), (b: ci, ci+1), ... in the offsets' order, so one
 * pointer walks both. Not inlined, and everything it reads copied to locals first (an int8 store
 * may alias anything, so gcc would reload it after every output): on its own the MAC loop keeps
 * its accumulators in registers. two_out = 0 stores channel a only. */
static __attribute__((noinline)) void mcd_band_pixels(const mcd_band_job *jb, const int16_t *w, int32_t bias_a,
                                                      int32_t bias_b, const mcd_band_rq *ra,
                                                      const mcd_band_rq *rb, int8_t *dst, int32_t two_out)
{
    const int16_t *const x = jb->x;
    const int32_t *const off = jb->off, n2 = 2 * jb->n, quad = jb->quad;
    const int32_t last = mcd_band_last_pair(jb->n_pix), ps = jb->pix_step, ds = jb->dst_step;
    const int32_t two_pix = jb->n_pix >= 2, fast = two_pix && mcd_band_pair_fast(ra, rb, two_out);
    const int32_t ma = ra->mult, cza = ra->cz, sa = ra->s, mb = rb->mult, czb = rb->cz, sb = rb->s;
    int32_t j = 0;
    for (;;) {
        const int16_t *const x0 = x + j * ps;
        const int16_t *wp = w;
        const int32_t *op = off, *const end = off + n2;
        int32_t a0 = bias_a, a1 = bias_b, b0 = bias_a, b1 = bias_b;
        int8_t *d0 = dst + j * ds;
        if (quad == 2) { /* eight channels a run: half the offset loads and loop steps of quad */
            while (op < end) {
                const int32_t o0 = op[0], o1 = op[1];
                const int16_t *const pa = x0 + o0, *const pb = x0 + o1;
                uint32_t xa = mcd_ld32(pa), xb = mcd_ld32(pb), u = mcd_ld32(wp), v = mcd_ld32(wp + 2);
                a0 = mcd_smlad(xa, u, a0);
                a1 = mcd_smlad(xa, v, a1);
                b0 = mcd_smlad(xb, u, b0);
                b1 = mcd_smlad(xb, v, b1);
                xa = mcd_ld32(pa + 2), xb = mcd_ld32(pb + 2), u = mcd_ld32(wp + 4), v = mcd_ld32(wp + 6);
                a0 = mcd_smlad(xa, u, a0);
                a1 = mcd_smlad(xa, v, a1);
                b0 = mcd_smlad(xb, u, b0);
                b1 = mcd_smlad(xb, v, b1);
                xa = mcd_ld32(pa + 4), xb = mcd_ld32(pb + 4), u = mcd_ld32(wp + 8), v = mcd_ld32(wp + 10);
                a0 = mcd_smlad(xa, u, a0);
                a1 = mcd_smlad(xa, v, a1);
                b0 = mcd_smlad(xb, u, b0);
                b1 = mcd_smlad(xb, v, b1);
                xa = mcd_ld32(pa + 6), xb = mcd_ld32(pb + 6), u = mcd_ld32(wp + 12), v = mcd_ld32(wp + 14);
                a0 = mcd_smlad(xa, u, a0);
                a1 = mcd_smlad(xa, v, a1);
                b0 = mcd_smlad(xb, u, b0);
                b1 = mcd_smlad(xb, v, b1);
                op += 2;
                wp += 16;
            }
        } else if (quad) {
            while (op < end) {
                const int32_t o0 = op[0], o1 = op[1];
                const uint32_t xa = mcd_ld32(x0 + o0), xb = mcd_ld32(x0 + o1);
                const uint32_t u = mcd_ld32(wp), v = mcd_ld32(wp + 2);
                const uint32_t xc = mcd_ld32(x0 + o0 + 2), xd = mcd_ld32(x0 + o1 + 2);
                const uint32_t u2 = mcd_ld32(wp + 4), v2 = mcd_ld32(wp + 6);
                op += 2;
                wp += 8;
                a0 = mcd_smlad(xc, u2, mcd_smlad(xa, u, a0));
                a1 = mcd_smlad(xc, v2, mcd_smlad(xa, v, a1));
                b0 = mcd_smlad(xd, u2, mcd_smlad(xb, u, b0));
                b1 = mcd_smlad(xd, v2, mcd_smlad(xb, v, b1));
            }
        } else {
            while (op < end) {
                const int32_t o0 = op[0], o1 = op[1];
                const uint32_t xa = mcd_ld32(x0 + o0), xb = mcd_ld32(x0 + o1);
                const uint32_t u = mcd_ld32(wp), v = mcd_ld32(wp + 2);
                op += 2;
                wp += 4;
                a0 = mcd_smlad(xa, u, a0);
                a1 = mcd_smlad(xa, v, a1);
                b0 = mcd_smlad(xb, u, b0);
                b1 = mcd_smlad(xb, v, b1);
            }
        }
        if (fast) {
            d0[0] = mcd_band_store_fast(a0, ma, cza, sa);
            d0[1] = mcd_band_store_fast(a1, mb, czb, sb);
            d0[ds] = mcd_band_store_fast(b0, ma, cza, sa);
            d0[ds + 1] = mcd_band_store_fast(b1, mb, czb, sb);
        } else {
            mcd_band_store4(a0, a1, b0, b1, d0, ds, ra, rb, two_out, two_pix);
        }
        if (j == last) break;
        j = j + 2 > last ? last : j + 2;
    }
}

/* n_out output channels over the job's pixels, channel pairs outer (their requantization is
 * prepared once). w: the first channel pair's weights from the job's first tap on; kcp: int16
 * between consecutive channel pairs' weights; bias, q, dst: from the first output channel. */
static inline void mcd_band_conv(const mcd_band_job *jb, const int16_t *w, int32_t kcp, int32_t n_out,
                                 const int32_t *bias, const mcd_channel_quant *q, const mcd_conv_params *p,
                                 int8_t *dst)
{
    int32_t o;
    mcd_band_rq ra, rb;
    for (o = 0; o < n_out; o += 2) {
        const int32_t two_out = o + 1 < n_out, o1 = o + two_out;
        mcd_band_rq_init(&ra, p, q->mult[o], q->shift[o]);
        mcd_band_rq_init(&rb, p, q->mult[o1], q->shift[o1]);
        mcd_band_pixels(jb, w + (o >> 1) * kcp, bias[o], bias[o1], &ra, &rb, dst + o, two_out);
    }
}

#endif
