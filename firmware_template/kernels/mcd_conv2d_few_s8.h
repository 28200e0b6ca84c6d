/* int8 convolution for few input channels (C_in <= 4) and 8+ output channels, no fused pool, a
 * kernel larger than 1x1: the first convs of IC (32x32x3 -> 16, 3x3), KWS (49x10x1 -> 64, 10x4,
 * stride 2) and VWW (96x96x3 -> 8, 3x3, stride 2). The rows kernel's window reads
 * (mcd_conv2d_rows_s8.h: the k_h input rows of an output row widened to int16 minus the zero
 * point, a kernel row of a pixel read straight from them in SMLAD pairs, two pixels x four
 * channels a pass, mcd_rows_pair4's step), with what that kernel lacks for 8+ channels:
 *
 * - Aligned reads for both pixels. With stride_w * C_in odd (3 x 1 on IC), pixel b's window starts
 *   on an odd halfword, and a word load there is unaligned (two bus accesses on the M4). The rows
 *   are kept a second time one halfword along (copy 2: copy2[i] = copy1[i + 1]), so pixel b
 *   reads aligned words of copy 2 at a constant distance from pixel a's in copy 1.
 * - Each input row widened once, into a ring of k_h slots kept twice over (slot j and j + k_h hold
 *   the same row), so that an output row's k_h rows are always consecutive slots, as the unrolled
 *   window's fixed offsets need.
 * - Tail words for a kernel row of odd length (mcd_few_tail_words): the rows' last taps paired
 *   across the rows, not padded a row each (IC: 14 tap pairs a window instead of 15).
 * - Requantization straight from the registers with each block's records read once for both
 *   pixels (no accumulator arrays), and, where the layer allows the double rule's cheaper form
 *   (mode bit 0: double rounding, clamp at or above the output zero point), doubled weights and
 *   bias and mcd_rq_out_dbl_relu (SMMLAR, shift, SSAT).
 * - One packed array per layer, copied once into SRAM when the generator marks it (mode bit 1):
 *   per block of four output channels each channel's int16 weights (mcd_few_channel_halfwords:
 *   per kernel row its tap pairs, the pad tap 0; or the pairs without the last tap, then the tail
 *   words), then bias[4], then (mult, cz, s)[4] (the rq records' last three words). A pass reads
 *   a whole block: from flash, the F446RE's 8-line data cache holds less than the layer, so every
 *   pixel pair would read it again with wait states. The channel count is padded to a multiple
 *   of four with zero channels whose outputs are not stored.
 *
 * Scratch (mcd_conv2d_few_s8_scratch_bytes): the ring (2 k_h widened rows), copy 2's ring when
 * stride_w * C_in is odd, the tail words' region, then the staged pack. The rows are sized for an
 * even number of output columns, so a lone last pixel's partner reads zeros inside the buffer
 * (its outputs are dropped).
 *
 * Shape-specialised: static inline, included by the generated model.c; every size is a literal
 * at the call site, so the window's asm (one unrolled window of two pixels x four channels)
 * applies where its immediates fit, else mcd_few_window_c (also the host's portable build).
 */
#ifndef MCD_CONV2D_FEW_S8_H
#define MCD_CONV2D_FEW_S8_H
#include "mcd_conv2d_rows_s8.h"

/* halfwords of one widened row: the windows of an even count of output columns, +2, even */
static inline int32_t mcd_few_row_halfwords(int32_t k_w, int32_t c_in, int32_t stride_w, int32_t out_w)
{
    const int32_t ow2 = out_w + (out_w & 1);
    return ((((ow2 - 1) * stride_w + k_w) * c_in + 2) + 1) & ~1;
}

/* Tail words a pixel (0: none). A kernel row of odd length k_w * C_in (IC's 3 x 3) leaves one tap
 * past its last pair; instead of a pad tap per row (R2 = 10 taps for 9, a tap pair in 15 wasted),
 * the rows' last taps go in pairs across the rows, (row 0, row 1), (row 2, 0), into tail words
 * built once per output row: a window of 14 tap pairs instead of 15. Where a pixel's tail words
 * fit in the step between pixel pairs (4 tw <= 4 stride_w C_in bytes). */
static inline int32_t mcd_few_tail_words(int32_t k_h, int32_t k_w, int32_t c_in, int32_t stride_w)
{
    return ((k_w * c_in) & 1) && (k_h + 1) / 2 <= stride_w * c_in ? (k_h + 1) / 2 : 0;
}

