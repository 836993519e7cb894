/*
 * test_kernels.c — every kern_* against scalar_* (and fp32 against a double
 * reference) on random data: many widths, group sizes, partial row ranges.
 *
 *   cc -std=c11 -D_GNU_SOURCE -O1 -g -fsanitize=address,undefined -I csrc \
 *      csrc/tests/test_kernels.c csrc/kernels_scalar.c csrc/kernels_x86.c -lm
 *
 * Tolerances are relative to the sum of the absolute terms (a dot product's
 * natural error scale, which stays meaningful when the terms cancel):
 * fp32 1e-5 against double; Q8_0 1e-4 against scalar_matvec_q8 (the int32
 * group sums are exact, only the fp32 scaling order differs). Quantization
 * must be bit-identical to scalar.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "kernels.h"

static void check(int ok, const char *what, int n, int gs, int r0, int r1) {
    CHECK(ok, "%s n=%d gs=%d rows=[%d,%d)", what, n, gs, r0, r1);
}

/* kern_<op> and scalar_<op>, each tested against the same reference. */
static void check_both(int ok_kern, int ok_scalar, const char *op, int n, int gs, int r0, int r1) {
    CHECK(ok_kern, "kern_%s n=%d gs=%d rows=[%d,%d)", op, n, gs, r0, r1);
    CHECK(ok_scalar, "scalar_%s n=%d gs=%d rows=[%d,%d)", op, n, gs, r0, r1);
}

/* The fp32 reference: a . b in double, and the sum of its terms' magnitudes
 * (the scale the tolerances are relative to). */
static double exact_dot(const float *a, const float *b, int n, double *mag) {
    double exact = 0;
    *mag = 0;
    for (int j = 0; j < n; j++) {
        double p = (double)a[j] * b[j];
        exact += p;
        *mag += fabs(p);
    }
    return exact;
}

/* xorshift32: deterministic, so a failure reproduces */
static uint32_t rng_state = 0x2545f491u;
static uint32_t rng(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}
static float frand(void) { return (float)((rng() >> 8) / 16777216.0 * 2.0 - 1.0); }  /* [-1, 1) */

static float *rand_floats(long n) {
    float *v = malloc(n * sizeof(float));
    for (long i = 0; i < n; i++) v[i] = frand();
    return v;
}

/* out[] starts as NaN: rows outside [r0, r1) must stay untouched */
static float *nan_floats(int n) {
    float *v = malloc(n * sizeof(float));
    for (int i = 0; i < n; i++) v[i] = NAN;
    return v;
}

static int outside_untouched(const float *out, int rows, int r0, int r1) {
    for (int r = 0; r < rows; r++)
        if ((r < r0 || r >= r1) && !isnan(out[r])) return 0;
    return 1;
}

/* n values quantized to Q8_0 in groups of gs: q[n], and s[n / gs] scales. */
typedef struct {
    int8_t *q;
    float *s;
} q8;
static q8 q8_alloc(int n, int gs) { return (q8){malloc(n), malloc(n / gs * sizeof(float))}; }
static q8 q8_of(const float *x, int n, int gs) {
    q8 v = q8_alloc(n, gs);
    scalar_quantize_q8(v.q, v.s, x, n, gs);
    return v;
}
static void q8_free(q8 v) {
    free(v.q);
    free(v.s);
}

/* Row ranges that are not the whole matrix, with odd counts and odd starts. */
#define ROWS 23
static const int ranges[][2] = {{0, ROWS}, {0, 1}, {1, 8}, {3, 16}, {5, 6}, {7, 22}, {18, 23}};
#define NRANGES (int)(sizeof(ranges) / sizeof(ranges[0]))

