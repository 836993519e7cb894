/*
 * kernels.h — the hot loops of the core, one implementation per architecture.
 *
 * kernels_scalar.c defines the portable scalar_* versions (always built: they
 * are the fallback and the reference the kernel tests compare against).
 * Exactly one architecture file defines the kern_* entry points the core calls:
 *   kernels_x86.c   AVX2 + FMA (falls back to scalar_* without __AVX2__)
 *   kernels_neon.c  aarch64 NEON fp32 + int8; int8 via sdot when the CPU has
 *                   dotprod (chosen once in kern_init from getauxval), else
 *                   widening multiplies (Cortex-A72 / Pi 4)
 *   kernels_generic.c  forwards to scalar_* (any other architecture)
 *
 * Matrices are row-major (out, in). A matvec computes rows [r0, r1) only, so
 * the thread pool can split the rows among workers. A gemm does the same for
 * T inputs at once (prefill): it keeps a tile of rows x inputs in registers,
 * so each weight load feeds several inputs and the accumulator chains are
 * independent. Every output element of a gemm gets the same arithmetic
 * whichever tile it falls in, so splitting rows or inputs differently (thread
 * counts, prefill block boundaries) never changes a bit.
 *
 * Q8_0: a tensor of `rows * n` int8 values is cut into groups of `gs`
 * consecutive values (gs divides n, so a group never spans two rows), each
 * with one fp32 scale; value = q * scale. Row r, group g has scale
 * s[r * (n / gs) + g]. Activations are quantized the same way.
 */
#ifndef ARIANNA_KERNELS_H
#define ARIANNA_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* Pick the variants for this CPU (idempotent). Call before any kern_*. */
void kern_init(void);
/* "scalar", "avx2", "neon" or "neon-dotprod". */
const char *kern_name(void);

/* out[r] = sum_j w[r*n + j] * x[j] for r in [r0, r1). */
void kern_matvec_f32(float *out, const float *x, const float *w, int n, int r0, int r1);
/* Q8_0 x Q8_0 with int32 accumulation inside each group:
 * out[r] = sum_g xs[g] * ws[r*(n/gs)+g] * sum_{j in g} xq[j] * wq[r*n + j]. */
void kern_matvec_q8(float *out, const int8_t *xq, const float *xs,
                    const int8_t *wq, const float *ws, int n, int gs, int r0, int r1);
/* out[t*ldo + r] = sum_j w[r*ldw + j] * x[t*ldx + j], t in [0, T), r in [r0, r1). */
void kern_gemm_f32(float *out, int ldo, const float *x, int ldx, int T, const float *w, int ldw, int n,
                   int r0, int r1);
/* Q8_0 gemm: input t is xq + t*n with scales xs + t*(n/gs); every element is
 * bit-identical to kern_matvec_q8 on that input (the int32 group sums are
 * exact and the fp32 steps are the same), so prefill equals decode. */
void kern_gemm_q8(float *out, int ldo, const int8_t *xq, const float *xs, int T, const int8_t *wq,
                  const float *ws, int n, int gs, int r0, int r1);
/* A kernel may read Q8_0 in a layout of its own: kern_pack_q8 returns the
 * bytes that layout takes for a rows x n matrix of group size gs (writing it
 * to dst, 32-byte aligned, unless dst is NULL), or 0 when the kernel reads the
 * file layout. kern_matvec_q8 and kern_gemm_q8 take (wq, ws) as the file has
 * them, or (the packed bytes, NULL). x86 packs groups of 32 (kernels_x86.c). */
size_t kern_pack_q8(uint8_t *dst, const int8_t *wq, const float *ws, int rows, int n, int gs);
/* Q4_0 (model format v3): weights in groups of Q4_GROUP = 32 values, 16 bytes
 * a group: byte j holds value j in its low nibble and value j + 16 in its high
 * nibble, each stored + 8 (nibble v means v - 8, in [-8, 7]), and one fp32
 * scale per group; row r, group g starts at byte (r*n + g*32)/2 with scale
 * ws[r*(n/32) + g]. Inputs are Q8_0 with groups of 32. The matvec is the gemm
 * of one input, so prefill equals decode bit for bit here too.
 *
 * A kernel may read Q4_0 in a layout of its own: kern_pack_q4 returns the
 * bytes that layout takes for a rows x n matrix (writing it to dst, 32-byte
 * aligned, unless dst is NULL), or 0 when the kernel reads the file layout.
 * kern_matvec_q4 and kern_gemm_q4 take (wq, ws) as the file has them when it
 * returns 0, else (the packed bytes, NULL). x86 packs (kernels_x86.c). */
