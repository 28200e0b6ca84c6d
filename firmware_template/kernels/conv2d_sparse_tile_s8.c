/* int8 convolution (stride 1, optional fused 2x2/2 max-pool) with sparse weights, weight-stationary
 * over 2 x 4 output tiles: the format the generator picks for sparse convs of that shape. The
 * driver is static inline in mcd_conv2d_sparse_tile_s8.h (shape-specialised at its call site);
 * this file holds the inner loop, mcd_spt_tile_2x4 (hand-written Thumb-2 on DSP cores, portable C
 * elsewhere).
 *
 * Why: walking the non-zeros once per output pixel (conv2d_sparse_s8.c) pays an index decode and
 * byte loads for every multiply. Here each non-zero is decoded once per tile of 2 conv rows x 4
 * conv columns, and each 32-bit input load feeds two multiplies: ~2.2 estimated M4 cycles per
 * non-zero MAC instead of ~6.
 *
 * Input strip ("row pairs"): for conv rows oy0, oy0 + 1 (oy0 even) and a group of G tiles from
 * conv column ox0, scratch holds, with Wz = 4 G + k_w - 1,
 *     z[(c * k_h + ky) * Wz + j] = ( in[oy0 - pad_t + ky][ox0 - pad_l + j][c]          (low half)
 *                                    in[oy0 - pad_t + ky + 1][ox0 - pad_l + j][c] )     (high half)
 * as int16 halves; positions outside the image hold in_zp. A non-zero w at (c, ky, kx) then adds,
 * for the tile at z + 4 t and its column u = 0..3,
 *     row 0: lo(z[4 t + i + u]) * w      row 1: hi(z[4 t + i + u]) * w       i = (c * k_h + ky) * Wz + kx
 * so one word load and SMLABB/SMLATB give both rows.
 *
 * Weights (written by mcudeploy/codegen/kernels.py, encode_tile): per output channel o, records
 * rec[ptr[o] .. ptr[o+1]-1], each 32 bits holding two non-zeros as bytes (d0, w0, d1, w1): d is
 * the step of a byte pointer into z (4 * word step, so <= 252: longer gaps are bridged by fillers
 * with w = 0), w the int8 weight; a channel with an odd count ends with a (0, 0) pad. SXTB16 with
 * ROR #8 widens (w0, w1) into the two halves SMLAxB / SMLAxT read, UXTAB adds d0 (ROR #16: d1).
 * The zero point is folded at generation time: bias_adj[o] = bias[o] - in_zp * sum_k w[o][k], so
 * z holds raw int8 values (padding reads as in_zp). The bias is added after the pool's max
 * (max(a + b) = max(a) + b), then the usual requantization.
 */
#include "mcd_kernels.h"
#include "mcd_simd.h"

/* For n_out channels (records from ptr[0..n_out]): the 2 x 4 tile's accumulators (no bias). With
 * pool, stores max(row 0/1 of columns 0, 1) and max(columns 2, 3): 2 int32 a channel; else the 8
 * accumulators (row 0 columns 0..3, row 1 columns 0..3). */
#if MCD_HAVE_DSP && defined(__thumb2__) && defined(__OPTIMIZE__) /* mcd_simd.h: DSP, not MCD_NO_DSP */
/* One record (two non-zeros) applied to the 2 x 4 tile: all but its last four MACs, and those
 * four (split so the second copy in the loop can schedule the end-pointer reload between). */
#define MCD_SPT_RECORD_HEAD \
    "ldr r2, [r1], #4\n\t" \
    "sxtb16 r3, r2, ror #8\n\t" \
    "uxtab r0, r0, r2\n\t" \
    "ldr r12, [r0]\n\t" \
    "ldr lr, [r0, #4]\n\t" \
    "smlabb r4, r12, r3, r4\n\t" \
    "smlatb r8, r12, r3, r8\n\t" \
    "smlabb r5, lr, r3, r5\n\t" \
    "smlatb r9, lr, r3, r9\n\t" \
    "ldr r12, [r0, #8]\n\t" \
    "ldr lr, [r0, #12]\n\t" \
    "smlabb r6, r12, r3, r6\n\t" \
    "smlatb r10, r12, r3, r10\n\t" \
    "smlabb r7, lr, r3, r7\n\t" \
    "smlatb r11, lr, r3, r11\n\t" \
    "uxtab r0, r0, r2, ror #16\n\t" \
    "ldr r12, [r0]\n\t" \
    "ldr lr, [r0, #4]\n\t" \
    "smlabt r4, r12, r3, r4\n\t" \
    "smlatt r8, r12, r3, r8\n\t" \
    "smlabt r5, lr, r3, r5\n\t" \
    "smlatt r9, lr, r3, r9\n\t" \
    "ldr r12, [r0, #8]\n\t" \
    "ldr lr, [r0, #12]\n\t"
#define MCD_SPT_RECORD_TAIL \
    "smlabt r6, r12, r3, r6\n\t" \
    "smlatt r10, r12, r3, r10\n\t" \
    "smlabt r7, lr, r3, r7\n\t" \
    "smlatt r11, lr, r3, r11\n\t"

