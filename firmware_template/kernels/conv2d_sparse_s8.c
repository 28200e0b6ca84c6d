/* int8 convolution with sparse weights: only the non-zeros are stored and multiplied.
 *
 * Format (written by mcudeploy/codegen/kernels.py, encode_sparse): for output channel o its
 * non-zeros are entries ptr[o] .. ptr[o+1]-1 of two byte arrays, delta (uint8) and val (int8).
 * Walking a row, a pointer into the input window advances by delta[j] then multiplies val[j]:
 * offsets are (ky * Wp + kx) * C + c in the (padded) input, increasing, so a delta fits a byte;
 * a gap over 255 is bridged by filler entries (delta 255, val 0). One byte of index per
 * non-zero and no decoding beyond an add.
 * The zero point is folded at generation time: bias_adj[o] = bias[o] - in_zp * sum_k w[o][k],
 * so the loop multiplies raw int8 inputs. Padding must then read as in_zp: a padded layer first
 * copies its input into scratch with a zp border (mcd_conv2d_sparse_s8_scratch_bytes).
 *
 * All positions of a fused max-pool window (or two neighbouring outputs) share each non-zero's
 * decode: per non-zero, one delta and one value load feed up to four multiply-accumulates.
 */
#include "mcd_kernels.h"

int32_t mcd_conv2d_sparse_s8_scratch_bytes(const mcd_dims *in_d, int32_t pad_t, int32_t pad_l, int32_t pad_b,
                                           int32_t pad_r)
{
    if (!(pad_t | pad_l | pad_b | pad_r)) return 0;
    return (in_d->h + pad_t + pad_b) * (in_d->w + pad_l + pad_r) * in_d->c;
}

static void pad_copy(const mcd_dims *in_d, const int8_t *in, int32_t pt, int32_t pl, int32_t hp, int32_t wp, int32_t zp,
                     int8_t *dst)
{
    const int32_t c = in_d->c;
    int32_t y, i;
    for (i = 0; i < hp * wp * c; i++) dst[i] = (int8_t)zp;
    for (y = 0; y < in_d->h; y++) {
        const int8_t *s = in + y * in_d->w * c;
        int8_t *d = dst + ((y + pt) * wp + pl) * c;
        for (i = 0; i < in_d->w * c; i++) d[i] = s[i];
    }
}

static int32_t dot1(const int8_t *x, const uint8_t *d, const int8_t *v, int32_t n, int32_t acc)
{
    while (n--) {
        x += *d++;
        acc += *x * *v++;
    }
    return acc;
}

static void dot4(const int8_t *x, int32_t o1, int32_t o2, int32_t o3, const uint8_t *d, const int8_t *v, int32_t n,
                 int32_t *acc)
{
    int32_t s0 = acc[0], s1 = acc[1], s2 = acc[2], s3 = acc[3];
#if (defined(__ARM_ARCH_7EM__) || defined(__ARM_ARCH_7M__) || defined(__ARM_ARCH_8M_MAIN__)) && defined(__OPTIMIZE__)
    /* Hand-scheduled (Thumb-2): the four positions are two rows (x, x + o2) of two columns
     * (+0, +o1), so two row pointers, one column stride and two temporaries cover them; loads
     * are paired so they pipeline. o3 == o2 + o1 by construction. */
    if (n > 0) {
        const uint8_t *dend = d + n;
        const int8_t *xb = x + o2;
        int32_t w, t0, t1, dd;
        (void)o3;
        __asm__ volatile(
            "1:\n\t"
            "ldrb %[dd], [%[d]], #1\n\t"
            "ldrsb %[w], [%[v]], #1\n\t"
            "add %[x], %[x], %[dd]\n\t"
            "add %[xb], %[xb], %[dd]\n\t"
            "ldrsb %[t0], [%[x]]\n\t"
            "ldrsb %[t1], [%[x], %[o1]]\n\t"
            "mla %[s0], %[t0], %[w], %[s0]\n\t"
            "mla %[s1], %[t1], %[w], %[s1]\n\t"
            "ldrsb %[t0], [%[xb]]\n\t"
            "ldrsb %[t1], [%[xb], %[o1]]\n\t"
            "mla %[s2], %[t0], %[w], %[s2]\n\t"
            "mla %[s3], %[t1], %[w], %[s3]\n\t"
            "cmp %[d], %[dend]\n\t"
            "bne 1b\n\t"
            : [s0] "+r"(s0), [s1] "+r"(s1), [s2] "+r"(s2), [s3] "+r"(s3), [x] "+r"(x), [xb] "+r"(xb), [d] "+r"(d),
              [v] "+r"(v), [w] "=&r"(w), [t0] "=&r"(t0), [t1] "=&r"(t1), [dd] "=&r"(dd)
            : [o1] "r"(o1), [dend] "r"(dend)
            : "cc", "memory");
    }
#else
    while (n--) {
        int32_t w;
        x += *d++;
        w = *v++;
        s0 += x[0] * w;
        s1 += x[o1] * w;
        s2 += x[o2] * w;
        s3 += x[o3] * w;
    }
#endif
    acc[0] = s0;
    acc[1] = s1;
    acc[2] = s2;
    acc[3] = s3;
}

void mcd_conv2d_sparse_s8(const mcd_conv_params *p, const mcd_channel_quant *q, const mcd_dims *in_d,
                          const int8_t *in, int32_t pad_b, int32_t pad_r, const uint16_t *ptr, const uint8_t *delta,
                          const int8_t *val, const int32_t *bias_adj, const mcd_dims *out_d, int8_t *out,
                          void *scratch)
{
    const int32_t c = in_d->c, hp = in_d->h + p->pad_t + pad_b, wp = in_d->w + p->pad_l + pad_r;
    const int32_t sx = p->stride_w * c, sy = p->stride_h * wp * c;
    const int8_t *src = in;
    int32_t py, px, o;
    if (p->pad_t | p->pad_l | pad_b | pad_r) {
        pad_copy(in_d, in, p->pad_t, p->pad_l, hp, wp, p->in_zp, (int8_t *)scratch);
        src = (const int8_t *)scratch;
    }
    for (py = 0; py < out_d->h; py++) {
        for (px = 0; px < out_d->w; px++) {
            /* the window's first conv position, in the padded input */
            const int8_t *base = src + py * p->pool_sh * sy + px * p->pool_sw * sx;
            int8_t *dst = out + (py * out_d->w + px) * out_d->c;
            for (o = 0; o < out_d->c; o++) {
                const int32_t n = ptr[o + 1] - ptr[o];
                const uint8_t *d = delta + ptr[o];
                const int8_t *v = val + ptr[o];
                int32_t best;
                if (p->pool_h == 2 && p->pool_w == 2) {
                    int32_t acc[4];
                    acc[0] = acc[1] = acc[2] = acc[3] = bias_adj[o];
                    dot4(base, sx, sy, sy + sx, d, v, n, acc);
                    best = acc[0] > acc[1] ? acc[0] : acc[1];
                    if (acc[2] > best) best = acc[2];
                    if (acc[3] > best) best = acc[3];
                } else {
                    int32_t dy, dx;
                    best = INT32_MIN;
                    for (dy = 0; dy < p->pool_h; dy++) {
                        for (dx = 0; dx < p->pool_w; dx++) {
                            const int32_t acc = dot1(base + dy * sy + dx * sx, d, v, n, bias_adj[o]);
                            if (acc > best) best = acc;
                        }
                    }
                }
                dst[o] = mcd_clamp8(mcd_requant(best, q->mult[o], q->shift[o]) + p->out_zp, p->act_min, p->act_max);
            }
        }
    }
}
