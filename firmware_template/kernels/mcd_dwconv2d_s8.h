/* int8 depthwise convolution (channel multiplier 1), HWC: the shape-specialised fast path.
 *
 * Why it is built this way (estimated Cortex-M4 cycles, see tool/mcudeploy/cycles.py):
 *
 * - A depthwise MAC has no reduction over channels, so SMLAD (two MACs a cycle) must pair two
 *   TAPS of one channel. The input is therefore widened once to int16 rows in channel-major
 *   order (row buffer [C][span]: one channel's padded row is contiguous), so that one word load
 *   holds two horizontally adjacent input values of a channel, and the weights are stored per
 *   channel as pairs of taps ([C][k_h][KW2], KW2 = k_w rounded up to even, a zero tap past k_w).
 * - Adjacent outputs share every weight word: with the words x[j] = (in[2j], in[2j+1]) of the
 *   window's row, output 0 takes SMLAD(x[j], w[j]); output 1 takes, at stride 2,
 *   SMLAD(x[j+1], w[j]), and at stride 1 SMLADX on (x[j+1].lo, x[j].hi), which one PKHBT builds.
 *   3x3 runs four outputs a pass in hand-scheduled asm (a kernel row: 3 input loads, 2 weight
 *   loads, 2 packs, 8 dual MACs for 12 MACs); other sizes two a pass in C; an odd last one alone.
 *   With the row pitch a literal (always, from the generated call), the 3x3 quads address the
 *   three rows by immediate offsets and start from the bias; a row of 4k + 1 outputs at stride 1
 *   ends in five at once (KWS's 5-wide maps: 214 k -> 200 k est. cycles a layer), and three last
 *   outputs run as a quad whose fourth is dropped (VWW's 3 x 3 maps).
 *   (Keeping a channel's 6 weight words in registers instead spills: measured slower.)
 * - Borders cost as much as the interior (KWS 25x5: 40 % of the output pixels touch the padding),
 *   so there is no border code: the padded rows hold the input zero point (the generator folds
 *   -zp * sum(w) into the bias, so a padded tap adds nothing), rows above and below the image are
 *   all zero point, and every output runs the same unrolled loop with no bounds tests.
 * - Each input row is widened once: the scratch is a ring of k_h rows per channel, every row
 *   stored twice (slots s and s + k_h) so that the k_h rows of any window are consecutive, at
 *   constant (immediate) offsets from one pointer. Widening takes two pixels x four channels a
 *   step: 2 loads, 4 SXTB16, 4 PKHBT/PKHTB, 8 stores.
 * - Shape-specialised: forced inline (MCD_SPECIALISED) into the generated model.c, whose call
 *   site passes literal sizes, so the tap loops unroll and every offset is an immediate. Left to
 *   itself, gcc gave VWW's 13 depthwise layers one shared unspecialised copy, ~2x slower.
 * - Requantization with the rule of mcd_common.h as one SMMLA on a per-channel record and one
 *   shift (mcd_rq_out); the ReLU clamp is a single SSAT when the activation range is all of int8.
 * - A channel whose record has multiplier 0 is constant (the generator writes its value there:
 *   a ReLU that never opens, or a channel dead upstream): with fast_rq = 2 (a literal: the layer
 *   has such channels) its outputs are stored, not computed (VWW's late depthwise layers: 46-80 %
 *   of their channels); fast_rq = 1 compiles without the test (it cost 4 % on 12 x 12 maps).
 *
 * Fused max-pool, strides other than 1 and 2 across, and kernels larger than MCD_DW_MAX_KH x
 * MCD_DW_MAX_KW go to the generic (out-of-line) kernel of dwconv2d_s8.c, which reads the same
 * weight layout.
 */
#ifndef MCD_DWCONV2D_S8_H
#define MCD_DWCONV2D_S8_H
#include "mcd_kernels.h"
#include "mcd_simd.h"

#define MCD_DW_MAX_KH 8
#define MCD_DW_MAX_KW 8

/* int16 columns of one row buffer: every padded input column an output row reads, plus the
 * spare columns that the paired word loads touch past the last output's window (even: rows stay
 * word-aligned). */
