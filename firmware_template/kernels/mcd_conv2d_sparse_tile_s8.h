/* Sparse int8 convolution, stride 1, optional fused 2x2/2 max-pool: the driver of the 2 x 4 tile
 * kernel (format and inner loop: conv2d_sparse_tile_s8.c).
 *
 * Per pair of conv rows (one pooled row), the input is widened into a "row pair" strip covering
 * `group` tiles of 4 conv columns (mcd_spt_group: a whole row when it fits in MCD_SPT_STRIP_BYTES,
 * as for first layers, else fewer tiles, at least one); then for each tile mcd_spt_tile_2x4 accumulates
 * every output channel's non-zeros, and the results are pooled (in the inner loop), biased and
 * requantized here.
 *
 * Shape-specialised: static inline, included by the generated model.c, so each call site passes
 * its layer's constants (channels, kernel size, group) and the compiler unrolls the strip fill.
 * Scratch: mcd_conv2d_sparse_tile_s8_scratch_bytes() (the strip plus one chunk of results).
 */
#ifndef MCD_CONV2D_SPARSE_TILE_S8_H
#define MCD_CONV2D_SPARSE_TILE_S8_H
#include "mcd_kernels.h"
#include "mcd_simd.h"

#define MCD_SPT_CHUNK_NOPOOL 8   /* output channels per inner-loop call without a pool (8 int32 each) */
#define MCD_SPT_STRIP_BYTES 1024 /* the strip covers as many tiles as fit in this (at least one) */

/* tiles per strip: all n_tx of a row if they fit in MCD_SPT_STRIP_BYTES, else fewer (>= 1) */
static inline int32_t mcd_spt_group(int32_t c_in, int32_t k_h, int32_t k_w, int32_t n_tx)
{
    int32_t g = n_tx;
    while (g > 1 && c_in * k_h * (4 * g + k_w - 1) * 4 > MCD_SPT_STRIP_BYTES) g--;
    return g;
}

static inline int32_t mcd_conv2d_sparse_tile_s8_scratch_bytes(int32_t c_in, int32_t k_h, int32_t k_w, int32_t c_out,
                                                              int32_t pool, int32_t group)
{
    const int32_t chunk = pool ? c_out : (c_out < MCD_SPT_CHUNK_NOPOOL ? c_out : MCD_SPT_CHUNK_NOPOOL);
    return c_in * k_h * (4 * group + k_w - 1) * 4 + chunk * (pool ? 2 : 8) * 4;
}

/* z words for n pixel positions of one row pair: a[i], b[i] (int8, HWC, i < n * c) into the
 * channel planes of z (plane stride cs words). Four bytes a pass: SXTB16 splits (x0, x2) and
 * (x1, x3), then row a goes to the low half, row b to the high half. */
static inline void mcd_spt_pairs(const int8_t *a, const int8_t *b, int32_t n, int32_t c, int32_t cs, uint32_t *z)
{
    int32_t j, ci;
    if (c == 1) {
        for (j = 0; j + 4 <= n; j += 4) {
            const uint32_t xa = mcd_ld32(a + j), xb = mcd_ld32(b + j);
            const uint32_t a02 = mcd_sxtb16(xa), a13 = mcd_sxtb16_ror8(xa);
            const uint32_t b02 = mcd_sxtb16(xb), b13 = mcd_sxtb16_ror8(xb);
            z[j] = (a02 & 0xFFFFu) | (b02 << 16);
            z[j + 1] = (a13 & 0xFFFFu) | (b13 << 16);
            z[j + 2] = (a02 >> 16) | (b02 & 0xFFFF0000u);
            z[j + 3] = (a13 >> 16) | (b13 & 0xFFFF0000u);
        }
        for (; j < n; j++) z[j] = (uint32_t)(uint16_t)a[j] | ((uint32_t)(uint16_t)b[j] << 16);
        return;
    }
    for (j = 0; j < n; j++, a += c, b += c) {
        uint32_t *d = z + j;
        for (ci = 0; ci + 4 <= c; ci += 4) {
            const uint32_t xa = mcd_ld32(a + ci), xb = mcd_ld32(b + ci);
            const uint32_t a02 = mcd_sxtb16(xa), a13 = mcd_sxtb16_ror8(xa);
            const uint32_t b02 = mcd_sxtb16(xb), b13 = mcd_sxtb16_ror8(xb);
            d[0] = (a02 & 0xFFFFu) | (b02 << 16);
            d[cs] = (a13 & 0xFFFFu) | (b13 << 16);
            d[2 * cs] = (a02 >> 16) | (b02 & 0xFFFF0000u);
            d[3 * cs] = (a13 >> 16) | (b13 & 0xFFFF0000u);
            d += 4 * cs;
        }
        for (; ci < c; ci++, d += cs) *d = (uint32_t)(uint16_t)a[ci] | ((uint32_t)(uint16_t)b[ci] << 16);
    }
}