static void test_matvec_f32(int n) {
    float *x = rand_floats(n), *w = rand_floats((long)ROWS * n);
    for (int t = 0; t < NRANGES; t++) {
        int r0 = ranges[t][0], r1 = ranges[t][1];
        float *got = nan_floats(ROWS), *ref = nan_floats(ROWS);
        kern_matvec_f32(got, x, w, n, r0, r1);
        scalar_matvec_f32(ref, x, w, n, r0, r1);
        int ok_k = outside_untouched(got, ROWS, r0, r1), ok_s = outside_untouched(ref, ROWS, r0, r1);
        for (int r = r0; r < r1; r++) {
            double mag, exact = exact_dot(w + (long)r * n, x, n, &mag);
            ok_k &= fabs(got[r] - exact) <= 1e-5 * mag;
            ok_s &= fabs(ref[r] - exact) <= 1e-5 * mag;
        }
        check_both(ok_k, ok_s, "matvec_f32", n, 0, r0, r1);
        free(got);
        free(ref);
    }
    free(x);
    free(w);
}

/* gemm over T inputs with padded strides: fp32 against double, and every
 * element bit-identical whatever tile it lands in (one input at a time, or a
 * sub-range of rows, gives the same bits). */
#define LD_PAD 5
static void test_gemm_f32(int n, int T) {
    int ldw = n + LD_PAD, ldx = n + 3, ldo = ROWS + 2;
    float *x = rand_floats((long)T * ldx), *w = rand_floats((long)ROWS * ldw);
    for (int t = 0; t < NRANGES; t++) {
        int r0 = ranges[t][0], r1 = ranges[t][1];
        float *got = nan_floats(T * ldo), *one = nan_floats(T * ldo), *ref = nan_floats(T * ldo);
        kern_gemm_f32(got, ldo, x, ldx, T, w, ldw, n, r0, r1);
        scalar_gemm_f32(ref, ldo, x, ldx, T, w, ldw, n, r0, r1);
        for (int i = 0; i < T; i++) kern_gemm_f32(one + (long)i * ldo, ldo, x + (long)i * ldx, ldx, 1, w, ldw, n, r0, r1);
        int ok_k = 1, ok_s = 1, same = memcmp(got, one, (size_t)T * ldo * sizeof(float)) == 0;
        for (int i = 0; i < T; i++) {
            ok_k &= outside_untouched(got + (long)i * ldo, ROWS, r0, r1);
            ok_s &= outside_untouched(ref + (long)i * ldo, ROWS, r0, r1);
            for (int r = r0; r < r1; r++) {
                double mag, exact = exact_dot(w + (long)r * ldw, x + (long)i * ldx, n, &mag);
                ok_k &= fabs(got[(long)i * ldo + r] - exact) <= 1e-5 * mag;
                ok_s &= fabs(ref[(long)i * ldo + r] - exact) <= 1e-5 * mag;
            }
        }
        check_both(ok_k, ok_s, "gemm_f32", n, T, r0, r1);
        check(same, "kern_gemm_f32 is the same in any tile", n, T, r0, r1);
        free(got);
        free(one);
        free(ref);
    }
    free(x);
    free(w);
}

/* The Q8_0 weights as kern_*_q8 read them (kernels.h): the file layout, or a
 * packed copy (free it with free_q8_kernel) whose scales are inside. */
static const int8_t *q8_for_kernel(const int8_t *wq, const float *ws, int rows, int n, int gs, const float **ks) {
    size_t bytes = kern_pack_q8(NULL, wq, ws, rows, n, gs);
    *ks = ws;
    if (bytes == 0) return wq;
    uint8_t *p = aligned_alloc(64, (bytes + 63) / 64 * 64);
    kern_pack_q8(p, wq, ws, rows, n, gs);
    *ks = NULL;
    return (const int8_t *)p;
}
static void free_q8_kernel(const int8_t *kw, const int8_t *wq) {
    if (kw != wq) free((void *)kw);
}

/* Q8_0 gemm == kern_matvec_q8 on each input, bit for bit, and the kernels'
 * own layout gives the file layout's bits (the core packs at load). */