__attribute__((naked, noinline)) void mcd_spt_tile_2x4(const uint32_t *z, const uint32_t *rec, const uint16_t *ptr,
                                                      int32_t n_out, int32_t *acc, int32_t pool)
{
    /* r4-r7: row 0 columns 0..3, r8-r11: row 1; r0 = z walker, r1 = records, r2 = record,
     * r3 = the two weights, r12/lr = input words. Locals: [sp] z, rec, ptr, n, acc, pool, end.
     * Two records a pass (entered at the second for an odd count), so the loop test is paid
     * once per four non-zeros. */
    __asm__ volatile(
        ".syntax unified\n\t"
        "push {r4-r11, lr}\n\t"
        "sub sp, sp, #32\n\t"
        "str r0, [sp, #0]\n\t"
        "str r1, [sp, #4]\n\t"
        "str r2, [sp, #8]\n\t"
        "str r3, [sp, #12]\n\t"
        "ldr r4, [sp, #68]\n\t"
        "str r4, [sp, #16]\n\t"
        "ldr r4, [sp, #72]\n\t"
        "str r4, [sp, #20]\n\t"
        "cmp r3, #0\n\t"
        "ble 9f\n"
        "1:\n\t"
        "ldr r2, [sp, #8]\n\t"
        "ldrh r3, [r2], #2\n\t"
        "ldrh r12, [r2]\n\t"
        "str r2, [sp, #8]\n\t"
        "ldr r1, [sp, #4]\n\t"
        "add r12, r1, r12, lsl #2\n\t"
        "add r1, r1, r3, lsl #2\n\t"
        "str r12, [sp, #24]\n\t"
        "ldr r0, [sp, #0]\n\t"
        "movs r4, #0\n\t"
        "movs r5, #0\n\t"
        "movs r6, #0\n\t"
        "movs r7, #0\n\t"
        "mov r8, #0\n\t"
        "mov r9, #0\n\t"
        "mov r10, #0\n\t"
        "mov r11, #0\n\t"
        "subs r3, r12, r1\n\t"
        "beq 5f\n\t"
        "tst r3, #4\n\t"
        "bne 3f\n"
        "2:\n\t"
        MCD_SPT_RECORD_HEAD MCD_SPT_RECORD_TAIL
        "3:\n\t"
        MCD_SPT_RECORD_HEAD
        "ldr r2, [sp, #24]\n\t"
        MCD_SPT_RECORD_TAIL
        "cmp r1, r2\n\t"
        "bne 2b\n"
        "5:\n\t"
        "ldr r2, [sp, #16]\n\t"
        "ldr r3, [sp, #20]\n\t"
        "cbz r3, 6f\n\t"
        "cmp r4, r5\n\t"
        "it lt\n\t"
        "movlt r4, r5\n\t"
        "cmp r8, r9\n\t"
        "it lt\n\t"
        "movlt r8, r9\n\t"
        "cmp r4, r8\n\t"
        "it lt\n\t"
        "movlt r4, r8\n\t"
        "cmp r6, r7\n\t"
        "it lt\n\t"
        "movlt r6, r7\n\t"
        "cmp r10, r11\n\t"
        "it lt\n\t"
        "movlt r10, r11\n\t"
        "cmp r6, r10\n\t"
        "it lt\n\t"
        "movlt r6, r10\n\t"
        "stmia r2!, {r4, r6}\n\t"
        "b 7f\n"
        "6:\n\t"
        "stmia r2!, {r4-r11}\n"
        "7:\n\t"
        "str r2, [sp, #16]\n\t"
        "ldr r3, [sp, #12]\n\t"
        "subs r3, r3, #1\n\t"
        "str r3, [sp, #12]\n\t"
        "bne 1b\n"
        "9:\n\t"
        "add sp, sp, #32\n\t"
        "pop {r4-r11, pc}\n\t");
}
#else
void mcd_spt_tile_2x4(const uint32_t *z, const uint32_t *rec, const uint16_t *ptr, int32_t n_out, int32_t *acc,
                      int32_t pool)
{
    int32_t o, t;
    for (o = 0; o < n_out; o++) {
        const uint32_t *r = rec + ptr[o], *end = rec + ptr[o + 1];
        const uint8_t *zp = (const uint8_t *)z;
        int32_t a[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        for (; r < end; r++) {
            const uint32_t v = *r;
            int32_t half;
            for (half = 0; half < 2; half++) {
                const int32_t d = (int32_t)((v >> (16 * half)) & 0xFFu);
                const int32_t w = (int8_t)(uint8_t)(v >> (16 * half + 8));
                zp += d;
                for (t = 0; t < 4; t++) {
                    const uint32_t x = mcd_ld32(zp + 4 * t);
                    a[t] += (int16_t)(x & 0xFFFFu) * w;
                    a[4 + t] += (int16_t)(x >> 16) * w;
                }
            }
        }
        if (pool) {
            int32_t m0 = a[0] > a[1] ? a[0] : a[1], m1 = a[4] > a[5] ? a[4] : a[5];
            int32_t n0 = a[2] > a[3] ? a[2] : a[3], n1 = a[6] > a[7] ? a[6] : a[7];
            *acc++ = m0 > m1 ? m0 : m1;
            *acc++ = n0 > n1 ? n0 : n1;
        } else {
            for (t = 0; t < 8; t++) *acc++ = a[t];
        }
    }
}
#endif

