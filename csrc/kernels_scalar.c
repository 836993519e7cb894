/*
 * kernels_scalar.c — the portable kernels: the fallback on every CPU and the
 * reference the kernel tests compare the SIMD versions against. Clarity over
 * speed: one accumulator, left-to-right order.
 */
#include <math.h>

#include "kernels.h"

void scalar_matvec_f32(float *out, const float *x, const float *w, int n, int r0, int r1) {
    for (int r = r0; r < r1; r++) {
        const float *row = w + (long)r * n;
        float sum = 0.0f;
        for (int j = 0; j < n; j++) sum += row[j] * x[j];
        out[r] = sum;
    }
}

void scalar_matvec_q8(float *out, const int8_t *xq, const float *xs,
                      const int8_t *wq, const float *ws, int n, int gs, int r0, int r1) {
    int groups = n / gs;
    for (int r = r0; r < r1; r++) {
        const int8_t *row = wq + (long)r * n;
        const float *rs = ws + (long)r * groups;
        float sum = 0.0f;
        for (int g = 0; g < groups; g++) {
            /* exact inside a group: |q| <= 127, so even a 64k-wide group fits int32 */
            int32_t isum = 0;
            for (int j = g * gs; j < (g + 1) * gs; j++) isum += (int32_t)xq[j] * row[j];
            sum += (float)isum * xs[g] * rs[g];
        }
        out[r] = sum;
    }
}

void scalar_gemm_f32(float *out, int ldo, const float *x, int ldx, int T, const float *w, int ldw, int n,
                     int r0, int r1) {
    for (int t = 0; t < T; t++)
        for (int r = r0; r < r1; r++) {
            const float *row = w + (long)r * ldw, *xt = x + (long)t * ldx;
            float sum = 0.0f;
            for (int j = 0; j < n; j++) sum += row[j] * xt[j];
            out[(long)t * ldo + r] = sum;
        }
}

void scalar_gemm_q8(float *out, int ldo, const int8_t *xq, const float *xs, int T, const int8_t *wq,
                    const float *ws, int n, int gs, int r0, int r1) {
    for (int t = 0; t < T; t++)
        scalar_matvec_q8(out + (long)t * ldo, xq + (long)t * n, xs + (long)t * (n / gs), wq, ws, n, gs, r0, r1);
}

void scalar_gemm_q4(float *out, int ldo, const int8_t *xq, const float *xs, int T, const uint8_t *wq,
                    const float *ws, int n, int r0, int r1) {
    int groups = n / Q4_GROUP;
    for (int t = 0; t < T; t++)
        for (int r = r0; r < r1; r++) {
            const uint8_t *row = wq + (long)r * n / 2;
            const int8_t *x = xq + (long)t * n;
            float sum = 0.0f;
            for (int g = 0; g < groups; g++) {
                int32_t isum = 0;
                for (int j = 0; j < Q4_GROUP / 2; j++) {
                    int b = row[g * Q4_GROUP / 2 + j];
                    isum += x[g * Q4_GROUP + j] * ((b & 15) - 8) + x[g * Q4_GROUP + j + 16] * ((b >> 4) - 8);
                }
                sum += (float)isum * xs[(long)t * groups + g] * ws[(long)r * groups + g];
            }
            out[(long)t * ldo + r] = sum;
        }
}

void scalar_quantize_q4(uint8_t *q, float *s, const float *x, int n) {
    for (int g = 0; g < n / Q4_GROUP; g++) {
        const float *xg = x + (long)g * Q4_GROUP;
        float amax = 0.0f;
        for (int j = 0; j < Q4_GROUP; j++) amax = fmaxf(amax, fabsf(xg[j]));
        float scale = amax / 7.0f;
        s[g] = scale;
        int v[Q4_GROUP];
        for (int j = 0; j < Q4_GROUP; j++)
            v[j] = scale > 0.0f ? (int)fminf(fmaxf(roundf(xg[j] / scale), -7.0f), 7.0f) : 0;
        for (int j = 0; j < Q4_GROUP / 2; j++) q[(long)g * Q4_GROUP / 2 + j] = (uint8_t)((v[j] + 8) | (v[j + 16] + 8) << 4);
    }
}

/* Rounds half away from zero (roundf), like llama2.c's runq.c. The SIMD
 * versions reproduce this exactly: same division, same rounding, same clamp. */
void scalar_quantize_q8(int8_t *q, float *s, const float *x, int n, int gs) {
    for (int g = 0; g < n / gs; g++) {
        const float *xg = x + (long)g * gs;
        int8_t *qg = q + (long)g * gs;
        float amax = 0.0f;
        for (int j = 0; j < gs; j++) amax = fmaxf(amax, fabsf(xg[j]));
        float scale = amax / 127.0f;
        s[g] = scale;
        for (int j = 0; j < gs; j++) {
            /* an all-zero group keeps scale 0 and q 0 instead of dividing by 0 */
            float v = scale > 0.0f ? roundf(xg[j] / scale) : 0.0f;
            /* x / (amax / 127) can land a hair above 127 after rounding */
            qg[j] = (int8_t)fminf(fmaxf(v, -127.0f), 127.0f);
        }
    }
}

float scalar_dot_f32(const float *a, const float *b, int n) {
    float sum = 0.0f;
    for (int j = 0; j < n; j++) sum += a[j] * b[j];
    return sum;
}

void scalar_wsum_f32(float *y, const float *a, const float *v, int ldv, int rows, int n) {
    for (int j = 0; j < n; j++) {
        float sum = 0.0f;
        for (int t = 0; t < rows; t++) sum += a[t] * v[(long)t * ldv + j];
        y[j] = sum;
    }
}

void scalar_swiglu_f32(float *a, const float *b, int n) {
    for (int j = 0; j < n; j++) a[j] = a[j] / (1.0f + expf(-a[j])) * b[j];
}

void scalar_softmax_f32(float *x, int n, float s) {
    for (int j = 0; j < n; j++) x[j] *= s;
    float max = x[0];
    for (int j = 1; j < n; j++)
        if (x[j] > max) max = x[j];
    float sum = 0.0f;
    for (int j = 0; j < n; j++) {
        x[j] = expf(x[j] - max);
        sum += x[j];
    }
    for (int j = 0; j < n; j++) x[j] /= sum;
}

void scalar_entropy_terms(const float *x, int n, float m, double *z, double *es) {
    for (int j = 0; j < n; j++) {
        float d = x[j] - m;
        if (d < ENTROPY_FLOOR) continue; /* also a -inf, whose e * d would be 0 * -inf; a NaN goes on */
        float e = expf(d);
        *z += e;
        *es += e * d;
    }
}

void scalar_entropy_sums(const float *x, int n, double *z, double *es) {
    float m = x[0];
    for (int j = 1; j < n; j++)
        if (x[j] > m) m = x[j];
    *z = *es = 0.0;
    scalar_entropy_terms(x, n, m, z, es);
}