static void test_gemm_q8(int n, int gs, int T) {
    int groups = n / gs, ldo = ROWS + 1;
    float *x = rand_floats((long)T * n), *w = rand_floats((long)ROWS * n);
    q8 xv = q8_of(x, T * n, gs), wv = q8_of(w, ROWS * n, gs);
    const int8_t *xq = xv.q, *wq = wv.q;
    const float *xs = xv.s, *ws = wv.s, *ks;
    const int8_t *kq = q8_for_kernel(wq, ws, ROWS, n, gs, &ks);
    for (int t = 0; t < NRANGES; t++) {
        int r0 = ranges[t][0], r1 = ranges[t][1];
        float *got = nan_floats(T * ldo), *want = nan_floats(T * ldo), *file = nan_floats(T * ldo);
        kern_gemm_q8(got, ldo, xq, xs, T, kq, ks, n, gs, r0, r1);
        for (int i = 0; i < T; i++) {
            kern_matvec_q8(want + (long)i * ldo, xq + (long)i * n, xs + (long)i * groups, kq, ks, n, gs, r0, r1);
            kern_matvec_q8(file + (long)i * ldo, xq + (long)i * n, xs + (long)i * groups, wq, ws, n, gs, r0, r1);
        }
        check(memcmp(got, want, (size_t)T * ldo * sizeof(float)) == 0, "kern_gemm_q8 == kern_matvec_q8", n, gs, r0,
              r1);
        check(memcmp(want, file, (size_t)T * ldo * sizeof(float)) == 0, "kern_matvec_q8 packed == file layout", n,
              gs, r0, r1);
        free(got);
        free(want);
        free(file);
    }
    free_q8_kernel(kq, wq);
    free(x);
    free(w);
    q8_free(xv);
    q8_free(wv);
}

/* The Q4_0 weights as kern_*_q4 read them (kernels.h): the file layout, or a
 * packed copy (free it with free_q4_kernel) whose scales are inside. */
static const uint8_t *q4_for_kernel(const uint8_t *wq, const float *ws, int rows, int n, const float **ks) {
    size_t bytes = kern_pack_q4(NULL, wq, ws, rows, n);
    *ks = ws;
    if (bytes == 0) return wq;
    uint8_t *p = aligned_alloc(64, (bytes + 63) / 64 * 64);
    kern_pack_q4(p, wq, ws, rows, n);
    *ks = NULL;
    return p;
}
static void free_q4_kernel(const uint8_t *kw, const uint8_t *wq) {
    if (kw != wq) free((void *)kw);
}

/* Q4_0: the quantizer within half a step, the gemm against the scalar one
 * (1e-4 of the magnitude: only the fp32 scaling order differs), the matvec
 * bit-identical to the gemm of each input, and the extremes exact. */