/* halfwords of one channel's weights in the pack: k_h rows of their pairs, then the tail words */
static inline int32_t mcd_few_channel_halfwords(int32_t k_h, int32_t k_w, int32_t c_in, int32_t stride_w)
{
    const int32_t tw = mcd_few_tail_words(k_h, k_w, c_in, stride_w);
    return tw ? k_h * ((k_w * c_in) & ~1) + 2 * tw : k_h * ((k_w * c_in + 1) & ~1);
}

/* int32 words of one block of four channels in the pack */
static inline int32_t mcd_few_block_words(int32_t k_h, int32_t k_w, int32_t c_in, int32_t stride_w)
{
    return 2 * mcd_few_channel_halfwords(k_h, k_w, c_in, stride_w) + 16;
}

/* bytes of the rings (copy 1's, and copy 2's when stride_w * C_in is odd) */
static inline int32_t mcd_few_rings_bytes(int32_t k_h, int32_t k_w, int32_t c_in, int32_t stride_w, int32_t out_w)
{
    return 2 * k_h * mcd_few_row_halfwords(k_w, c_in, stride_w, out_w) * 2 * ((stride_w * c_in) & 1 ? 2 : 1);
}

/* bytes of the tail words' region: pixel a's and pixel b's, at a fixed distance from the window's
 * first slot (which moves over k_h slots) */
static inline int32_t mcd_few_tails_bytes(int32_t k_h, int32_t k_w, int32_t c_in, int32_t stride_w, int32_t out_w)
{
    const int32_t ow2 = out_w + (out_w & 1);
    if (!mcd_few_tail_words(k_h, k_w, c_in, stride_w)) return 0;
    return (k_h - 1) * mcd_few_row_halfwords(k_w, c_in, stride_w, out_w) * 2 + 2 * ow2 * stride_w * c_in * 2;
}

static inline int32_t mcd_conv2d_few_s8_scratch_bytes(int32_t k_h, int32_t k_w, int32_t c_in, int32_t c_out,
                                                      int32_t stride_w, int32_t out_w, int32_t stage)
{
    return mcd_few_rings_bytes(k_h, k_w, c_in, stride_w, out_w) + mcd_few_tails_bytes(k_h, k_w, c_in, stride_w, out_w) +
           (stage ? (c_out + 3) / 4 * mcd_few_block_words(k_h, k_w, c_in, stride_w) * 4 : 0);
}

/* The window of a block of four channels for two pixels in C (the host, and shapes the asm's
 * immediates do not fit): pr tap pairs a kernel row from the rings (pixel b ob halfwords from a),
 * then tw tail words (ta, tb). */
static inline void mcd_few_window_c(const int16_t *ra, int32_t rl, int32_t k_h, int32_t pr, int32_t tw, int32_t ob,
                                    const int16_t *ta, const int16_t *tb, const int16_t *w, int32_t chh,
                                    const int32_t *bias, int32_t *acc_a, int32_t *acc_b)
{
    int32_t o, ky, j;
    for (o = 0; o < 4; o++) {
        const int16_t *wo = w + o * chh;
        int32_t sa = bias[o], sb = bias[o];
        for (ky = 0; ky < k_h; ky++)
            for (j = 0; j < pr; j++, wo += 2) {
                const uint32_t wv = mcd_ld32(wo);
                sa = mcd_smlad(mcd_ld32(ra + ky * rl + 2 * j), wv, sa);
                sb = mcd_smlad(mcd_ld32(ra + ob + ky * rl + 2 * j), wv, sb);
            }
        for (j = 0; j < tw; j++, wo += 2) {
            const uint32_t wv = mcd_ld32(wo);
            sa = mcd_smlad(mcd_ld32(ta + 2 * j), wv, sa);
            sb = mcd_smlad(mcd_ld32(tb + 2 * j), wv, sb);
        }
        acc_a[o] = sa;
        acc_b[o] = sb;
    }
}

/* Input row iy widened (minus the zero point; zeros outside the image) into ring slot j and its
 * twin j + k_h of copy 1 (rows) and, when odd, copy 2 (rows + 2 k_h rl: copy2[i] = copy1[i + 1]).
 * The bytes are widened into the copy where in[iy][0] lands on an even halfword (word stores
 * aligned), and the other copy is that one moved a halfword, a word at a time. */
