/*
 * kernels_neon.c — aarch64 kernels: NEON fp32, and Q8_0 int8 two ways:
 *   sdot (vdotq_s32, the dotprod extension: Cortex-A76 / Pi 5 and newer)
 *   widening multiplies (vmull_s8 + vpadalq_s16: Cortex-A72 / Pi 4)
 *
 * A sdot instruction is SIGILL on a Pi 4, so unless the whole file is built
 * for dotprod (-mcpu=cortex-a76: __ARM_FEATURE_DOTPROD), only the sdot
 * functions get the extension, through a target attribute, and kern_init
 * picks them once from the kernel's hwcaps.
 *
 * Decode is memory-bandwidth bound, so the matvecs keep the loads streaming:
 * four rows per pass share each load of x and give independent accumulator
 * chains (the A72's FMA latency is 7 cycles).
 */
#include <arm_neon.h>
#include <math.h>
#include <stdatomic.h>
#include <sys/auxv.h>

#include "kernels.h"

#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)  /* linux arch/arm64 uapi hwcap.h */
#endif

/* Functions that may use sdot. gcc's arm_neon.h declares vdotq_s32 for
 * armv8.2-a+dotprod and inlines it only into a superset, which is sound:
 * dotprod exists only on v8.2 and later cores. */
#if defined(__ARM_FEATURE_DOTPROD)
#define DOTPROD
#elif defined(__clang__)
#define DOTPROD __attribute__((target("dotprod")))
#else
#define DOTPROD __attribute__((target("arch=armv8.2-a+dotprod")))
#endif

#if defined(__ARM_FEATURE_DOTPROD)
void kern_init(void) {}  /* the build already requires dotprod */
static inline int sdot_on(void) { return 1; }
#else
/* Set once by kern_init; every call writes the same value, and the atomic
 * keeps a kern_init racing a matvec on another thread well defined. Before
 * kern_init the widening path runs, which is correct on every aarch64. */
static atomic_int use_sdot;