static void test_q4(int n, int T) {
    int groups = n / Q4_GROUP, ldo = ROWS + 3;
    float *x = rand_floats((long)T * n), *w = rand_floats((long)ROWS * n);
    for (int j = 0; j < Q4_GROUP; j++) w[j] = 0.0f; /* an all-zero group */
    q8 xv = q8_of(x, T * n, Q4_GROUP);
    int8_t *xq = xv.q;
    float *xs = xv.s;
    uint8_t *wq = malloc((long)ROWS * n / 2);
    float *ws = malloc((long)ROWS * groups * sizeof(float));
    scalar_quantize_q4(wq, ws, w, ROWS * n);
    int ok = ws[0] == 0.0f;
    for (long i = 0; i < (long)ROWS * n; i++) {
        int b = wq[(i / Q4_GROUP) * 16 + i % 16], v = (i % Q4_GROUP < 16 ? b & 15 : b >> 4) - 8;
        float scale = ws[i / Q4_GROUP];
        ok &= v >= -7 && v <= 7 && fabsf(v * scale - w[i]) <= 0.5f * scale * 1.0001f;
    }
    check(ok, "scalar_quantize_q4 accuracy", n, Q4_GROUP, 0, ROWS);
    const float *ks;
    const uint8_t *kw = q4_for_kernel(wq, ws, ROWS, n, &ks);
    for (int t = 0; t < NRANGES; t++) {
        int r0 = ranges[t][0], r1 = ranges[t][1];
        float *got = nan_floats(T * ldo), *one = nan_floats(T * ldo), *ref = nan_floats(T * ldo);
        kern_gemm_q4(got, ldo, xq, xs, T, kw, ks, n, r0, r1);
        scalar_gemm_q4(ref, ldo, xq, xs, T, wq, ws, n, r0, r1);
        for (int i = 0; i < T; i++)
            kern_matvec_q4(one + (long)i * ldo, xq + (long)i * n, xs + (long)i * groups, kw, ks, n, r0, r1);
        int ok_k = memcmp(got, one, (size_t)T * ldo * sizeof(float)) == 0;
        for (int i = 0; i < T; i++) {
            ok_k &= outside_untouched(got + (long)i * ldo, ROWS, r0, r1);
            for (int r = r0; r < r1; r++) {
                double mag;
                exact_dot(x + (long)i * n, w + (long)r * n, n, &mag);
                ok_k &= fabs(got[(long)i * ldo + r] - ref[(long)i * ldo + r]) <= 1e-4 * mag + 1e-6;
            }
        }
        check(ok_k, "kern_gemm_q4 / kern_matvec_q4", n, T, r0, r1);
        free(got);
        free(one);
        free(ref);
    }
    /* extremes: x = +-127 against the nibble extremes -8 and 7, exact */
    for (long i = 0; i < (long)T * n; i++) xq[i] = (i & 1) ? -127 : 127;
    for (long i = 0; i < (long)ROWS * n / 2; i++) wq[i] = (i & 1) ? 0xF0 : 0x0F; /* 7/-8 and -8/7 */
    for (long i = 0; i < (long)T * groups; i++) xs[i] = 1.0f;
    for (long i = 0; i < (long)ROWS * groups; i++) ws[i] = 1.0f;
    free_q4_kernel(kw, wq);
    kw = q4_for_kernel(wq, ws, ROWS, n, &ks);
    float *got = nan_floats(T * ldo), *ref = nan_floats(T * ldo);
    kern_gemm_q4(got, ldo, xq, xs, T, kw, ks, n, 0, ROWS);
    scalar_gemm_q4(ref, ldo, xq, xs, T, wq, ws, n, 0, ROWS);
    check(memcmp(got, ref, (size_t)T * ldo * sizeof(float)) == 0, "kern_gemm_q4 extremes", n, T, 0, ROWS);
    free(got);
    free(ref);
    free(x);
    free(w);
    q8_free(xv);
    free_q4_kernel(kw, wq);
    free(wq);
    free(ws);
}

static void test_dot_wsum(int n) {
    float *a = rand_floats(n), *b = rand_floats(n);
    double mag, exact = exact_dot(a, b, n, &mag);
    check_both(fabs(kern_dot_f32(a, b, n) - exact) <= 1e-5 * mag, fabs(scalar_dot_f32(a, b, n) - exact) <= 1e-5 * mag,
               "dot_f32", n, 0, 0, 1);
    free(a);
    free(b);

    /* y = weights x rows of a strided matrix, against the exact sum */
    static const int row_counts[] = {1, 5, 37};
    for (int k = 0; k < 3; k++) {
        int rows = row_counts[k], ldv = n + 3;
        float *w = rand_floats(rows), *v = rand_floats((long)rows * ldv);
        float *y = nan_floats(n), *ys = nan_floats(n);
        kern_wsum_f32(y, w, v, ldv, rows, n);
        scalar_wsum_f32(ys, w, v, ldv, rows, n);
        int ok_k = 1, ok_s = 1;
        for (int j = 0; j < n; j++) {
            double e = 0, m = 0;
            for (int t = 0; t < rows; t++) {
                e += (double)w[t] * v[(long)t * ldv + j];
                m += fabs((double)w[t] * v[(long)t * ldv + j]);
            }
            ok_k &= fabs(y[j] - e) <= 1e-6 * m;
            ok_s &= fabs(ys[j] - e) <= 1e-6 * m;
        }
        check_both(ok_k, ok_s, "wsum_f32", n, 0, 0, rows);
        free(w);
        free(v);
        free(y);
        free(ys);
    }
}

/* silu(a) * b against the exact value in double: gates over [-30, 30) and
 * the ends of the range (where e^-a leaves fp32), within 1e-6 relative. */