static inline void mcd_few_prep(const mcd_conv_params *p, const mcd_dims *in_d, const int8_t *in, int32_t k_h, int32_t rl,
                                int32_t odd, int32_t iy, int32_t j, int16_t *rows)
{
    const int32_t c = in_d->c, lpad = p->pad_l * c, in2 = odd && (lpad & 1); /* widen into copy 2 */
    int16_t *c1 = rows + j * rl, *c2 = rows + (2 * k_h + j) * rl;
    uint32_t *w1 = (uint32_t *)(void *)c1, *w2 = (uint32_t *)(void *)c2;
    const int32_t nw = rl / 2;
    int32_t i;
    if (iy < 0 || iy >= in_d->h) {
        mcd_zero16(c1, rl);
        if (odd) mcd_zero16(c2, rl);
    } else {
        int16_t *e = in2 ? c2 : c1;
        const int32_t start = in2 ? lpad - 1 : lpad;
        const int32_t n = in_d->w * c < rl - start ? in_d->w * c : rl - start;
        mcd_zero16(e, start);
        mcd_widen_s8(in + iy * in_d->w * c, e + start, n, -p->in_zp);
        mcd_zero16(e + start + n, rl - start - n);
        if (odd && in2) { /* copy 1 = copy 2 one halfword later (copy1[0] is left padding: 0) */
            uint32_t prev = 0;
            for (i = 0; i < nw; i++) {
                const uint32_t cur = w2[i];
                w1[i] = (prev >> 16) | (cur << 16);
                prev = cur;
            }
        } else if (odd) { /* copy 2 = copy 1 one halfword earlier (its last halfword never read) */
            uint32_t prev = w1[0];
            for (i = 0; i + 1 < nw; i++) {
                const uint32_t next = w1[i + 1];
                w2[i] = (prev >> 16) | (next << 16);
                prev = next;
            }
            w2[nw - 1] = prev >> 16;
        }
    }
    for (i = 0; i < nw; i++) w1[k_h * nw + i] = w1[i]; /* the twins: a window's k_h slots are consecutive */
    if (odd)
        for (i = 0; i < nw; i++) w2[k_h * nw + i] = w2[i];
}

/* One output from the registers: the records' rule (cheaper double form when dbl), or q's generic
 * rule when the layer's shifts do not fit the records (fast = 0). */
MCD_SPECIALISED int8_t mcd_few_rq(int32_t acc, const int32_t *rec, int32_t r, int32_t o, int32_t mode,
                                  const mcd_channel_quant *q, const mcd_conv_params *p, int32_t lo, int32_t hi)
{
    if (!(mode & 4)) return mcd_rq_out_generic(acc, q->mult[o], q->shift[o], p->out_zp, lo, hi);
    if (mode & 1) return mcd_rq_out_dbl_relu(acc, rec[4 + 3 * r], rec[5 + 3 * r], rec[6 + 3 * r], lo, hi);
    return mcd_rq_out(acc, rec[4 + 3 * r], rec[5 + 3 * r], rec[6 + 3 * r], lo, hi);
}

#if MCD_ROWS_QUAD2_ASM
/* The window of a block of four channels for two pixels in one asm, the bias loaded from the pack
 * into both pixels' accumulators first (mcd_rows_pair4 takes it from C, which cost ~20 cycles of
 * moves and stack reloads a block around the asm operands). The requantization stays in C: in the
 * asm too (~6 cycles less a block) the block's code passed the ART's 1 KB instruction cache, and
 * the flash-aware estimate rose by more than the zero-wait one fell (IC conv2d_0, 15-pair window:
 * 743,306 / 752,401 -> 722,443 / 784,639; 14 pairs with tail words: 714,905 / 725,998 -> 702,906 /
 * 759,501). */