void kern_init(void) {
    int dp = (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
    atomic_store_explicit(&use_sdot, dp, memory_order_relaxed);
}
static inline int sdot_on(void) { return atomic_load_explicit(&use_sdot, memory_order_relaxed); }
#endif

const char *kern_name(void) { return sdot_on() ? "neon-dotprod" : "neon"; }

/* ---- fp32 ---------------------------------------------------------------- */

/* Rows [r, r + R): R is a constant at every call site, so the compiler
 * unrolls the k-loops and keeps the accumulators in registers. Two per row:
 * eight chains for R = 4. */
static inline __attribute__((always_inline))
void matvec_f32_rows(float *out, const float *x, const float *w, int n, int r, const int R) {
    float32x4_t a0[4], a1[4];
    for (int k = 0; k < R; k++) a0[k] = a1[k] = vdupq_n_f32(0.0f);
    int j = 0;
    for (; j + 8 <= n; j += 8) {
        float32x4_t x0 = vld1q_f32(x + j), x1 = vld1q_f32(x + j + 4);
        for (int k = 0; k < R; k++) {
            const float *row = w + (long)(r + k) * n + j;
            a0[k] = vfmaq_f32(a0[k], vld1q_f32(row), x0);
            a1[k] = vfmaq_f32(a1[k], vld1q_f32(row + 4), x1);
        }
    }
    if (j + 4 <= n) {
        float32x4_t x0 = vld1q_f32(x + j);
        for (int k = 0; k < R; k++) a0[k] = vfmaq_f32(a0[k], vld1q_f32(w + (long)(r + k) * n + j), x0);
        j += 4;
    }
    for (int k = 0; k < R; k++) {
        float sum = vaddvq_f32(vaddq_f32(a0[k], a1[k]));
        for (int t = j; t < n; t++) sum += w[(long)(r + k) * n + t] * x[t];
        out[r + k] = sum;
    }
}

void kern_matvec_f32(float *out, const float *x, const float *w, int n, int r0, int r1) {
    int r = r0;
    for (; r + 4 <= r1; r += 4) matvec_f32_rows(out, x, w, n, r, 4);
    for (; r < r1; r++) matvec_f32_rows(out, x, w, n, r, 1);
}

/* gemm: a tile of R rows x C inputs with matvec_f32_rows's arithmetic per
 * element (two chains, the same 4-wide step, the same final sum), so an
 * element never depends on the tile it falls in. 4 x 2 tiles: 16
 * accumulators, 4 input and 2 weight registers of the 32. */
static inline __attribute__((always_inline))
void gemm_f32_tile(float *out, int ldo, const float *x, int ldx, const float *w, int ldw, int n, int r, int t,
                   const int R, const int C) {
    float32x4_t a0[4][2], a1[4][2];
    for (int k = 0; k < R; k++)
        for (int c = 0; c < C; c++) a0[k][c] = a1[k][c] = vdupq_n_f32(0.0f);
    int j = 0;
    for (; j + 8 <= n; j += 8) {
        float32x4_t x0[2], x1[2];
        for (int c = 0; c < C; c++) {
            x0[c] = vld1q_f32(x + (long)(t + c) * ldx + j);
            x1[c] = vld1q_f32(x + (long)(t + c) * ldx + j + 4);
        }
        for (int k = 0; k < R; k++) {
            const float *row = w + (long)(r + k) * ldw + j;
            float32x4_t w0 = vld1q_f32(row), w1 = vld1q_f32(row + 4);
            for (int c = 0; c < C; c++) {
                a0[k][c] = vfmaq_f32(a0[k][c], w0, x0[c]);
                a1[k][c] = vfmaq_f32(a1[k][c], w1, x1[c]);
            }
        }
    }
    if (j + 4 <= n) {
        for (int k = 0; k < R; k++)
            for (int c = 0; c < C; c++)
                a0[k][c] = vfmaq_f32(a0[k][c], vld1q_f32(w + (long)(r + k) * ldw + j),
                                     vld1q_f32(x + (long)(t + c) * ldx + j));
        j += 4;
    }
    for (int k = 0; k < R; k++)
        for (int c = 0; c < C; c++) {
            const float *row = w + (long)(r + k) * ldw, *xt = x + (long)(t + c) * ldx;
            float sum = vaddvq_f32(vaddq_f32(a0[k][c], a1[k][c]));
            for (int i = j; i < n; i++) sum += row[i] * xt[i];
            out[(long)(t + c) * ldo + r + k] = sum;
        }
}

static inline __attribute__((always_inline))
void gemm_f32_rows(float *out, int ldo, const float *x, int ldx, int T, const float *w, int ldw, int n, int r,
                   const int R) {
    int t = 0;
    for (; t + 2 <= T; t += 2) gemm_f32_tile(out, ldo, x, ldx, w, ldw, n, r, t, R, 2);
    if (t < T) gemm_f32_tile(out, ldo, x, ldx, w, ldw, n, r, t, R, 1);
}

void kern_gemm_f32(float *out, int ldo, const float *x, int ldx, int T, const float *w, int ldw, int n,
                   int r0, int r1) {
    int r = r0;
    for (; r + 4 <= r1; r += 4) gemm_f32_rows(out, ldo, x, ldx, T, w, ldw, n, r, 4);
    for (; r < r1; r++) gemm_f32_rows(out, ldo, x, ldx, T, w, ldw, n, r, 1);
}

float kern_dot_f32(const float *a, const float *b, int n) {
    float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = vdupq_n_f32(0.0f);
    int j = 0;
    for (; j + 8 <= n; j += 8) {
        acc0 = vfmaq_f32(acc0, vld1q_f32(a + j), vld1q_f32(b + j));
        acc1 = vfmaq_f32(acc1, vld1q_f32(a + j + 4), vld1q_f32(b + j + 4));
    }
    if (j + 4 <= n) {
        acc0 = vfmaq_f32(acc0, vld1q_f32(a + j), vld1q_f32(b + j));
        j += 4;
    }
    float sum = vaddvq_f32(vaddq_f32(acc0, acc1));
    for (; j < n; j++) sum += a[j] * b[j];
    return sum;
}

/* 16 columns (4 FMA chains) kept in registers over all the rows, then 4,
 * then single columns: the output stays out of memory until the end. */
void kern_wsum_f32(float *y, const float *a, const float *v, int ldv, int rows, int n) {
    int j = 0;
    for (; j + 16 <= n; j += 16) {
        float32x4_t s0 = vdupq_n_f32(0.0f), s1 = s0, s2 = s0, s3 = s0;
        for (int t = 0; t < rows; t++) {
            const float *vt = v + (long)t * ldv + j;
            s0 = vfmaq_n_f32(s0, vld1q_f32(vt), a[t]);
            s1 = vfmaq_n_f32(s1, vld1q_f32(vt + 4), a[t]);
            s2 = vfmaq_n_f32(s2, vld1q_f32(vt + 8), a[t]);
            s3 = vfmaq_n_f32(s3, vld1q_f32(vt + 12), a[t]);
        }
        vst1q_f32(y + j, s0);
        vst1q_f32(y + j + 4, s1);
        vst1q_f32(y + j + 8, s2);
        vst1q_f32(y + j + 12, s3);
    }
    for (; j + 4 <= n; j += 4) {
        float32x4_t s = vdupq_n_f32(0.0f);
        for (int t = 0; t < rows; t++) s = vfmaq_n_f32(s, vld1q_f32(v + (long)t * ldv + j), a[t]);
        vst1q_f32(y + j, s);
    }
    for (; j < n; j++) {
        float sum = 0.0f;
        for (int t = 0; t < rows; t++) sum += a[t] * v[(long)t * ldv + j];
        y[j] = sum;
    }
}

/* libm's expf, as before: a vector exp is not measured on a Pi yet. */
void kern_swiglu_f32(float *a, const float *b, int n) { scalar_swiglu_f32(a, b, n); }
void kern_softmax_f32(float *x, int n, float s) { scalar_softmax_f32(x, n, s); }

/* e^x for 4 lanes: kernels_x86.c's exp_ps (Cephes expf, |error| < 2 ulp on
 * [-87, 88]), inputs clamped the same way. */
static inline float32x4_t exp_f32x4(float32x4_t x) {
    x = vminq_f32(vmaxq_f32(x, vdupq_n_f32(-87.3f)), vdupq_n_f32(88.3f));
    float32x4_t n = vrndnq_f32(vmulq_f32(x, vdupq_n_f32(1.44269504088896341f)));
    float32x4_t r = vfmsq_f32(x, n, vdupq_n_f32(0.693359375f));
    r = vfmsq_f32(r, n, vdupq_n_f32(-2.12194440e-4f));
    float32x4_t p = vdupq_n_f32(1.9875691500e-4f);
    p = vfmaq_f32(vdupq_n_f32(1.3981999507e-3f), p, r);
    p = vfmaq_f32(vdupq_n_f32(8.3334519073e-3f), p, r);
    p = vfmaq_f32(vdupq_n_f32(4.1665795894e-2f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.6666665459e-1f), p, r);
    p = vfmaq_f32(vdupq_n_f32(5.0000001201e-1f), p, r);
    p = vfmaq_f32(vaddq_f32(r, vdupq_n_f32(1.0f)), vmulq_f32(p, r), r);
    int32x4_t e = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23);
    return vmulq_f32(p, vreinterpretq_f32_s32(e));
}