static inline int32_t mcd_dw_span(int32_t k_w, int32_t stride_w, int32_t out_w)
{
    return ((out_w - 1) * stride_w + k_w + 3) & ~1;
}

static inline int32_t mcd_dw_fast(int32_t k_h, int32_t k_w, int32_t stride_w, int32_t pooled)
{
    return !pooled && k_h <= MCD_DW_MAX_KH && k_w <= MCD_DW_MAX_KW && stride_w >= 1 && stride_w <= 2;
}

/* A ring of k_h rows per channel, each stored twice (int16 [C][2 k_h][span]), then one pixel of
 * zero points (C bytes, rounded up to 4). */
static inline int32_t mcd_dwconv2d_s8_scratch_bytes(int32_t k_h, int32_t k_w, int32_t c, int32_t stride_w,
                                                    int32_t out_w, int32_t pooled)
{
    if (!mcd_dw_fast(k_h, k_w, stride_w, pooled)) return 0;
    return 2 * k_h * c * mcd_dw_span(k_w, stride_w, out_w) * 2 + ((c + 3) & ~3);
}

/* Widen padded input row iy into ring slot `slot` of every channel: buf[(c * 2 k_h + s) * span + x]
 * and its mirror at slot s + k_h hold in[iy][x - pad_l][c] (raw). Only the columns of the image are
 * written (zero points for a row outside it), in word-aligned pairs; a pair that straddles the
 * image's left or right edge takes its other pixel from zpix (C zero points). The padding columns
 * outside those pairs hold zero points from the fill at the start, and nothing else writes them
 * (the fill writes only them: on 6 x 6 maps filling whole rows took 8 % of the layer). */
MCD_SPECIALISED void mcd_dw_load_row(const mcd_dims *in_d, const int8_t *in, int32_t iy, int32_t lead, int32_t n,
                                     int32_t span, int32_t k_h, int16_t *slot, const int8_t *zpix)
{
    const int32_t c_n = in_d->c, c4 = c_n & ~3, cs = 2 * k_h * span, mir = k_h * span;
    const int32_t inside = iy >= 0 && iy < in_d->h;
    const int8_t *row = inside ? in + iy * in_d->w * c_n : zpix;
    const int32_t step = inside ? c_n : 0; /* bytes from one pixel to the next */
    int32_t x, c;
    for (x = lead & ~1; x < lead + n; x += 2) { /* padded columns x, x + 1 */
        const int8_t *s0 = x >= lead ? row + (x - lead) * step : zpix;
        const int8_t *s1 = x + 1 < lead + n ? row + (x + 1 - lead) * step : zpix;
        int16_t *dx = slot + x;
        for (c = 0; c < c4; c += 4) {
            const uint32_t a = mcd_ld32(s0 + c), b = mcd_ld32(s1 + c);
            const uint32_t a02 = mcd_sxtb16(a), b02 = mcd_sxtb16(b);
            const uint32_t a13 = mcd_sxtb16_ror8(a), b13 = mcd_sxtb16_ror8(b);
            const uint32_t v0 = mcd_pack_lo(a02, b02), v1 = mcd_pack_lo(a13, b13);
            const uint32_t v2 = mcd_pack_hi(a02, b02), v3 = mcd_pack_hi(a13, b13);
            int16_t *dc = dx + c * cs;
            mcd_st32(dc, v0);
            mcd_st32(dc + mir, v0);
            mcd_st32(dc + cs, v1);
            mcd_st32(dc + cs + mir, v1);
            mcd_st32(dc + 2 * cs, v2);
            mcd_st32(dc + 2 * cs + mir, v2);
            mcd_st32(dc + 3 * cs, v3);
            mcd_st32(dc + 3 * cs + mir, v3);
        }
        for (c = c4; c < c_n; c++) {
            const uint32_t v = mcd_pack_lo((uint32_t)(int32_t)s0[c], (uint32_t)(int32_t)s1[c]);
            mcd_st32(dx + c * cs, v);
            mcd_st32(dx + c * cs + mir, v);
        }
    }
}