static void test_swiglu(int n) {
    float *a = rand_floats(n), *b = rand_floats(n), *ak = malloc(n * sizeof(float)), *as = malloc(n * sizeof(float));
    static const float ends[] = {-200.0f, -88.7f, -87.0f, 0.0f, 87.0f, 88.7f, 200.0f};
    for (int j = 0; j < n; j++) a[j] = j < 7 ? ends[j] : a[j] * 30.0f;
    memcpy(ak, a, n * sizeof(float));
    memcpy(as, a, n * sizeof(float));
    kern_swiglu_f32(ak, b, n);
    scalar_swiglu_f32(as, b, n);
    int ok_k = 1, ok_s = 1;
    for (int j = 0; j < n; j++) {
        double e = a[j] / (1.0 + exp(-(double)a[j])) * b[j], tol = 1e-6 * fabs(e) + 1e-30;
        ok_k &= fabs(ak[j] - e) <= tol;
        ok_s &= fabs(as[j] - e) <= tol;
    }
    check_both(ok_k, ok_s, "swiglu_f32", n, 0, 0, 1);
    free(a);
    free(b);
    free(ak);
    free(as);
}

/* softmax(s x) against the exact value in double, within 1e-6 of the
 * largest weight: scores over [-40, 40) scaled by 1/sqrt(48), a score far
 * below the rest (its weight underflows), and a NaN, which makes every
 * weight NaN. */
static void test_softmax(int n) {
    float *x = rand_floats(n), *xk = malloc(n * sizeof(float)), *xs = malloc(n * sizeof(float));
    const float s = 1.0f / sqrtf(48.0f);
    for (int j = 0; j < n; j++) x[j] = j == n / 2 && n > 1 ? -1e4f : x[j] * 40.0f;
    memcpy(xk, x, n * sizeof(float));
    memcpy(xs, x, n * sizeof(float));
    kern_softmax_f32(xk, n, s);
    scalar_softmax_f32(xs, n, s);
    double max = -INFINITY, sum = 0;
    for (int j = 0; j < n; j++) max = fmax(max, (double)x[j] * s);
    for (int j = 0; j < n; j++) sum += exp((double)x[j] * s - max);
    int ok_k = 1, ok_s = 1;
    for (int j = 0; j < n; j++) {
        double e = exp((double)x[j] * s - max) / sum;
        ok_k &= fabs(xk[j] - e) <= 1e-6;
        ok_s &= fabs(xs[j] - e) <= 1e-6;
    }
    memcpy(xk, x, n * sizeof(float));
    xk[n - 1] = NAN;
    kern_softmax_f32(xk, n, s);
    for (int j = 0; j < n; j++) ok_k &= isnan(xk[j]);
    check_both(ok_k, ok_s, "softmax_f32", n, 0, 0, 1);
    free(x);
    free(xk);
    free(xs);
}

/* The entropy sums against double: logits over [-30, 30), one far below the
 * rest (its term drops) and a -inf; z within 1e-6 relative, es within 1e-6 of
 * z's scale times the widest d that counts. A NaN makes both sums NaN. */
static void test_entropy_sums(int n) {
    float *x = rand_floats(n);
    for (int j = 0; j < n; j++) x[j] *= 30.0f;
    if (n > 2) x[n / 2] = -1e4f;
    if (n > 3) x[1] = -INFINITY;
    float m = x[0];
    for (int j = 1; j < n; j++) m = fmaxf(m, x[j]);
    double z = 0, es = 0;
    for (int j = 0; j < n; j++) {
        double d = (double)x[j] - m;
        if (d < ENTROPY_FLOOR) continue;
        z += exp(d);
        es += exp(d) * d;
    }
    double zk, ek, zs, esc;
    kern_entropy_sums(x, n, &zk, &ek);
    scalar_entropy_sums(x, n, &zs, &esc);
    int ok_k = fabs(zk - z) <= 1e-6 * z && fabs(ek - es) <= 1e-6 * z * 90.0;
    int ok_s = fabs(zs - z) <= 1e-6 * z && fabs(esc - es) <= 1e-6 * z * 90.0;
    x[n - 1] = NAN;
    kern_entropy_sums(x, n, &zk, &ek);
    ok_k &= isnan(zk) && isnan(ek);
    check_both(ok_k, ok_s, "entropy_sums", n, 0, 0, 1);
    free(x);
}

/* kern_quantize_q8 == scalar_quantize_q8 bit for bit, and the scalar one
 * reconstructs every value within half a step. */