/* The sampler's entropy sums (kernels_x86.c's blocks: at most 32 fp32 terms
 * a lane before the double sums): libm expf over 32,000 logits is a per-token
 * cost every format shares; not yet timed on a Pi, checked under qemu. */
#define ENTROPY_BLOCK 256
static inline void entropy_step(float32x4_t v, float32x4_t mb, float32x4_t *z, float32x4_t *s) {
    const float32x4_t floor = vdupq_n_f32(ENTROPY_FLOOR);
    float32x4_t d = vsubq_f32(v, mb);
    uint32x4_t keep = vcgeq_f32(d, floor);
    d = vmaxq_f32(d, floor); /* a -inf becomes finite, so 0 * d stays 0 */
    float32x4_t e = vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(exp_f32x4(d)), keep));
    *z = vaddq_f32(*z, e);
    *s = vfmaq_f32(*s, e, d);
}

void kern_entropy_sums(const float *x, int n, double *z, double *es) {
    float32x4_t mv = vdupq_n_f32(-INFINITY);
    uint32x4_t ok = vdupq_n_u32(~0u);
    int j = 0;
    for (; j + 4 <= n; j += 4) {
        float32x4_t v = vld1q_f32(x + j);
        mv = vmaxq_f32(mv, v);
        ok = vandq_u32(ok, vceqq_f32(v, v));
    }
    float m = vmaxvq_f32(mv);
    int has_nan = vminvq_u32(ok) == 0;
    for (; j < n; j++) {
        has_nan |= isnan(x[j]);
        if (x[j] > m) m = x[j];
    }
    if (has_nan) {
        *z = *es = NAN;
        return;
    }
    const float32x4_t mb = vdupq_n_f32(m);
    const int whole = n - n % 8;
    double zs = 0.0, ss = 0.0;
    for (j = 0; j < whole;) {
        const int end = whole - j > ENTROPY_BLOCK ? j + ENTROPY_BLOCK : whole;
        float32x4_t z0 = vdupq_n_f32(0.0f), z1 = z0, s0 = z0, s1 = z0;
        for (; j < end; j += 8) {
            entropy_step(vld1q_f32(x + j), mb, &z0, &s0);
            entropy_step(vld1q_f32(x + j + 4), mb, &z1, &s1);
        }
        zs += vaddvq_f32(vaddq_f32(z0, z1));
        ss += vaddvq_f32(vaddq_f32(s0, s1));
    }
    scalar_entropy_terms(x + j, n - j, m, &zs, &ss);
    *z = zs;
    *es = ss;
}