#if MCD_HAVE_DSP && defined(__OPTIMIZE__)
/* One 3-tap kernel row for four outputs, wa = (w0, w1), wb = (w2, 0) at byte WO of the channel's
 * weights, input words from r. Stride 1: x0 = (in0, in1), x1 = (in2, in3), x2 = (in4, in5);
 * outputs 0 and 2 take SMLAD + SMLABB on aligned words, outputs 1 and 3 (windows starting at an
 * odd column) SMLADX on PKHBT(x1, x0) = (in2, in1), resp. (in4, in3), then SMLATB for the third
 * tap. 3 loads + 2 weight loads + 2 packs + 8 dual MACs for 12 MACs. */
#define MCD_DW_QUAD3_S1(WO)                                                                                   \
    "ldr %[x0], [%[r]]\n\t"                                                                                  \
    "ldr %[x1], [%[r], #4]\n\t"                                                                              \
    "ldr %[x2], [%[r], #8]\n\t"                                                                              \
    "ldr %[wa], [%[w], #" #WO "]\n\t"                                                                        \
    "ldr %[wb], [%[w], #" #WO "+4]\n\t"                                                                      \
    "smlad %[a0], %[x0], %[wa], %[a0]\n\t"                                                                   \
    "smlabb %[a0], %[x1], %[wb], %[a0]\n\t"                                                                  \
    "pkhbt %[x0], %[x1], %[x0]\n\t"                                                                          \
    "smladx %[a1], %[x0], %[wa], %[a1]\n\t"                                                                  \
    "smlatb %[a1], %[x1], %[wb], %[a1]\n\t"                                                                  \
    "smlad %[a2], %[x1], %[wa], %[a2]\n\t"                                                                   \
    "smlabb %[a2], %[x2], %[wb], %[a2]\n\t"                                                                  \
    "pkhbt %[x1], %[x2], %[x1]\n\t"                                                                          \
    "smladx %[a3], %[x1], %[wa], %[a3]\n\t"                                                                  \
    "smlatb %[a3], %[x2], %[wb], %[a3]\n\t"
/* Stride 2: output k reads (in 2k, in 2k+1, in 2k+2) = word k and the low half of word k + 1. */
#define MCD_DW_QUAD3_S2(WO)                                                                                   \
    "ldr %[wa], [%[w], #" #WO "]\n\t"                                                                        \
    "ldr %[wb], [%[w], #" #WO "+4]\n\t"                                                                      \
    "ldr %[x0], [%[r]]\n\t"                                                                                  \
    "ldr %[x1], [%[r], #4]\n\t"                                                                              \
    "ldr %[x2], [%[r], #8]\n\t"                                                                              \
    "smlad %[a0], %[x0], %[wa], %[a0]\n\t"                                                                   \
    "smlabb %[a0], %[x1], %[wb], %[a0]\n\t"                                                                  \
    "smlad %[a1], %[x1], %[wa], %[a1]\n\t"                                                                   \
    "smlabb %[a1], %[x2], %[wb], %[a1]\n\t"                                                                  \
    "ldr %[x0], [%[r], #12]\n\t"                                                                             \
    "ldr %[x1], [%[r], #16]\n\t"                                                                             \
    "smlad %[a2], %[x2], %[wa], %[a2]\n\t"                                                                   \
    "smlabb %[a2], %[x0], %[wb], %[a2]\n\t"                                                                  \
    "smlad %[a3], %[x0], %[wa], %[a3]\n\t"                                                                   \
    "smlabb %[a3], %[x1], %[wb], %[a3]\n\t"
#define MCD_DW_ASM3 1

/* The same 3x3 quads with the rows at immediate offsets (ROW: "0", "%c[rb]", "2*%c[rb]", the
 * row pitch rb a compile-time constant) and the first row's multiply-accumulates starting from
 * the bias (A: "%[b]" for the first row, else the accumulators themselves): no row pointer
 * adds, no copies of the bias, one register fewer (mcd_dw_quad3_imm). */
