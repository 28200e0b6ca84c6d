/* Shared types and the one requantization rule of mcudeploy's int8 kernels.
 *
 * Rounding rule (the Python twin is mcudeploy/quantize.py, and tests check the two agree):
 *   total = 31 + shift                                  1 <= total <= 62
 *   y     = (acc * mult + 2^(total-1)) >> total         64-bit product, arithmetic shift
 *   y     = saturate to int32
 * One rounding, to nearest, ties toward +infinity: TFLite's single-rounding
 * MultiplyByQuantizedMultiplier. |acc * mult| < 2^62, so the 64-bit sum cannot overflow.
 * (Right shift of a negative int64 is arithmetic on every compiler we target: gcc, clang.)
 *
 * With MCD_ROUNDING_DOUBLE 1 (the generator writes it into engine/mcd_config.h for a graph whose
 * rule is "double", e.g. an imported .tflite) the same (mult, shift) round twice, gemmlowp's way,
 * as LiteRT's reference kernels and CMSIS-NN do:
 *   x = acc << max(-shift, 0)                      (int32, wrapping)
 *   h = x * mult / 2^31     rounded half toward +infinity (SaturatingRoundingDoublingHighMul)
 *   y = h / 2^max(shift,0)  rounded half away from zero  (RoundingDivideByPOT)
 * The switch is a preprocessor constant: a single-rule engine compiles exactly as before.
 * MCD_ROUNDING_DOUBLE_FC is the same switch for the fully-connected kernels (mcd_requant_fc):
 * LiteRT's reference kernels round FULLY_CONNECTED once, convolutions and ADD twice.
 */
#ifndef MCD_COMMON_H
#define MCD_COMMON_H

#include <stdint.h>
#include "mcd_config.h"

#ifndef MCD_ROUNDING_DOUBLE
#define MCD_ROUNDING_DOUBLE 0
#endif
#ifndef MCD_ROUNDING_DOUBLE_FC /* fully connected layers: mcd_requant_fc (mcd_simd.h) */
#define MCD_ROUNDING_DOUBLE_FC MCD_ROUNDING_DOUBLE
#endif

/* Shape-specialised kernels are static inline in headers and take literal sizes from the
 * generated call site; they are only fast once inlined there, so ask for it where the compiler
 * has a way (gcc, clang: a model with a dozen depthwise layers otherwise gets one shared,
 * unspecialised copy, about twice as slow). Plain static inline elsewhere. */
#if defined(__GNUC__) && defined(__OPTIMIZE__)
#define MCD_SPECIALISED static inline __attribute__((always_inline))
#else
#define MCD_SPECIALISED static inline
#endif

typedef struct { int32_t h, w, c; } mcd_dims;

typedef struct {
    int32_t stride_h, stride_w;
    int32_t pad_t, pad_l;          /* bottom/right padding follows from the output size */
    int32_t pool_h, pool_w;        /* fused max-pool window; 1 x 1 = none */
    int32_t pool_sh, pool_sw;
    int32_t in_zp, out_zp;
    int32_t act_min, act_max;
} mcd_conv_params;

typedef struct { const int32_t *mult; const int8_t *shift; } mcd_channel_quant; /* shift: -30 .. 31 */

typedef struct {
    int32_t k_h, k_w, stride_h, stride_w, pad_t, pad_l;
    int32_t count_include_pad, zp;  /* avg-pool only */
} mcd_pool_params;

/* round(x / 2^e), ties away from zero, 0 <= e <= 31 */
static inline int32_t mcd_div_pot(int32_t x, int32_t e)
{
    const int32_t mask = (int32_t)(((int64_t)1 << e) - 1);
    const int32_t threshold = (mask >> 1) + (x < 0);
    return (x >> e) + ((x & mask) > threshold);
}

static inline int32_t mcd_requant_double(int32_t acc, int32_t mult, int32_t shift)
{
    int32_t h;
    if (shift < 0) { /* a multiplier >= 1/2: scale up first, wrapping as int32 */
        acc = (int32_t)((uint32_t)acc << -shift);
        shift = 0;
    }
    /* the doubling high multiply, round(acc * mult / 2^31) with ties toward +infinity: gemmlowp
     * adds a nudge of 2^30 (or 1 - 2^30 below zero) and divides truncating toward zero, which is
     * floor((acc * mult + 2^30) / 2^31) for either sign; the one overflow (both INT32_MIN) saturates */
    if (acc == INT32_MIN && mult == INT32_MIN) h = INT32_MAX;
    else h = (int32_t)(((int64_t)acc * mult + ((int64_t)1 << 30)) >> 31);
    return mcd_div_pot(h, shift);
}

static inline int32_t mcd_requant(int32_t acc, int32_t mult, int32_t shift)
{
#if MCD_ROUNDING_DOUBLE
    return mcd_requant_double(acc, mult, shift);
#else
    const int32_t total = 31 + shift;
    const int64_t r = ((int64_t)acc * mult + ((int64_t)1 << (total - 1))) >> total;
    return r > INT32_MAX ? INT32_MAX : (r < INT32_MIN ? INT32_MIN : (int32_t)r);
#endif
}

/* The element of a broadcast second input read for output element i (pixel px, channel ch) of the
 * elementwise kernels (add_bc, mul, minmax): b_mode 0 same shape, 1 one value a channel (N x C x 1 x 1,
 * squeeze-excite), 2 one value, 3 one value a pixel. */
static inline int32_t mcd_bcast_index(int32_t b_mode, int32_t i, int32_t ch, int32_t px)
{
    return b_mode == 0 ? i : (b_mode == 1 ? ch : (b_mode == 2 ? 0 : px));
}

static inline int8_t mcd_clamp8(int32_t v, int32_t lo, int32_t hi)
{
    return (int8_t)(v < lo ? lo : (v > hi ? hi : v));
}

#endif