/* ---- Q8_0 ---------------------------------------------------------------- */
/*
 * Tiles of R rows x C inputs when gs is a multiple of 16: per group, 16 int8
 * products at a time go into exact int32 lanes (< 2^24, so exact in fp32
 * too); the group's lanes are then scaled into fp32 lanes, which are summed
 * once per element at the end. `DOT` picks how 16 products reach the int32
 * lanes: widening (8 products into int16 lanes, the other 8 added on top: two
 * products of [-127, 127] stay within int16; then pairwise into int32) or
 * sdot (each int32 lane takes the sum of 4 adjacent products directly). sdot
 * tiles are 4 x 3 (12 int32 + 12 fp32 accumulators), widening ones 4 x 2
 * (they need int16 temporaries too). Decode is the gemm of one input
 * (kern_matvec_q8), so prefill equals decode bit for bit.
 */
static inline __attribute__((always_inline))
int32x4_t q8_dot16(int32x4_t isum, int8x16_t xv, int8x16_t wv) {
    int16x8_t p = vmull_s8(vget_low_s8(xv), vget_low_s8(wv));
    p = vmlal_high_s8(p, xv, wv);
    return vpadalq_s16(isum, p);
}

#define GEMM_Q8_TILE(NAME, ATTR, DOT)                                                                          \
    ATTR static inline __attribute__((always_inline)) void NAME(                                             \
        float *out, int ldo, const int8_t *xq, const float *xs, const int8_t *wq, const float *ws, int n,     \
        int gs, int r, int t, const int R, const int C) {                                                     \
        int groups = n / gs;                                                                                   \
        float32x4_t acc[4][3];                                                                                 \
        for (int k = 0; k < R; k++)                                                                            \
            for (int c = 0; c < C; c++) acc[k][c] = vdupq_n_f32(0.0f);                                         \
        for (int g = 0; g < groups; g++) {                                                                     \
            int32x4_t isum[4][3];                                                                              \
            for (int k = 0; k < R; k++)                                                                        \
                for (int c = 0; c < C; c++) isum[k][c] = vdupq_n_s32(0);                                       \
            for (int j = g * gs; j < (g + 1) * gs; j += 16) {                                                  \
                int8x16_t xv[3];                                                                               \
                for (int c = 0; c < C; c++) xv[c] = vld1q_s8(xq + (long)(t + c) * n + j);                      \
                for (int k = 0; k < R; k++) {                                                                  \
                    int8x16_t wv = vld1q_s8(wq + (long)(r + k) * n + j);                                       \
                    for (int c = 0; c < C; c++) isum[k][c] = DOT(isum[k][c], xv[c], wv);                       \
                }                                                                                              \
            }                                                                                                  \
            for (int k = 0; k < R; k++)                                                                        \
                for (int c = 0; c < C; c++)                                                                    \
                    acc[k][c] = vfmaq_n_f32(acc[k][c], vcvtq_f32_s32(isum[k][c]),                              \
                                            xs[(long)(t + c) * groups + g] * ws[(long)(r + k) * groups + g]); \
        }                                                                                                      \
        for (int k = 0; k < R; k++)                                                                            \
            for (int c = 0; c < C; c++) out[(long)(t + c) * ldo + r + k] = vaddvq_f32(acc[k][c]);             \
    }

GEMM_Q8_TILE(gemm_q8_tile_widen, , q8_dot16)
GEMM_Q8_TILE(gemm_q8_tile_sdot, DOTPROD, vdotq_s32)