/* the row-pair strip for input rows iy0 + ky, iy0 + ky + 1 and input columns ix0 .. ix0 + wz - 1 */
static inline void mcd_spt_fill(const mcd_dims *in_d, const int8_t *in, int32_t k_h, int32_t wz, int32_t iy0,
                                int32_t ix0, int32_t zp, uint32_t *z)
{
    const int32_t c = in_d->c, h = in_d->h, w = in_d->w, cs = k_h * wz;
    const uint32_t zz = (uint32_t)(uint16_t)zp * 0x10001u;
    int32_t jlo = ix0 < 0 ? -ix0 : 0, jhi = w - ix0 < wz ? w - ix0 : wz; /* in-image columns [jlo, jhi) */
    int32_t ky, j, ci;
    if (jlo > wz) jlo = wz;
    if (jhi < jlo) jhi = jlo;
    for (ky = 0; ky < k_h; ky++) {
        const int32_t ya = iy0 + ky, yb = ya + 1;
        const int32_t va = ya >= 0 && ya < h, vb = yb >= 0 && yb < h;
        uint32_t *zr = z + ky * wz;
        if (jlo > 0 || jhi < wz) {
            for (ci = 0; ci < c; ci++) {
                uint32_t *d = zr + ci * cs;
                for (j = 0; j < jlo; j++) d[j] = zz;
                for (j = jhi; j < wz; j++) d[j] = zz;
            }
        }
        if (jhi == jlo) continue;
        if (va && vb) {
            const int8_t *sa = in + (ya * w + ix0 + jlo) * c;
            mcd_spt_pairs(sa, sa + w * c, jhi - jlo, c, cs, zr + jlo);
        } else {
            const int8_t *sa = va ? in + (ya * w + ix0) * c : 0, *sb = vb ? in + (yb * w + ix0) * c : 0;
            for (j = jlo; j < jhi; j++) {
                for (ci = 0; ci < c; ci++) {
                    const int32_t a = sa ? sa[j * c + ci] : zp, b = sb ? sb[j * c + ci] : zp;
                    zr[j + ci * cs] = (uint32_t)(uint16_t)a | ((uint32_t)(uint16_t)b << 16);
                }
            }
        }
    }
}

static inline void mcd_conv2d_sparse_tile_s8(const mcd_conv_params *p, const mcd_channel_quant *q, const mcd_dims *in_d,
                                             const int8_t *in, int32_t k_h, int32_t k_w, int32_t pad_b, int32_t pad_r,
                                             const uint16_t *ptr, const int32_t *rec,
                                             const int32_t *bias_adj, const mcd_dims *out_d, int8_t *out, void *scratch)
{
    const int32_t co = out_d->c, pool = p->pool_h == 2;
    const int32_t conv_h = in_d->h + p->pad_t + pad_b - k_h + 1, conv_w = in_d->w + p->pad_l + pad_r - k_w + 1;
    const int32_t chunk = pool ? co : (co < MCD_SPT_CHUNK_NOPOOL ? co : MCD_SPT_CHUNK_NOPOOL);
    const int32_t n_ty = pool ? out_d->h : (conv_h + 1) >> 1, n_tx = pool ? (out_d->w + 1) >> 1 : (conv_w + 3) >> 2;
    const int32_t group = mcd_spt_group(in_d->c, k_h, k_w, n_tx), wz = 4 * group + k_w - 1;
    const int32_t zp = p->out_zp, lo = p->act_min, hi = p->act_max;
    uint32_t *z = (uint32_t *)scratch;
    int32_t *acc = (int32_t *)(z + in_d->c * k_h * wz);
    int32_t ty, tx0, tx, o0, i, t;
    for (ty = 0; ty < n_ty; ty++) {
        for (tx0 = 0; tx0 < n_tx; tx0 += group) {
            const int32_t tx_end = tx0 + group < n_tx ? tx0 + group : n_tx;
            mcd_spt_fill(in_d, in, k_h, wz, 2 * ty - p->pad_t, 4 * tx0 - p->pad_l, p->in_zp, z);
            for (tx = tx0; tx < tx_end; tx++) {
                for (o0 = 0; o0 < co; o0 += chunk) {
                    const int32_t n = co - o0 < chunk ? co - o0 : chunk;
                    mcd_spt_tile_2x4(z + 4 * (tx - tx0), (const uint32_t *)rec, ptr + o0, n, acc, pool);
                    if (pool) {
                        int8_t *dst = out + (ty * out_d->w + 2 * tx) * co + o0;
                        const int32_t *a = acc;
                        if (2 * tx + 1 < out_d->w) {
                            for (i = 0; i < n; i++, a += 2) {
                                const int32_t o = o0 + i, m = q->mult[o], s = q->shift[o], b = bias_adj[o];
                                dst[i] = mcd_clamp8(mcd_requant_fast(a[0] + b, m, s) + zp, lo, hi);
                                dst[co + i] = mcd_clamp8(mcd_requant_fast(a[1] + b, m, s) + zp, lo, hi);
                            }
                        } else {
                            for (i = 0; i < n; i++, a += 2) {
                                const int32_t o = o0 + i;
                                dst[i] = mcd_clamp8(mcd_requant_fast(a[0] + bias_adj[o], q->mult[o], q->shift[o]) + zp,
                                                    lo, hi);
                            }
                        }
                    } else {
                        for (i = 0; i < n; i++) {
                            const int32_t o = o0 + i, m = q->mult[o], s = q->shift[o], b = bias_adj[o];
                            for (t = 0; t < 8; t++) {
                                const int32_t oy = 2 * ty + (t >> 2), ox = 4 * tx + (t & 3);
                                if (oy < out_d->h && ox < out_d->w)
                                    out[(oy * out_d->w + ox) * co + o] =
                                        mcd_clamp8(mcd_requant_fast(acc[8 * i + t] + b, m, s) + zp, lo, hi);
                            }
                        }
                    }
                }
            }
        }
    }
}
#endif