#define MCD_FEW_WINDOW_ASM                                                                                \
    __asm__(                                                                                              \
        "ldr %[a0], [%[w], #%c[bias]]\n\t"                                                                \
        "ldr %[a1], [%[w], #(%c[bias] + 4)]\n\t"                                                          \
        "ldr %[a2], [%[w], #(%c[bias] + 8)]\n\t"                                                          \
        "ldr %[a3], [%[w], #(%c[bias] + 12)]\n\t"                                                         \
        "mov %[b0], %[a0]\n\tmov %[b1], %[a1]\n\tmov %[b2], %[a2]\n\tmov %[b3], %[a3]\n\t"                    \
        ".rept %c[kh]\n\t.rept %c[pairs]\n\t" MCD_ROWS_PAIR4_STEP ".endr\n\t"                               \
        "add %[r], %[r], #%c[adv]\n\t.endr\n\t"                                                            \
        ".set mcd_few_t, 0\n\t.rept %c[tw]\n\t" MCD_FEW_TAIL_STEP ".set mcd_few_t, mcd_few_t + 4\n\t.endr\n\t"  \
        MCD_NL128 MCD_NL128 MCD_NL128 MCD_NL128                                                           \
        : [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3), [b0] "=&r"(b0), [b1] "=&r"(b1),     \
          [b2] "=&r"(b2), [b3] "=&r"(b3), [r] "+r"(rp), [w] "+r"(wp), [wa] "=&r"(wa), [wb] "=&r"(wb),        \
          [xa] "=&r"(xa), [xb] "=&r"(xb)                                                                  \
        : [kh] "i"(k_h), [pairs] "i"(pr), [adv] "i"((rl - 2 * pr) * 2), [ch] "i"(chh * 2), [ob] "i"(ob * 2), \
          [bias] "i"(4 * chh * 2), [tw] "i"(tw), [ta] "i"(ta_off), [tb] "i"(ta_off + tb_off)                  \
        : "memory")
/* One tail word of both pixels (at r + TA + t and r + TB + t, r past the window's rows) for four
 * channels: mcd_rows_pair4's step with other input addresses. */
#define MCD_FEW_TAIL_STEP                                                                                 \
    "ldr %[xb], [%[r], #(%c[tb] + mcd_few_t)]\n\t"                                                        \
    "ldr %[xa], [%[r], #(%c[ta] + mcd_few_t)]\n\t"                                                        \
    MCD_ROWS_PAIR4_MAC
#endif

/* mode: bit 0 dbl (doubled pack, mcd_rq_out_dbl_relu), bit 1 stage (copy the pack into the scratch
 * first), bit 2 fast (the records hold the layer's rule; else q's generic rule) */
