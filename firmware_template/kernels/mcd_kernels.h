/* mcudeploy int8 kernels: one kernel per file, all activations HWC int8.
 *
 * Usage (as the generated model.c does):
 *   static const mcd_conv_params p = {1, 1, 2, 2, 2, 2, 2, 2, -128, -128, -128, 127};
 *   static const mcd_channel_quant q = {conv1_mult, conv1_shift};
 *   static const mcd_dims in_d = {28, 28, 1}, out_d = {14, 14, 6};
 *   mcd_conv2d_s8(&p, &q, &in_d, input, 5, 5, conv1_w, conv1_rq, 1, &out_d, arena + 0, arena + 1176);
 * Kernels never allocate; the caller's memory plan gives every buffer. Kernels documented as
 * in-place safe may be called with out == in.
 */
#ifndef MCD_KERNELS_H
#define MCD_KERNELS_H
#include "mcd_common.h"

/* Convolution (groups = 1), optional fused max-pool; out_d is the pooled output. Weights packed
 * by the generator: [O][K4]; per-channel requantization records rq [O][4] = (bias_adj, mult, cz,
 * s), fast = whether the records hold the layer's shifts, | 2 to stage the weights in scratch (see
 * conv2d_s8.c). Needs
 * mcd_conv2d_s8_scratch_bytes() of scratch. */
void mcd_conv2d_s8(const mcd_conv_params *p, const mcd_channel_quant *q, const mcd_dims *in_d,
                   const int8_t *in, int32_t k_h, int32_t k_w, const int8_t *w, const int32_t *rq, int32_t fast,
                   const mcd_dims *out_d, int8_t *out, void *scratch);
int32_t mcd_conv2d_s8_scratch_bytes(int32_t k_h, int32_t k_w, int32_t c_in, int32_t c_out);

/* Convolution for few input channels (C_in <= 4) without im2col: static inline, shape-specialised
 * at its call site; see mcd_conv2d_rows_s8.h. */
#define MCD_ROWS_MAX_COUT 64

/* Depthwise convolution, channel multiplier 1, optional fused max-pool; weights int16
 * [C][k_h][KW2], KW2 = k_w rounded up to even (taps in pairs, a zero tap past k_w). The fast path,
 * mcd_dwconv2d_s8(), is static inline in mcd_dwconv2d_s8.h (shape-specialised at its call site,
 * needs mcd_dwconv2d_s8_scratch_bytes() of scratch); this generic kernel (dwconv2d_s8.c) takes a
 * fused pool, any stride and any kernel size, with no scratch. */
void mcd_dwconv2d_s8_any(const mcd_conv_params *p, const mcd_channel_quant *q, const mcd_dims *in_d,
                         const int8_t *in, int32_t k_h, int32_t k_w, const int16_t *w, const int32_t *bias,
                         const mcd_dims *out_d, int8_t *out);

/* Pointwise convolution (1x1, any stride, no padding, no pool): a GEMM over the HWC pixels with no
 * im2col: static inline, shape-specialised at its call site; see mcd_pwconv2d_s8.h. */

/* Fully connected: out[o] = requant(bias[o] + sum_i (in[i] - in_zp) * w[o][i]): static inline,
 * shape-specialised at its call site; see mcd_fc_s8.h. */

/* Sparse weights (only non-zeros, one byte of index each): see conv2d_sparse_s8.c. */
void mcd_conv2d_sparse_s8(const mcd_conv_params *p, const mcd_channel_quant *q, const mcd_dims *in_d,
                          const int8_t *in, int32_t pad_b, int32_t pad_r, const uint16_t *ptr, const uint8_t *delta,
                          const int8_t *val, const int32_t *bias_adj, const mcd_dims *out_d, int8_t *out,
                          void *scratch);
int32_t mcd_conv2d_sparse_s8_scratch_bytes(const mcd_dims *in_d, int32_t pad_t, int32_t pad_l, int32_t pad_b,
                                           int32_t pad_r);
/* Sparse weights, stride-1 convs (optionally with a fused 2x2/2 max-pool): weight-stationary over
 * 2 x 4 output tiles, two non-zeros per 32-bit record. The driver, mcd_conv2d_sparse_tile_s8(), is
 * static inline in mcd_conv2d_sparse_tile_s8.h; this is its inner loop (conv2d_sparse_tile_s8.c):
 * for n_out channels, the tile's 8 accumulators (pool: the two 2x2 maxima) into acc. */
void mcd_spt_tile_2x4(const uint32_t *z, const uint32_t *rec, const uint16_t *ptr, int32_t n_out, int32_t *acc,
                      int32_t pool);
/* Sparse fully connected: two non-zeros per 32-bit record (see fc_sparse_s8.c). */
void mcd_fc_sparse_s8(int32_t out_n, const int8_t *in, const uint16_t *ptr, const int32_t *rec,
                      const int32_t *bias_adj, const mcd_channel_quant *q, int32_t out_zp, int32_t act_min,
                      int32_t act_max, int8_t *out);