#define MCD_DW_IMM3_S1_HEAD(ROW, WO, A0, A1, A2)                                                              \
    "ldr %[x0], [%[r], #" ROW "]\n\t"                                                                        \
    "ldr %[x1], [%[r], #" ROW "+4]\n\t"                                                                      \
    "ldr %[x2], [%[r], #" ROW "+8]\n\t"                                                                      \
    "ldr %[wa], [%[w], #" #WO "]\n\t"                                                                        \
    "ldr %[wb], [%[w], #" #WO "+4]\n\t"                                                                      \
    "smlad %[a0], %[x0], %[wa], " A0 "\n\t"                                                                  \
    "smlabb %[a0], %[x1], %[wb], %[a0]\n\t"                                                                  \
    "pkhbt %[x0], %[x1], %[x0]\n\t"                                                                          \
    "smladx %[a1], %[x0], %[wa], " A1 "\n\t"                                                                 \
    "smlatb %[a1], %[x1], %[wb], %[a1]\n\t"                                                                  \
    "smlad %[a2], %[x1], %[wa], " A2 "\n\t"                                                                  \
    "smlabb %[a2], %[x2], %[wb], %[a2]\n\t"
#define MCD_DW_IMM3_S1(ROW, WO, A0, A1, A2, A3)                                                               \
    MCD_DW_IMM3_S1_HEAD(ROW, WO, A0, A1, A2)                                                                  \
    "pkhbt %[x1], %[x2], %[x1]\n\t"                                                                          \
    "smladx %[a3], %[x1], %[wa], " A3 "\n\t"                                                                 \
    "smlatb %[a3], %[x2], %[wb], %[a3]\n\t"
#define MCD_DW_IMM3_S2(ROW, WO, A0, A1, A2, A3)                                                              \
    "ldr %[wa], [%[w], #" #WO "]\n\t"                                                                        \
    "ldr %[wb], [%[w], #" #WO "+4]\n\t"                                                                      \
    "ldr %[x0], [%[r], #" ROW "]\n\t"                                                                        \
    "ldr %[x1], [%[r], #" ROW "+4]\n\t"                                                                      \
    "ldr %[x2], [%[r], #" ROW "+8]\n\t"                                                                      \
    "smlad %[a0], %[x0], %[wa], " A0 "\n\t"                                                                  \
    "smlabb %[a0], %[x1], %[wb], %[a0]\n\t"                                                                  \
    "smlad %[a1], %[x1], %[wa], " A1 "\n\t"                                                                  \
    "smlabb %[a1], %[x2], %[wb], %[a1]\n\t"                                                                  \
    "ldr %[x0], [%[r], #" ROW "+12]\n\t"                                                                     \
    "ldr %[x1], [%[r], #" ROW "+16]\n\t"                                                                     \
    "smlad %[a2], %[x2], %[wa], " A2 "\n\t"                                                                  \
    "smlabb %[a2], %[x0], %[wb], %[a2]\n\t"                                                                  \
    "smlad %[a3], %[x0], %[wa], " A3 "\n\t"                                                                  \
    "smlabb %[a3], %[x1], %[wb], %[a3]\n\t"
/* Five outputs at stride 1 (the rows of KWS's 25 x 5 maps: a quad and a lone output cost a third
 * more): the quad's row plus output 4 = (in4, in5).(w0, w1) + in6 w2 from x2 and one more word,
 * loaded into x0 once the quad's first pack has used it. */
#define MCD_DW_IMM3_S1_5(ROW, WO, A0, A1, A2, A3, A4)                                                         \
    MCD_DW_IMM3_S1_HEAD(ROW, WO, A0, A1, A2)                                                                  \
    "ldr %[x0], [%[r], #" ROW "+12]\n\t"                                                                     \
    "pkhbt %[x1], %[x2], %[x1]\n\t"                                                                          \
    "smladx %[a3], %[x1], %[wa], " A3 "\n\t"                                                                 \
    "smlatb %[a3], %[x2], %[wb], %[a3]\n\t"                                                                  \
    "smlad %[a4], %[x2], %[wa], " A4 "\n\t"                                                                  \
    "smlabb %[a4], %[x0], %[wb], %[a4]\n\t"