#define Q4_GROUP 32
size_t kern_pack_q4(uint8_t *dst, const uint8_t *wq, const float *ws, int rows, int n);
void kern_matvec_q4(float *out, const int8_t *xq, const float *xs, const uint8_t *wq, const float *ws, int n,
                    int r0, int r1);
void kern_gemm_q4(float *out, int ldo, const int8_t *xq, const float *xs, int T, const uint8_t *wq,
                  const float *ws, int n, int r0, int r1);
/* Quantize x[n] into q[n] and s[n/gs]: s = max|x| / 127, q = round(x / s). */
void kern_quantize_q8(int8_t *q, float *s, const float *x, int n, int gs);
/* sum_j a[j] * b[j] */
float kern_dot_f32(const float *a, const float *b, int n);
/* y[j] = sum_{t < rows} a[t] * v[t*ldv + j], each y[j] one chain in t
 * order (attention's weighted sum of value rows). */
void kern_wsum_f32(float *y, const float *a, const float *v, int ldv, int rows, int n);
/* SwiGLU's gate: a[j] = silu(a[j]) * b[j], silu(v) = v / (1 + e^-v). */
void kern_swiglu_f32(float *a, const float *b, int n);
/* Attention's softmax of scaled scores, in place: x[j] = e^(s x[j] - m) /
 * sum_k e^(s x[k] - m), m = max_k s x[k]. */
void kern_softmax_f32(float *x, int n, float s);
/* The sums the sampler's entropy needs over x[n] (n >= 1), m = max_k x[k]:
 * *z = sum_j e^(x[j] - m) and *es = sum_j e^(x[j] - m) (x[j] - m), each added
 * up in double. A term with x[j] - m < ENTROPY_FLOOR counts as 0 (e^-87 is
 * 1.6e-38, where fp32 leaves the normal range), so a -inf logit adds nothing.
 * A NaN in x makes both sums NaN. Reads x only. */
#define ENTROPY_FLOOR -87.0f
void kern_entropy_sums(const float *x, int n, double *z, double *es);

/* Portable reference versions, same contracts. */
void scalar_matvec_f32(float *out, const float *x, const float *w, int n, int r0, int r1);
void scalar_matvec_q8(float *out, const int8_t *xq, const float *xs,
                      const int8_t *wq, const float *ws, int n, int gs, int r0, int r1);
void scalar_gemm_f32(float *out, int ldo, const float *x, int ldx, int T, const float *w, int ldw, int n,
                     int r0, int r1);
void scalar_gemm_q8(float *out, int ldo, const int8_t *xq, const float *xs, int T, const int8_t *wq,
                    const float *ws, int n, int gs, int r0, int r1);
void scalar_gemm_q4(float *out, int ldo, const int8_t *xq, const float *xs, int T, const uint8_t *wq,
                    const float *ws, int n, int r0, int r1);
void scalar_quantize_q8(int8_t *q, float *s, const float *x, int n, int gs);
/* Quantize x[n] (n a multiple of 32) into n/2 packed bytes and n/32 scales:
 * s = max|x| / 7, q = round(x / s) in [-7, 7] (symmetric, like Q8_0). */
void scalar_quantize_q4(uint8_t *q, float *s, const float *x, int n);
float scalar_dot_f32(const float *a, const float *b, int n);
void scalar_wsum_f32(float *y, const float *a, const float *v, int ldv, int rows, int n);
void scalar_swiglu_f32(float *a, const float *b, int n);
void scalar_softmax_f32(float *x, int n, float s);
void scalar_entropy_sums(const float *x, int n, double *z, double *es);
/* scalar_entropy_sums's terms for a given max m, added to *z and *es (also
 * the vector versions' tail). */
void scalar_entropy_terms(const float *x, int n, float m, double *z, double *es);

#endif /* ARIANNA_KERNELS_H */