/* Rows [r0, r1) x inputs [0, T) in tiles of 4 (or 1) rows x C (or 1) inputs:
 * each call of TILE has constant R and C, so its loops unroll. The arguments
 * after TILE come before TILE's own (r, t, R, C). */
#define GEMM_TILES(C, TILE, ...)                                                                               \
    for (int r = r0; r < r1;) {                                                                                \
        int R = r + 4 <= r1 ? 4 : 1, t = 0;                                                                    \
        for (; t + C <= T; t += C) R == 4 ? TILE(__VA_ARGS__, r, t, 4, C) : TILE(__VA_ARGS__, r, t, 1, C);     \
        for (; t < T; t++) R == 4 ? TILE(__VA_ARGS__, r, t, 4, 1) : TILE(__VA_ARGS__, r, t, 1, 1);             \
        r += R;                                                                                                \
    }

static void gemm_q8_widen(float *out, int ldo, const int8_t *xq, const float *xs, int T, const int8_t *wq,
                          const float *ws, int n, int gs, int r0, int r1) {
    GEMM_TILES(2, gemm_q8_tile_widen, out, ldo, xq, xs, wq, ws, n, gs)
}

DOTPROD static void gemm_q8_sdot(float *out, int ldo, const int8_t *xq, const float *xs, int T, const int8_t *wq,
                                 const float *ws, int n, int gs, int r0, int r1) {
    GEMM_TILES(3, gemm_q8_tile_sdot, out, ldo, xq, xs, wq, ws, n, gs)
}

void kern_gemm_q8(float *out, int ldo, const int8_t *xq, const float *xs, int T, const int8_t *wq,
                  const float *ws, int n, int gs, int r0, int r1) {
    if (gs % 16 != 0)
        scalar_gemm_q8(out, ldo, xq, xs, T, wq, ws, n, gs, r0, r1);
    else if (sdot_on())
        gemm_q8_sdot(out, ldo, xq, xs, T, wq, ws, n, gs, r0, r1);
    else
        gemm_q8_widen(out, ldo, xq, xs, T, wq, ws, n, gs, r0, r1);
}

void kern_matvec_q8(float *out, const int8_t *xq, const float *xs,
                    const int8_t *wq, const float *ws, int n, int gs, int r0, int r1) {
    if (gs % 16 != 0)  /* odd group sizes are rare: correct, not fast */
        scalar_matvec_q8(out, xq, xs, wq, ws, n, gs, r0, r1);
    else
        kern_gemm_q8(out, 0, xq, xs, 1, wq, ws, n, gs, r0, r1);
}

/* ---- Q4_0 ---------------------------------------------------------------- */

/* R rows x C inputs; per group the two 16-value halves (low nibbles: values
 * 0-15, high nibbles: 16-31) go through the same int32 dot as Q8_0, then one
 * FMA per group into fp32 lanes. 4 x 2 tiles. */
#define GEMM_Q4_TILE(NAME, ATTR, DOT)                                                                          \
    ATTR static inline __attribute__((always_inline)) void NAME(                                             \
        float *out, int ldo, const int8_t *xq, const float *xs, const uint8_t *wq, const float *ws, int n,    \
        int r, int t, const int R, const int C) {                                                             \
        int groups = n / Q4_GROUP;                                                                             \
        float32x4_t acc[4][2];                                                                                 \
        for (int k = 0; k < R; k++)                                                                            \
            for (int c = 0; c < C; c++) acc[k][c] = vdupq_n_f32(0.0f);                                         \
        const uint8x16_t mask = vdupq_n_u8(0x0F);                                                              \
        const int8x16_t eight = vdupq_n_s8(8);                                                                 \
        for (int g = 0; g < groups; g++) {                                                                     \
            int8x16_t x0[2], x1[2];                                                                            \
            for (int c = 0; c < C; c++) {                                                                      \
                x0[c] = vld1q_s8(xq + (long)(t + c) * n + g * Q4_GROUP);                                       \
                x1[c] = vld1q_s8(xq + (long)(t + c) * n + g * Q4_GROUP + 16);                                  \
            }                                                                                                  \
            for (int k = 0; k < R; k++) {                                                                      \
                uint8x16_t b = vld1q_u8(wq + ((long)(r + k) * n + g * Q4_GROUP) / 2);                          \
                int8x16_t lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(b, mask)), eight);                        \
                int8x16_t hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(b, 4)), eight);                         \
                float wsc = ws[(long)(r + k) * groups + g];                                                    \
                for (int c = 0; c < C; c++) {                                                                  \
                    int32x4_t isum = DOT(DOT(vdupq_n_s32(0), x0[c], lo), x1[c], hi);                           \
                    acc[k][c] = vfmaq_n_f32(acc[k][c], vcvtq_f32_s32(isum), xs[(long)(t + c) * groups + g] * wsc); \
                }                                                                                              \
            }                                                                                                  \
        }                                                                                                      \
        for (int k = 0; k < R; k++)                                                                            \
            for (int c = 0; c < C; c++) out[(long)(t + c) * ldo + r + k] = vaddvq_f32(acc[k][c]);             \
    }