#else
#define MCD_DW_ASM3 0
#endif

/* The largest row pitch (int16 columns) whose window of three rows the immediate offsets of
 * mcd_dw_quad3_imm reach (LDR's 12-bit offset: 2 * 2 * span + 16 < 4096 bytes). */
#define MCD_DW_IMM_SPAN_MAX 1016

/* Accumulate two adjacent outputs of one channel from the word-aligned window at r (kernel rows
 * span apart): output 0 takes SMLAD(x[j], w[j]) over the words x[j] = (in 2j, in 2j+1) of each
 * row, output 1 SMLAD(x[j+1], w[j]) at stride 2 and SMLADX((x[j+1].lo, x[j].hi), w[j]) at
 * stride 1. */
MCD_SPECIALISED void mcd_dw_pair(const int16_t *r, const int16_t *wc, int32_t k_h, int32_t k_w, int32_t span,
                                 int32_t sw, int32_t *acc0, int32_t *acc1)
{
    const int32_t nw = (k_w + 1) >> 1; /* weight words per kernel row */
    int32_t a0 = *acc0, a1 = *acc1, ky, j;
    for (ky = 0; ky < k_h; ky++, r += span) {
        uint32_t x = mcd_ld32(r);
        for (j = 0; j < nw; j++) {
            const uint32_t wt = mcd_ld32(wc + (ky * nw + j) * 2), xn = mcd_ld32(r + 2 * j + 2);
            a0 = mcd_smlad(x, wt, a0);
            a1 = sw == 1 ? mcd_smladx(mcd_pack_lo_hi(xn, x), wt, a1) : mcd_smlad(xn, wt, a1);
            x = xn;
        }
    }
    *acc0 = a0;
    *acc1 = a1;
}

#if MCD_DW_ASM3
/* Four adjacent outputs of a 3x3 window at r, started from the bias b, when the row pitch is a
 * compile-time constant (span: the caller checks __builtin_constant_p and MCD_DW_IMM_SPAN_MAX). */
MCD_SPECIALISED void mcd_dw_quad3_imm(const int16_t *r, const int16_t *wc, int32_t span, int32_t sw, int32_t b,
                                      int32_t *a0, int32_t *a1, int32_t *a2, int32_t *a3)
{
    int32_t b0, b1, b2, b3;
    uint32_t x0, x1, x2, wa, wb;
#define MCD_DW_IMM3_OPERANDS                                                                                  \
    : [a0] "=&r"(b0), [a1] "=&r"(b1), [a2] "=&r"(b2), [a3] "=&r"(b3), [x0] "=&r"(x0), [x1] "=&r"(x1),          \
      [x2] "=&r"(x2), [wa] "=&r"(wa), [wb] "=&r"(wb)                                                         \
    : [r] "r"(r), [w] "r"(wc), [b] "r"(b), [rb] "i"(span * 2)                                                 \
    : "memory"
    if (sw == 1)
        __asm__(MCD_DW_IMM3_S1("0", 0, "%[b]", "%[b]", "%[b]", "%[b]")
                    MCD_DW_IMM3_S1("%c[rb]", 8, "%[a0]", "%[a1]", "%[a2]", "%[a3]")
                    MCD_DW_IMM3_S1("2*%c[rb]", 16, "%[a0]", "%[a1]", "%[a2]", "%[a3]") MCD_DW_IMM3_OPERANDS);
    else
        __asm__(MCD_DW_IMM3_S2("0", 0, "%[b]", "%[b]", "%[b]", "%[b]")
                    MCD_DW_IMM3_S2("%c[rb]", 8, "%[a0]", "%[a1]", "%[a2]", "%[a3]")
                    MCD_DW_IMM3_S2("2*%c[rb]", 16, "%[a0]", "%[a1]", "%[a2]", "%[a3]") MCD_DW_IMM3_OPERANDS);
#undef MCD_DW_IMM3_OPERANDS
    *a0 = b0, *a1 = b1, *a2 = b2, *a3 = b3;
}
#endif