static void check_quantize(const float *x, int n, int gs, const char *what) {
    q8 k = q8_alloc(n, gs), s = q8_of(x, n, gs);
    kern_quantize_q8(k.q, k.s, x, n, gs);
    check(memcmp(k.q, s.q, n) == 0 && memcmp(k.s, s.s, n / gs * sizeof(float)) == 0, what, n, gs, 0, 1);
    int ok = 1;
    for (int j = 0; j < n; j++) {
        float scale = s.s[j / gs];
        ok &= s.q[j] != -128;
        ok &= fabsf(s.q[j] * scale - x[j]) <= 0.5f * scale * 1.0001f;
    }
    check(ok, "scalar_quantize_q8 accuracy", n, gs, 0, 1);
    q8_free(k);
    q8_free(s);
}

static void test_q8(int n, int gs) {
    int groups = n / gs;
    float *x = rand_floats(n), *w = rand_floats((long)ROWS * n);
    for (int j = 0; j < gs; j++) x[j] = 0.0f;  /* an all-zero group: scale 0, q 0 */
    check_quantize(x, n, gs, "kern_quantize_q8");

    q8 xv = q8_of(x, n, gs), wv = q8_of(w, ROWS * n, gs);
    const int8_t *xq = xv.q, *wq = wv.q;
    const float *xs = xv.s, *ws = wv.s;
    check(xs[0] == 0.0f, "zero group has scale 0", n, gs, 0, 1);
    const float *ks;
    const int8_t *kq = q8_for_kernel(wq, ws, ROWS, n, gs, &ks);
    for (int t = 0; t < NRANGES; t++) {
        int r0 = ranges[t][0], r1 = ranges[t][1];
        float *got = nan_floats(ROWS), *ref = nan_floats(ROWS);
        kern_matvec_q8(got, xq, xs, kq, ks, n, gs, r0, r1);
        scalar_matvec_q8(ref, xq, xs, wq, ws, n, gs, r0, r1);
        int ok_k = outside_untouched(got, ROWS, r0, r1), ok_s = outside_untouched(ref, ROWS, r0, r1);
        for (int r = r0; r < r1; r++) {
            double exact = 0, mag = 0;
            for (int g = 0; g < groups; g++) {
                long isum = 0;
                for (int j = g * gs; j < (g + 1) * gs; j++) isum += xq[j] * wq[(long)r * n + j];
                double term = (double)isum * xs[g] * ws[(long)r * groups + g];
                exact += term;
                mag += fabs(term);
            }
            ok_k &= fabs(got[r] - ref[r]) <= 1e-4 * mag;
            ok_s &= fabs(ref[r] - exact) <= 1e-5 * mag;
        }
        check_both(ok_k, ok_s, "matvec_q8", n, gs, r0, r1);
        free(got);
        free(ref);
    }
    free_q8_kernel(kq, wq);
    free(x);
    free(w);
    q8_free(xv);
    q8_free(wv);
}

/* Extremes: every product is +-127 * 127, the largest the int16 pair sums
 * inside the int8 kernels must hold without saturating. */
static void test_q8_extremes(int n, int gs) {
    int groups = n / gs;
    q8 xv = q8_alloc(n, gs), wv = q8_alloc(ROWS * n, gs);
    int8_t *xq = xv.q, *wq = wv.q;
    float *xs = xv.s, *ws = wv.s;
    for (int j = 0; j < n; j++) xq[j] = (j & 1) ? -127 : 127;
    for (long i = 0; i < (long)ROWS * n; i++) {
        int r = (int)(i / n), j = (int)(i % n);
        /* row 0: products all +127*127; row 1: all -127*127; others mixed */
        wq[i] = r == 0 ? xq[j] : r == 1 ? -xq[j] : ((rng() & 1) ? 127 : -127);
    }
    for (int g = 0; g < groups; g++) xs[g] = 1.0f;
    for (long i = 0; i < (long)ROWS * groups; i++) ws[i] = 1.0f;
    float *got = nan_floats(ROWS), *ref = nan_floats(ROWS);
    const float *ks;
    const int8_t *kq = q8_for_kernel(wq, ws, ROWS, n, gs, &ks);
    kern_matvec_q8(got, xq, xs, kq, ks, n, gs, 0, ROWS);
    scalar_matvec_q8(ref, xq, xs, wq, ws, n, gs, 0, ROWS);
    free_q8_kernel(kq, wq);
    int ok = got[0] == 16129.0f * n && got[1] == -16129.0f * n;
    for (int r = 0; r < ROWS; r++) ok &= got[r] == ref[r];  /* small integers: exact */
    check(ok, "kern_matvec_q8 extremes", n, gs, 0, ROWS);
    q8_free(xv);
    q8_free(wv);
    free(got);
    free(ref);
}