/* Sparse ternary fully connected: one gap byte a non-zero, +1 and -1 positions apart, additions
 * only (see fc_ternary_sparse_s8.c). */
void mcd_fc_ternary_sparse_s8(int32_t out_n, const int8_t *in, const uint8_t *count, const uint8_t *gaps,
                              int32_t fill, const int32_t *bias_adj, const mcd_channel_quant *q, int32_t out_zp,
                              int32_t act_min, int32_t act_max, int8_t *out);

/* Ternary (bits = 2) or int4 (bits = 4) weights packed in flash, unpacked in registers (see
 * mcd_lowbit_s8.h): int8-equivalent arithmetic of the dense kernels. */
void mcd_conv2d_lowbit_s8(int32_t bits, const mcd_conv_params *p, const mcd_channel_quant *q, const mcd_dims *in_d,
                          const int8_t *in, int32_t k_h, int32_t k_w, const uint32_t *w, const int32_t *rq,
                          int32_t fast, const mcd_dims *out_d, int8_t *out, void *scratch);
int32_t mcd_conv2d_lowbit_s8_scratch_bytes(int32_t bits, int32_t k_h, int32_t k_w, int32_t c_in, int32_t c_out);
void mcd_fc_lowbit_s8(int32_t bits, int32_t in_n, const int8_t *in, int32_t out_n, const uint32_t *w,
                      const int32_t *bias, const mcd_channel_quant *q, int32_t in_zp, int32_t out_zp,
                      int32_t act_min, int32_t act_max, int8_t *out, void *scratch);
int32_t mcd_fc_lowbit_s8_scratch_bytes(int32_t bits, int32_t in_n);

/* Max-pool; in-place safe when no output pixel reads an input pixel before its own index. */
void mcd_maxpool_s8(const mcd_pool_params *p, const mcd_dims *in_d, const int8_t *in,
                    const mcd_dims *out_d, int8_t *out);

/* Average pool, same quantization in and out, rounding half away from zero. */
void mcd_avgpool_s8(const mcd_pool_params *p, const mcd_dims *in_d, const int8_t *in,
                    const mcd_dims *out_d, int8_t *out);

typedef struct {
    int32_t zp1, zp2, out_zp, left_shift;
    int32_t mult1, shift1, mult2, shift2, out_mult, out_shift;
    int32_t act_min, act_max;
} mcd_add_params;

/* Element-wise add of two int8 tensors of n elements; in-place safe (out == a or b). scratch may
 * be 0; with mcd_add_s8_scratch_bytes(n) bytes the rescale is tabulated (see add_s8.c).
 * mcd_add_s8_tab reads the same tables from tab (2 x 256 int32 in flash, made by the generator:
 * entry v + 128 of table k is input k's rescale of v, doubled under MCD_ROUNDING_DOUBLE). */
#define MCD_ADD_LUT_MIN 256
void mcd_add_s8(const mcd_add_params *p, int32_t n, const int8_t *a, const int8_t *b, int8_t *out, void *scratch);
void mcd_add_s8_tab(const mcd_add_params *p, int32_t n, const int8_t *a, const int8_t *b, int8_t *out,
                    const int32_t *tab);
int32_t mcd_add_s8_scratch_bytes(int32_t n);

/* mcd_conv2d_s8 (records only, no pool) with a residual add fused into its requantization:
 * out = add(conv(in), skip) by ap (the conv's operand first) and its two rescale tables tab (as
 * mcd_add_s8_tab's); out may be skip. mode: the add's output step (conv2d_add_s8.c). Same scratch
 * as mcd_conv2d_s8. */
void mcd_conv2d_s8_add(const mcd_conv_params *p, const mcd_dims *in_d, const int8_t *in, int32_t k_h, int32_t k_w,
                       const int8_t *w, const int32_t *rq, int32_t fast, const mcd_dims *out_d, const int8_t *skip,
                       const mcd_add_params *ap, int32_t mode, const int32_t *tab, int8_t *out, void *scratch);

/* One input of a channel concat: copies (or requantizes) in_c channels per pixel into out at
 * channel offset c_off of out_c. mult == 0 and copy != 0 means a plain copy. */
void mcd_concat_s8(int32_t pixels, const int8_t *in, int32_t in_c, int32_t copy, int32_t in_zp,
                   int32_t mult, int32_t shift, int32_t out_zp, int32_t c_off, int32_t out_c, int8_t *out);

/* Clamp to [lo, hi] (a ReLU that could not be fused); in-place safe. */
void mcd_clamp_s8(int32_t n, const int8_t *in, int32_t lo, int32_t hi, int8_t *out);

/* HWC -> CHW reorder (before a flatten the generator could not fold into the next layer). */
void mcd_to_chw_s8(const mcd_dims *d, const int8_t *in, int8_t *out);

#endif
