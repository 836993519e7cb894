/*
 * kernels_generic.c — kern_* for architectures without a SIMD file: the
 * portable scalar versions.
 */
#include "kernels.h"

void kern_init(void) {}
const char *kern_name(void) { return "scalar"; }

void kern_matvec_f32(float *out, const float *x, const float *w, int n, int r0, int r1) {
    scalar_matvec_f32(out, x, w, n, r0, r1);
}
void kern_matvec_q8(float *out, const int8_t *xq, const float *xs,
                    const int8_t *wq, const float *ws, int n, int gs, int r0, int r1) {
    scalar_matvec_q8(out, xq, xs, wq, ws, n, gs, r0, r1);
}
void kern_gemm_f32(float *out, int ldo, const float *x, int ldx, int T, const float *w, int ldw, int n,
                   int r0, int r1) {
    scalar_gemm_f32(out, ldo, x, ldx, T, w, ldw, n, r0, r1);
}
void kern_gemm_q8(float *out, int ldo, const int8_t *xq, const float *xs, int T, const int8_t *wq,
                  const float *ws, int n, int gs, int r0, int r1) {
    scalar_gemm_q8(out, ldo, xq, xs, T, wq, ws, n, gs, r0, r1);
}
size_t kern_pack_q8(uint8_t *dst, const int8_t *wq, const float *ws, int rows, int n, int gs) { return 0; }  /* the file layout */
size_t kern_pack_q4(uint8_t *dst, const uint8_t *wq, const float *ws, int rows, int n) { return 0; }  /* the file layout */
void kern_matvec_q4(float *out, const int8_t *xq, const float *xs, const uint8_t *wq, const float *ws, int n,
                    int r0, int r1) {
    scalar_gemm_q4(out, 0, xq, xs, 1, wq, ws, n, r0, r1);
}
void kern_gemm_q4(float *out, int ldo, const int8_t *xq, const float *xs, int T, const uint8_t *wq,
                  const float *ws, int n, int r0, int r1) {
    scalar_gemm_q4(out, ldo, xq, xs, T, wq, ws, n, r0, r1);
}
void kern_quantize_q8(int8_t *q, float *s, const float *x, int n, int gs) {
    scalar_quantize_q8(q, s, x, n, gs);
}
float kern_dot_f32(const float *a, const float *b, int n) { return scalar_dot_f32(a, b, n); }
void kern_wsum_f32(float *y, const float *a, const float *v, int ldv, int rows, int n) {
    scalar_wsum_f32(y, a, v, ldv, rows, n);
}
void kern_swiglu_f32(float *a, const float *b, int n) { scalar_swiglu_f32(a, b, n); }
void kern_softmax_f32(float *x, int n, float s) { scalar_softmax_f32(x, n, s); }
void kern_entropy_sums(const float *x, int n, double *z, double *es) { scalar_entropy_sums(x, n, z, es); }