static inline void mcd_conv2d_few_s8(const mcd_conv_params *p, const mcd_channel_quant *q, const mcd_dims *in_d, const int8_t *in, int32_t k_h,
                                     int32_t k_w, const int32_t *pack, int32_t mode, const mcd_dims *out_d, int8_t *out,
                                     void *scratch)
{
    const int32_t c_in = in_d->c, c_out = out_d->c, sc = p->stride_w * c_in;
    const int32_t rl = mcd_few_row_halfwords(k_w, c_in, p->stride_w, out_d->w);
    const int32_t tw = mcd_few_tail_words(k_h, k_w, c_in, p->stride_w), last = k_w * c_in - 1;
    const int32_t pr = tw ? (k_w * c_in) >> 1 : (k_w * c_in + 1) >> 1; /* tap pairs a kernel row reads from the rings */
    const int32_t chh = mcd_few_channel_halfwords(k_h, k_w, c_in, p->stride_w);
    const int32_t odd = sc & 1, blk = mcd_few_block_words(k_h, k_w, c_in, p->stride_w), nblk = (c_out + 3) / 4;
    const int32_t rings = mcd_few_rings_bytes(k_h, k_w, c_in, p->stride_w, out_d->w);
    const int32_t ow2 = out_d->w + (out_d->w & 1), tb_off = ow2 * sc * 2; /* pixel b's tails after pixel a's */
    const int32_t lo = p->act_min, hi = p->act_max;
    int16_t *rows = (int16_t *)scratch;
    /* pixel b: copy 2 one halfword earlier (odd sc) or copy 1 (even), from pixel a's first tap */
    const int32_t ob = odd ? 2 * k_h * rl + sc - 1 : sc;
    int32_t oy, ox, b, r, next = -p->pad_t; /* the next input row to widen */

    if (mode & 2) { /* the pack into SRAM, past the rows */
        int32_t *dst = (int32_t *)(void *)((uint8_t *)scratch + rings +
                                           mcd_few_tails_bytes(k_h, k_w, c_in, p->stride_w, out_d->w));
        const int32_t words = nblk * blk;
        int32_t i;
        for (i = 0; i + 4 <= words; i += 4) {
            const int32_t x0 = pack[i], x1 = pack[i + 1], x2 = pack[i + 2], x3 = pack[i + 3];
            dst[i] = x0;
            dst[i + 1] = x1;
            dst[i + 2] = x2;
            dst[i + 3] = x3;
        }
        for (; i < words; i++) dst[i] = pack[i];
        pack = dst;
    }
    for (oy = 0; oy < out_d->h; oy++) {
        int8_t *dst = out + oy * out_d->w * c_out;
        const int32_t iy0 = oy * p->stride_h - p->pad_t;
        const int16_t *win = rows + (((iy0 % k_h) + k_h) % k_h) * rl; /* the window's k_h slots, in order */
        int32_t iy;
        for (iy = next > iy0 ? next : iy0; iy < iy0 + k_h; iy++)
            mcd_few_prep(p, in_d, in, k_h, rl, odd, iy, ((iy % k_h) + k_h) % k_h, rows);
        next = iy0 + k_h;
        if (tw) { /* the rows' last taps in pairs, (row 2t, row 2t + 1), per pixel: a's cells, then b's */
            int16_t *ta = (int16_t *)(void *)((uint8_t *)(uintptr_t)win + rings);
            int32_t x, t;
            for (x = 0; x < ow2; x += 2)
                for (t = 0; t < tw; t++) {
                    const int16_t *c0 = win + 2 * t * rl + last, *c1 = c0 + rl;
                    const int32_t two = 2 * t + 1 < k_h;
                    ta[x * sc + 2 * t] = c0[x * sc];
                    ta[x * sc + 2 * t + 1] = two ? c1[x * sc] : 0;
                    ta[tb_off / 2 + x * sc + 2 * t] = c0[(x + 1) * sc];
                    ta[tb_off / 2 + x * sc + 2 * t + 1] = two ? c1[(x + 1) * sc] : 0;
                }
        }
        for (ox = 0; ox < out_d->w; ox += 2) {
            const int16_t *ra = win + ox * sc;
            const int32_t *bp = pack;
            int8_t *da = dst + ox * c_out, *db = ox + 1 < out_d->w ? da + c_out : da; /* a lone pixel: b first, a over it */
            for (b = 0; b < nblk; b++, bp += blk) {
                const int32_t *rec = bp + blk - 16; /* bias[4], (mult, cz, s)[4] */
                const int32_t n = (c_out & 3) && b == nblk - 1 ? c_out & 3 : 4;
                int32_t acc_a[4], acc_b[4];
#if MCD_ROWS_QUAD2_ASM
                const int32_t ta_off = rings - k_h * rl * 2; /* pixel a's tails from the window's end (bytes) */
                if (MCD_ROWS_ASM_OK(rl, k_h, 2 * pr, ob, 0, 4) && __builtin_constant_p(chh) && k_h * pr + tw <= 32 &&
                    4 * chh * 2 + 12 <= 4095 && (!tw || (__builtin_constant_p(ta_off) && ta_off + tb_off + 4 * tw <= 4095))) {
                    int32_t a0, a1, a2, a3, b0, b1, b2, b3;
                    const int16_t *rp = ra;
                    const int32_t *wp = bp;
                    uint32_t wa, wb, xa, xb;
                    MCD_FEW_WINDOW_ASM;
                    acc_a[0] = a0, acc_a[1] = a1, acc_a[2] = a2, acc_a[3] = a3;
                    acc_b[0] = b0, acc_b[1] = b1, acc_b[2] = b2, acc_b[3] = b3;
                } else
#endif
                mcd_few_window_c(ra, rl, k_h, pr, tw, ob, (const int16_t *)(const void *)((const uint8_t *)ra + rings),
                                 (const int16_t *)(const void *)((const uint8_t *)ra + rings + tb_off),
                                 (const int16_t *)(const void *)bp, chh, rec, acc_a, acc_b);
                for (r = 0; r < n; r++) { /* both outputs of a channel before either store (int8 stores alias the records) */
                    const int8_t yb = mcd_few_rq(acc_b[r], rec, r, 4 * b + r, mode, q, p, lo, hi);
                    const int8_t ya = mcd_few_rq(acc_a[r], rec, r, 4 * b + r, mode, q, p, lo, hi);
                    db[4 * b + r] = yb;
                    da[4 * b + r] = ya;
                }
            }
        }
    }
}
#endif
