/* Shared types and the one requantization rule of mcudeploy's int8 kernels.
 *
 * Rounding rule (the Python twin is mcudeploy/quantize.py, and tests check the two agree):
 *   total = 31 + shift                                  1 <= total <= 62
 *   y     = (acc * mult + 2^(total-1)) >> total         64-bit product, arithmetic shift
 *   y     = saturate to int32
 * One rounding, to nearest, ties toward +infinity: TFLite's single-rounding
 * MultiplyByQuantizedMultiplier. |acc * mult| < 2^62, so the 64-bit sum cannot overflow.
 * (Right shift of a negative int64 is arithmetic on every compiler we target: gcc, clang.)
 */
#ifndef MCD_COMMON_H
#define MCD_COMMON_H

#include <stdint.h>

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

static inline int32_t mcd_requant(int32_t acc, int32_t mult, int32_t shift)
{
    const int32_t total = 31 + shift;
    const int64_t r = ((int64_t)acc * mult + ((int64_t)1 << (total - 1))) >> total;
    return r > INT32_MAX ? INT32_MAX : (r < INT32_MIN ? INT32_MIN : (int32_t)r);
}

static inline int8_t mcd_clamp8(int32_t v, int32_t lo, int32_t hi)
{
    return (int8_t)(v < lo ? lo : (v > hi ? hi : v));
}

#endif