/* Ties: with max|x| = 127 the scale is exactly 1, so x/scale == x and x.5
 * must round away from zero (roundf), not to even. */
static void test_quantize_ties(int gs) {
    float *x = malloc(2 * gs * sizeof(float));
    static const float ties[] = {0.5f, -0.5f, 1.5f, -1.5f, 2.5f, -2.5f, 126.5f, -126.5f,
                                 0.49999997f, -0.49999997f, 3.0f, -0.0f};
    x[0] = 127.0f;
    for (int j = 1; j < gs; j++) x[j] = ties[(j - 1) % 12];
    for (int j = gs; j < 2 * gs; j++) x[j] = -0.0f;  /* a group of (negative) zeros */
    check_quantize(x, 2 * gs, gs, "kern_quantize_q8 ties");
    int8_t q[128];
    float s[2];
    kern_quantize_q8(q, s, x, 2 * gs, gs);
    static const int8_t want[] = {1, -1, 2, -2, 3, -3, 127, -127, 0, 0, 3, 0};
    int ok = s[0] == 1.0f && q[0] == 127 && s[1] == 0.0f;
    for (int j = 1; j < gs; j++) ok &= q[j] == want[(j - 1) % 12];
    for (int j = gs; j < 2 * gs; j++) ok &= q[j] == 0;
    check(ok, "kern_quantize_q8 rounds half away", 2 * gs, gs, 0, 1);
    free(x);
}

int main(void) {
    kern_init();
    kern_init();  /* idempotent */
    printf("kern_name: %s\n", kern_name());

    static const int f32_sizes[] = {1, 3, 8, 13, 16, 32, 48, 64, 96, 100, 288, 768, 1000, 1001, 2048};
    for (size_t i = 0; i < sizeof(f32_sizes) / sizeof(f32_sizes[0]); i++) {
        test_matvec_f32(f32_sizes[i]);
        test_dot_wsum(f32_sizes[i]);
        test_swiglu(f32_sizes[i]);
        test_softmax(f32_sizes[i]);
        test_entropy_sums(f32_sizes[i]);
        for (int T = 1; T <= 7; T += 3) test_gemm_f32(f32_sizes[i], T);
    }

    static const int q8_sizes[] = {8, 16, 32, 48, 64, 96, 288, 768, 2048};
    static const int group_sizes[] = {8, 16, 32, 48, 64};
    for (size_t i = 0; i < sizeof(q8_sizes) / sizeof(q8_sizes[0]); i++)
        for (size_t k = 0; k < sizeof(group_sizes) / sizeof(group_sizes[0]); k++) {
            int n = q8_sizes[i], gs = group_sizes[k];
            if (n % gs != 0) continue;
            test_q8(n, gs);
            test_q8_extremes(n, gs);
            for (int T = 1; T <= 5; T += 2) test_gemm_q8(n, gs, T);
        }
    for (size_t k = 0; k < sizeof(group_sizes) / sizeof(group_sizes[0]); k++) test_quantize_ties(group_sizes[k]);
    static const int q4_sizes[] = {32, 64, 96, 288, 768, 2048};
    for (size_t i = 0; i < sizeof(q4_sizes) / sizeof(q4_sizes[0]); i++)
        for (int T = 1; T <= 5; T += 2) test_q4(q4_sizes[i], T);

    /* odd group sizes take the fallback paths */
    test_q8(36, 12);
    test_q8(15, 5);
    test_gemm_q8(36, 12, 3);
    test_quantize_ties(4);

    return check_summary("kernels");
}