#if MCD_DW_ASM3
/* Five adjacent outputs of a 3x3 window at r, stride 1, started from the bias b (see
 * mcd_dw_quad3_imm for span). */
MCD_SPECIALISED void mcd_dw_quint3_imm(const int16_t *r, const int16_t *wc, int32_t span, int32_t b, int32_t *acc)
{
    int32_t b0, b1, b2, b3, b4;
    uint32_t x0, x1, x2, wa, wb;
    __asm__(MCD_DW_IMM3_S1_5("0", 0, "%[b]", "%[b]", "%[b]", "%[b]", "%[b]")
                MCD_DW_IMM3_S1_5("%c[rb]", 8, "%[a0]", "%[a1]", "%[a2]", "%[a3]", "%[a4]")
                    MCD_DW_IMM3_S1_5("2*%c[rb]", 16, "%[a0]", "%[a1]", "%[a2]", "%[a3]", "%[a4]")
            : [a0] "=&r"(b0), [a1] "=&r"(b1), [a2] "=&r"(b2), [a3] "=&r"(b3), [a4] "=&r"(b4), [x0] "=&r"(x0),
              [x1] "=&r"(x1), [x2] "=&r"(x2), [wa] "=&r"(wa), [wb] "=&r"(wb)
            : [r] "r"(r), [w] "r"(wc), [b] "r"(b), [rb] "i"(span * 2)
            : "memory");
    acc[0] = b0, acc[1] = b1, acc[2] = b2, acc[3] = b3, acc[4] = b4;
}
#endif

/* Four adjacent outputs: 3x3 in hand-scheduled asm, else two pairs. */
MCD_SPECIALISED void mcd_dw_quad(const int16_t *r, const int16_t *wc, int32_t k_h, int32_t k_w, int32_t span,
                                 int32_t sw, int32_t *a0, int32_t *a1, int32_t *a2, int32_t *a3)
{
#if MCD_DW_ASM3
    if (k_h == 3 && k_w == 3) {
        int32_t b0 = *a0, b1 = *a1, b2 = *a2, b3 = *a3;
        uint32_t x0, x1, x2, wa, wb;
#define MCD_DW_QUAD3_OPERANDS                                                                                 \
    : [a0] "+r"(b0), [a1] "+r"(b1), [a2] "+r"(b2), [a3] "+r"(b3), [r] "+r"(r), [x0] "=&r"(x0), [x1] "=&r"(x1), \
      [x2] "=&r"(x2), [wa] "=&r"(wa), [wb] "=&r"(wb)                                                         \
    : [w] "r"(wc), [rb] "r"(span * 2)                                                                        \
    : "memory"
        if (sw == 1)
            __asm__(MCD_DW_QUAD3_S1(0) "add %[r], %[r], %[rb]\n\t" MCD_DW_QUAD3_S1(8)
                    "add %[r], %[r], %[rb]\n\t" MCD_DW_QUAD3_S1(16) MCD_DW_QUAD3_OPERANDS);
        else
            __asm__(MCD_DW_QUAD3_S2(0) "add %[r], %[r], %[rb]\n\t" MCD_DW_QUAD3_S2(8)
                    "add %[r], %[r], %[rb]\n\t" MCD_DW_QUAD3_S2(16) MCD_DW_QUAD3_OPERANDS);
#undef MCD_DW_QUAD3_OPERANDS
        *a0 = b0, *a1 = b1, *a2 = b2, *a3 = b3;
        return;
    }
#endif
    mcd_dw_pair(r, wc, k_h, k_w, span, sw, a0, a1);
    mcd_dw_pair(r + 2 * sw, wc, k_h, k_w, span, sw, a2, a3);
}

/* Output channel c's int8 from its accumulator: fast_rq bit 4 (the generator sets it for the
 * double rule when the clamp starts at or above the output zero point, and then stores weights
 * and bias_adj doubled, so acc is 2 * the sum) takes mcd_rq_out_dbl_relu: SMMLAR, shift, SSAT
 * instead of LSL, SMMULR, two adds, shift, SSAT. VWW's depthwise layers: 9 MACs an output, so
 * the requantization is a third of their cycles. */