GEMM_Q4_TILE(gemm_q4_tile_widen, , q8_dot16)
GEMM_Q4_TILE(gemm_q4_tile_sdot, DOTPROD, vdotq_s32)

static void gemm_q4_widen(float *out, int ldo, const int8_t *xq, const float *xs, int T, const uint8_t *wq,
                          const float *ws, int n, int r0, int r1) {
    GEMM_TILES(2, gemm_q4_tile_widen, out, ldo, xq, xs, wq, ws, n)
}

DOTPROD static void gemm_q4_sdot(float *out, int ldo, const int8_t *xq, const float *xs, int T, const uint8_t *wq,
                                 const float *ws, int n, int r0, int r1) {
    GEMM_TILES(2, gemm_q4_tile_sdot, out, ldo, xq, xs, wq, ws, n)
}

void kern_gemm_q4(float *out, int ldo, const int8_t *xq, const float *xs, int T, const uint8_t *wq,
                  const float *ws, int n, int r0, int r1) {
    if (sdot_on()) gemm_q4_sdot(out, ldo, xq, xs, T, wq, ws, n, r0, r1);
    else gemm_q4_widen(out, ldo, xq, xs, T, wq, ws, n, r0, r1);
}

size_t kern_pack_q8(uint8_t *dst, const int8_t *wq, const float *ws, int rows, int n, int gs) { return 0; }  /* the file layout */
size_t kern_pack_q4(uint8_t *dst, const uint8_t *wq, const float *ws, int rows, int n) { return 0; }  /* the file layout */

/* Decode: four rows per pass give four independent accumulator chains. */
void kern_matvec_q4(float *out, const int8_t *xq, const float *xs, const uint8_t *wq, const float *ws, int n,
                    int r0, int r1) {
    kern_gemm_q4(out, 0, xq, xs, 1, wq, ws, n, r0, r1);
}

/* Bit-identical to scalar_quantize_q8: max is order-free (the "nm" forms skip
 * a NaN like fmaxf does), the division is the same IEEE operation, and
 * clamping to integers before vcvtaq (round half away from zero, as roundf)
 * gives what rounding before clamping gives. */
void kern_quantize_q8(int8_t *q, float *s, const float *x, int n, int gs) {
    if (gs % 8 != 0) {
        scalar_quantize_q8(q, s, x, n, gs);
        return;
    }
    for (int g = 0; g < n / gs; g++) {
        const float *xg = x + (long)g * gs;
        int8_t *qg = q + (long)g * gs;
        float32x4_t m = vdupq_n_f32(0.0f);
        for (int j = 0; j < gs; j += 4) m = vmaxnmq_f32(m, vabsq_f32(vld1q_f32(xg + j)));
        float scale = vmaxnmvq_f32(m) / 127.0f;
        s[g] = scale;
        if (!(scale > 0.0f)) {
            for (int j = 0; j < gs; j++) qg[j] = 0;
            continue;
        }
        float32x4_t sv = vdupq_n_f32(scale), lo = vdupq_n_f32(-127.0f), hi = vdupq_n_f32(127.0f);
        for (int j = 0; j < gs; j += 8) {
            float32x4_t v0 = vdivq_f32(vld1q_f32(xg + j), sv);
            float32x4_t v1 = vdivq_f32(vld1q_f32(xg + j + 4), sv);
            int32x4_t i0 = vcvtaq_s32_f32(vminnmq_f32(vmaxnmq_f32(v0, lo), hi));
            int32x4_t i1 = vcvtaq_s32_f32(vminnmq_f32(vmaxnmq_f32(v1, lo), hi));
            vst1_s8(qg + j, vmovn_s16(vcombine_s16(vmovn_s32(i0), vmovn_s32(i1))));
        }
    }
}