MCD_SPECIALISED int8_t mcd_dw_requant8(int32_t acc, const int32_t *rq, int32_t c, const mcd_channel_quant *q,
                                 const mcd_conv_params *p, int32_t fast_rq)
{
    if (fast_rq & 4)
        return mcd_rq_out_dbl_relu(acc, rq[4 * c + 1], rq[4 * c + 2], rq[4 * c + 3], p->act_min, p->act_max);
    return mcd_rq_channel(acc, rq, c, q, p, fast_rq);
}

/* Same arguments as the other conv kernels, plus the per-channel records rq (int32 [C][4]:
 * bias_adj = bias - zp_in * sum(w), mult, cz, s; see mcd_rq_out), fast_rq (a literal from the
 * generator: 1 when the records hold every shift of the layer, 2 when besides some channels are
 * constant, 0: the generic rule from q; plus 4: doubled weights and bias_adj, see mcd_dw_requant8) and
 * mcd_dwconv2d_s8_scratch_bytes() of scratch. Weights int16 [C][k_h][KW2]. */
MCD_SPECIALISED void mcd_dwconv2d_s8(const mcd_conv_params *p, const mcd_channel_quant *q, const mcd_dims *in_d,
                                     const int8_t *in, int32_t k_h, int32_t k_w, const int16_t *w, const int32_t *bias,
                                     const int32_t *rq, int32_t fast_rq, const mcd_dims *out_d, int8_t *out,
                                     void *scratch)
{
    const int32_t c_n = in_d->c, sw = p->stride_w, ow = out_d->w;
    const int32_t nw = (k_w + 1) >> 1; /* weight words per kernel row */
    const int32_t span = mcd_dw_span(k_w, sw, ow), cs = 2 * k_h * span;
    const int32_t lead = p->pad_l < span ? p->pad_l : span;
    const int32_t n_in = in_d->w < span - lead ? in_d->w : span - lead; /* image columns in a row buffer */
    int16_t *buf = (int16_t *)scratch;
    int8_t *zpix = (int8_t *)(buf + c_n * cs);
    int32_t tag[MCD_DW_MAX_KH];
    int32_t oy, ox, ky, j, c;
#if MCD_DW_ASM3 /* rows of 4 k + 1 outputs at stride 1 end in five (mcd_dw_quint3_imm) */
    const int32_t quint = k_h == 3 && k_w == 3 && sw == 1 && (ow & 3) == 1 && ow >= 5 && __builtin_constant_p(span) &&
                          span <= MCD_DW_IMM_SPAN_MAX;
#else
    const int32_t quint = 0;
#endif
    if (!mcd_dw_fast(k_h, k_w, sw, p->pool_h * p->pool_w != 1)) {
        mcd_dwconv2d_s8_any(p, q, in_d, in, k_h, k_w, w, bias, out_d, out);
        return;
    }
    { /* the padding columns of every row of the ring that some window reads (mcd_dw_load_row
       * writes the image's; the spare columns past the last window only meet zero taps or
       * outputs that are not stored) */
        const int32_t head = lead & ~1, tail = (lead + n_in + 1) & ~1, end = (ow - 1) * sw + k_w;
        const uint32_t zz = (uint32_t)(uint16_t)(int16_t)p->in_zp * 0x00010001u;
        int16_t *row = buf, *const last = buf + c_n * cs;
        for (; row < last; row += span) {
            for (ox = 0; ox < head; ox += 2) mcd_st32(row + ox, zz);
            for (ox = tail; ox < end; ox += 2) mcd_st32(row + ox, zz);
        }
    }
    for (c = 0; c < c_n; c++) zpix[c] = (int8_t)p->in_zp;
    for (ky = 0; ky < k_h; ky++) tag[ky] = -1;
    for (oy = 0; oy < out_d->h; oy++) {
        const int32_t j0 = oy * p->stride_h; /* padded row index of the window's top row */
        for (ky = 0; ky < k_h; ky++) {
            const int32_t jr = j0 + ky, s = jr % k_h;
            if (tag[s] != jr) {
                mcd_dw_load_row(in_d, in, jr - p->pad_t, lead, n_in, span, k_h, buf + s * span, zpix);
                tag[s] = jr;
            }
        }
        for (c = 0; c < c_n; c++) {
            const int16_t *win = buf + c * cs + (j0 % k_h) * span;
            const int16_t *wc = w + c * k_h * nw * 2;
            const int32_t *rc = rq + 4 * c;
            const int32_t b = rc[0];
            int8_t *dst = out + oy * ow * c_n + c;
            if ((fast_rq & 3) == 2 && rc[1] == 0) { /* a constant channel: mult 0 (codegen/kernels.py: rq_records) */
                const int8_t v = mcd_rq_out(0, 0, rc[2], rc[3], p->act_min, p->act_max);
                for (ox = 0; ox < ow; ox++) dst[ox * c_n] = v;
                continue;
            }
            for (ox = 0; ox + 4 <= ow - 5 * quint; ox += 4, win += 4 * sw, dst += 4 * c_n) {
                int32_t a0 = b, a1 = b, a2 = b, a3 = b;
#if MCD_DW_ASM3
                if (k_h == 3 && k_w == 3 && __builtin_constant_p(span) && span <= MCD_DW_IMM_SPAN_MAX)
                    mcd_dw_quad3_imm(win, wc, span, sw, b, &a0, &a1, &a2, &a3);
                else
#endif
                    mcd_dw_quad(win, wc, k_h, k_w, span, sw, &a0, &a1, &a2, &a3);
                dst[0] = mcd_dw_requant8(a0, rq, c, q, p, fast_rq);
                dst[c_n] = mcd_dw_requant8(a1, rq, c, q, p, fast_rq);
                dst[2 * c_n] = mcd_dw_requant8(a2, rq, c, q, p, fast_rq);
                dst[3 * c_n] = mcd_dw_requant8(a3, rq, c, q, p, fast_rq);
            }
#if MCD_DW_ASM3
            if (quint) { /* the last five outputs */
                int32_t a[5];
                mcd_dw_quint3_imm(win, wc, span, b, a);
                for (j = 0; j < 5; j++) dst[j * c_n] = mcd_dw_requant8(a[j], rq, c, q, p, fast_rq);
                continue;
            }
            if (ox + 3 == ow && k_h == 3 && k_w == 3 && __builtin_constant_p(span) && span <= MCD_DW_IMM_SPAN_MAX) {
                int32_t a0, a1, a2, a3; /* three outputs as a quad (its reads stay inside span), the fourth dropped */
                mcd_dw_quad3_imm(win, wc, span, sw, b, &a0, &a1, &a2, &a3);
                dst[0] = mcd_dw_requant8(a0, rq, c, q, p, fast_rq);
                dst[c_n] = mcd_dw_requant8(a1, rq, c, q, p, fast_rq);
                dst[2 * c_n] = mcd_dw_requant8(a2, rq, c, q, p, fast_rq);
                (void)a3;
                continue;
            }
#endif
            if (ox + 2 <= ow) {
                int32_t a0 = b, a1 = b;
                mcd_dw_pair(win, wc, k_h, k_w, span, sw, &a0, &a1);
                dst[0] = mcd_dw_requant8(a0, rq, c, q, p, fast_rq);
                dst[c_n] = mcd_dw_requant8(a1, rq, c, q, p, fast_rq);
                ox += 2, win += 2 * sw, dst += 2 * c_n;
            }
            if (ox < ow) { /* the last output of an odd row */
                int32_t a0 = b;
                for (ky = 0; ky < k_h; ky++)
                    for (j = 0; j < nw; j++)
                        a0 = mcd_smlad(mcd_ld32(win + ky * span + 2 * j), mcd_ld32(wc + (ky * nw + j) * 2), a0);
                *dst = mcd_dw_requant8(a0, rq, c, q, p, fast_rq);
            }
        }
    }
}
#endif
