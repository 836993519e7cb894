/*
 * kernels_x86.c — x86-64 kernels: AVX2 + FMA when the compiler targets them
 * (-march=haswell or newer, -mavx2 -mfma), otherwise the scalar versions.
 *
 * Decode is memory-bandwidth bound, so both matvecs stream one row at a
 * time: measured on an EPYC host, interleaving 2 or 4 rows (to share the
 * loads of x) was 1.7x (fp32) and 2x (int8, 110M shape) slower, the parallel
 * row streams stalling on memory. Everything is unaligned loads (rows of odd
 * widths start anywhere).
 */
#include "kernels.h"

#if defined(__AVX2__) && defined(__FMA__)

#include <immintrin.h>
#include <math.h>
#include <string.h>

void kern_init(void) {}  /* chosen at compile time: nothing to detect */
const char *kern_name(void) { return "avx2"; }

static inline float hsum_ps(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* hsum_ps of four vectors at once, lane for lane the same additions (so
 * bit-identical to four hsum_ps calls), as one __m128 of the four sums. */
static inline __m128 hsum4_ps(__m256 a0, __m256 a1, __m256 a2, __m256 a3) {
    __m256 s01 = _mm256_add_ps(_mm256_permute2f128_ps(a0, a1, 0x20), _mm256_permute2f128_ps(a0, a1, 0x31));
    __m256 s23 = _mm256_add_ps(_mm256_permute2f128_ps(a2, a3, 0x20), _mm256_permute2f128_ps(a2, a3, 0x31));
    /* lanes 0,1 of each half: (s0 + s2, s1 + s3) of vectors 0 and 2 (low half), 1 and 3 (high) */
    __m256 p = _mm256_add_ps(_mm256_shuffle_ps(s01, s23, _MM_SHUFFLE(1, 0, 1, 0)),
                             _mm256_shuffle_ps(s01, s23, _MM_SHUFFLE(3, 2, 3, 2)));
    __m256 r = _mm256_add_ps(_mm256_shuffle_ps(p, p, _MM_SHUFFLE(2, 0, 2, 0)),
                             _mm256_shuffle_ps(p, p, _MM_SHUFFLE(3, 1, 3, 1)));
    return _mm_unpacklo_ps(_mm256_castps256_ps128(r), _mm256_extractf128_ps(r, 1));
}

static inline float hmax_ps(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

/* ---- fp32 ---------------------------------------------------------------- */

/* One row at a time, four FMA chains of 8 lanes each. */
void kern_matvec_f32(float *out, const float *x, const float *w, int n, int r0, int r1) {
    for (int r = r0; r < r1; r++) {
        const float *row = w + (long)r * n;
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
        int j = 0;
        for (; j + 32 <= n; j += 32) {
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(row + j), _mm256_loadu_ps(x + j), a0);
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(row + j + 8), _mm256_loadu_ps(x + j + 8), a1);
            a2 = _mm256_fmadd_ps(_mm256_loadu_ps(row + j + 16), _mm256_loadu_ps(x + j + 16), a2);
            a3 = _mm256_fmadd_ps(_mm256_loadu_ps(row + j + 24), _mm256_loadu_ps(x + j + 24), a3);
        }
        for (; j + 8 <= n; j += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(row + j), _mm256_loadu_ps(x + j), a0);
        float sum = hsum_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
        for (; j < n; j++) sum += row[j] * x[j];
        out[r] = sum;
    }
}

/* A tile of R rows x C inputs: one 8-lane FMA chain per element (R*C
 * independent chains hide the FMA latency), each weight load feeding C
 * inputs. 6 x 2 is 12 accumulators + 2 inputs + 1 weight: 15 ymm registers,
 * 8 loads per 12 FMAs once each weight vector is pinned to a register. The
 * 4 x 3 tile it replaces needed all 16, and GCC read one operand again as an
 * FMA memory operand in every FMA (16 loads per 12 FMAs: load-bound): single
 * thread, T = 64, CPU time, 6 x 2 is 1.3x / 1.6x / 1.7x its speed on the 15M
 * shapes 288x288 / 768x288 / 288x768, and the same bits. Edge tiles are
 * smaller, with the same per-element arithmetic; the row sums of an input
 * leave four at a time (hsum4_ps). */
static inline __attribute__((always_inline))
void gemm_f32_tile(float *out, int ldo, const float *x, int ldx, const float *w, int ldw, int n, int r, int t,
                   const int R, const int C) {
    __m256 acc[6][2];
    for (int k = 0; k < R; k++)
        for (int c = 0; c < C; c++) acc[k][c] = _mm256_setzero_ps();
    int j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256 xv[2];
        for (int c = 0; c < C; c++) xv[c] = _mm256_loadu_ps(x + (long)(t + c) * ldx + j);
        for (int k = 0; k < R; k++) {
            __m256 wv = _mm256_loadu_ps(w + (long)(r + k) * ldw + j);
            __asm__("" : "+x"(wv)); /* one load per weight vector: GCC would fold it into each FMA */
            for (int c = 0; c < C; c++) acc[k][c] = _mm256_fmadd_ps(wv, xv[c], acc[k][c]);
        }
    }
    if (j == n) {
        /* No tail: each sum goes straight to its output, and a pair of rows
         * left over shares one hsum4_ps between both inputs (the same
         * additions as below, so the same bits). Through a stack array and a
         * scalar store loop, these sums were ~10 % of the tile's time (perf);
         * single thread, T = 64, CPU time, this is 1.2-1.5x the gemm's speed
         * on 288x288 and 768x288 (15M shapes), level at n = 768. */
        int k = 0;
        for (; k + 4 <= R; k += 4)
            for (int c = 0; c < C; c++)
                _mm_storeu_ps(out + (long)(t + c) * ldo + r + k,
                              hsum4_ps(acc[k][c], acc[k + 1][c], acc[k + 2][c], acc[k + 3][c]));
        if (R - k == 2) {
            __m128 s = hsum4_ps(acc[k][0], acc[k + 1][0], acc[k][C - 1], acc[k + 1][C - 1]);
            _mm_storel_pi((__m64 *)(out + (long)t * ldo + r + k), s);
            if (C > 1) _mm_storeh_pi((__m64 *)(out + (long)(t + 1) * ldo + r + k), s);
        } else {
            for (; k < R; k++)
                for (int c = 0; c < C; c++) out[(long)(t + c) * ldo + r + k] = hsum_ps(acc[k][c]);
        }
        return;
    }
    for (int c = 0; c < C; c++) {
        const float *xt = x + (long)(t + c) * ldx;
        float sum[6];
        int k = 0;
        for (; k + 4 <= R; k += 4)
            _mm_storeu_ps(sum + k, hsum4_ps(acc[k][c], acc[k + 1][c], acc[k + 2][c], acc[k + 3][c]));
        for (; k < R; k++) sum[k] = hsum_ps(acc[k][c]);
        for (k = 0; k < R; k++) {
            const float *row = w + (long)(r + k) * ldw;
            for (int i = j; i < n; i++) sum[k] += row[i] * xt[i];
            out[(long)(t + c) * ldo + r + k] = sum[k];
        }
    }
}

/* Inputs t..t+C against rows [r0, r1) in tiles of 6 rows. */
static inline __attribute__((always_inline))
void gemm_f32_cols(float *out, int ldo, const float *x, int ldx, const float *w, int ldw, int n, int r0, int r1,
                   int t, const int C) {
    int r = r0;
    for (; r + 6 <= r1; r += 6) gemm_f32_tile(out, ldo, x, ldx, w, ldw, n, r, t, 6, C);
    for (; r + 4 <= r1; r += 4) gemm_f32_tile(out, ldo, x, ldx, w, ldw, n, r, t, 4, C);
    for (; r < r1; r++) gemm_f32_tile(out, ldo, x, ldx, w, ldw, n, r, t, 1, C);
}

/* Cache blocking: a block of rows that fits in L1 (~16 KiB of weights) is
 * kept there while every tile of inputs passes over it, and each tile of
 * inputs stays in L1 across the block's row tiles. While a block is in use
 * nothing touches the next one, so the hardware prefetcher does not fetch it
 * and each block began with a burst of misses to memory: each pair of inputs
 * now prefetches its share of the next block's lines into L2. 15M fp32
 * prefill of 127 tokens, 1 thread, 8 interleaved rounds of 15: 1.16x (T0,
 * into L1: 1.13x); 2 threads 1.16x. The same bits. */
void kern_gemm_f32(float *out, int ldo, const float *x, int ldx, int T, const float *w, int ldw, int n,
                   int r0, int r1) {
    int block = (16384 / 4) / (n > 0 ? n : 1) / 6 * 6;
    if (block < 6) block = 6;
    int row_lines = (n + 15) / 16, passes = T > 2 ? (T + 1) / 2 : 1;
    for (int rb = r0; rb < r1; rb += block) {
        int re = rb + block < r1 ? rb + block : r1;
        int lines = ((re + block < r1 ? re + block : r1) - re) * row_lines, line = 0, prow = re, pcol = 0;
        int share = (lines + passes - 1) / passes;
        for (int t = 0; t < T; t += 2) {
            for (int e = line + share < lines ? line + share : lines; line < e; line++) {
                _mm_prefetch((const char *)(w + (long)prow * ldw + pcol * 16), _MM_HINT_T1);
                if (++pcol == row_lines) pcol = 0, prow++;
            }
            if (t + 2 <= T) gemm_f32_cols(out, ldo, x, ldx, w, ldw, n, rb, re, t, 2);
            else gemm_f32_cols(out, ldo, x, ldx, w, ldw, n, rb, re, t, 1);
        }
    }
}

float kern_dot_f32(const float *a, const float *b, int n) {
    /* two chains so the FMA latency overlaps (attention dots are short) */
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int j = 0;
    for (; j + 16 <= n; j += 16) {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + j), _mm256_loadu_ps(b + j), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + j + 8), _mm256_loadu_ps(b + j + 8), acc1);
    }
    if (j + 8 <= n) {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + j), _mm256_loadu_ps(b + j), acc0);
        j += 8;
    }
    float sum = hsum_ps(_mm256_add_ps(acc0, acc1));
    for (; j < n; j++) sum += a[j] * b[j];
    return sum;
}

/* 32 columns (4 FMA chains) kept in registers over all the rows, then 8,
 * then single columns. It replaces an axpy per (row, token), whose output
 * went through memory every time: that was 6.5 % of the 15M Q8_0 prefill's
 * CPU time (perf). */
void kern_wsum_f32(float *y, const float *a, const float *v, int ldv, int rows, int n) {
    int j = 0;
    for (; j + 32 <= n; j += 32) {
        __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
        for (int t = 0; t < rows; t++) {
            const float *vt = v + (long)t * ldv + j;
            __m256 at = _mm256_broadcast_ss(a + t);
            s0 = _mm256_fmadd_ps(at, _mm256_loadu_ps(vt), s0);
            s1 = _mm256_fmadd_ps(at, _mm256_loadu_ps(vt + 8), s1);
            s2 = _mm256_fmadd_ps(at, _mm256_loadu_ps(vt + 16), s2);
            s3 = _mm256_fmadd_ps(at, _mm256_loadu_ps(vt + 24), s3);
        }
        _mm256_storeu_ps(y + j, s0);
        _mm256_storeu_ps(y + j + 8, s1);
        _mm256_storeu_ps(y + j + 16, s2);
        _mm256_storeu_ps(y + j + 24, s3);
    }
    for (; j + 8 <= n; j += 8) {
        __m256 s = _mm256_setzero_ps();
        for (int t = 0; t < rows; t++) s = _mm256_fmadd_ps(_mm256_broadcast_ss(a + t), _mm256_loadu_ps(v + (long)t * ldv + j), s);
        _mm256_storeu_ps(y + j, s);
    }
    for (; j < n; j++) {
        float sum = 0.0f;
        for (int t = 0; t < rows; t++) sum += a[t] * v[(long)t * ldv + j];
        y[j] = sum;
    }
}

/* e^x for 8 lanes, |error| < 2 ulp against expf on [-87, 88] (Cephes expf:
 * x = n ln2 + r, |r| <= ln2 / 2, a degree-6 polynomial for e^r, 2^n through
 * the exponent bits). Inputs are clamped to [-87.3, 88.3], where neither e^x
 * nor 2^n leaves the normal range. */
static inline __m256 exp_ps(__m256 x) {
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.3f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(_mm256_mul_ps(p, r), r, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

/* libm's expf one element at a time was 9 % of a 15M Q8_0 prefill's CPU
 * time (perf; llama.cpp's vectorised SwiGLU: 1 %). A NaN stays a NaN (it
 * reaches the numerator). */
void kern_swiglu_f32(float *a, const float *b, int n) {
    int j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256 v = _mm256_loadu_ps(a + j);
        __m256 d = _mm256_add_ps(_mm256_set1_ps(1.0f), exp_ps(_mm256_sub_ps(_mm256_setzero_ps(), v)));
        _mm256_storeu_ps(a + j, _mm256_mul_ps(_mm256_div_ps(v, d), _mm256_loadu_ps(b + j)));
    }
    for (; j < n; j++) a[j] = a[j] / (1.0f + expf(-a[j])) * b[j];
}

/* The same exp for attention's softmax, with the scaling and the max in one
 * pass: libm expf and the scalar passes were 5 % of a 15M Q4_0 prefill's CPU
 * time (perf). The sampler keeps its own softmax (libm, bit for bit as
 * before). exp_ps clamps, so a NaN score is caught first: then every weight
 * is NaN, as the scalar version's NaN sum makes them. */
void kern_softmax_f32(float *x, int n, float s) {
    const __m256 sv = _mm256_set1_ps(s);
    __m256 mv = _mm256_set1_ps(-INFINITY), nan = _mm256_setzero_ps();
    int j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + j), sv);
        _mm256_storeu_ps(x + j, v);
        mv = _mm256_max_ps(mv, v);
        nan = _mm256_or_ps(nan, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    }
    float max = hmax_ps(mv);
    int has_nan = _mm256_movemask_ps(nan) != 0;
    for (; j < n; j++) {
        x[j] *= s;
        has_nan |= isnan(x[j]);
        if (x[j] > max) max = x[j];
    }
    if (has_nan) {
        for (j = 0; j < n; j++) x[j] = NAN;
        return;
    }
    const __m256 maxv = _mm256_set1_ps(max);
    __m256 sumv = _mm256_setzero_ps();
    for (j = 0; j + 8 <= n; j += 8) {
        __m256 e = exp_ps(_mm256_sub_ps(_mm256_loadu_ps(x + j), maxv));
        _mm256_storeu_ps(x + j, e);
        sumv = _mm256_add_ps(sumv, e);
    }
    float sum = hsum_ps(sumv);
    for (; j < n; j++) {
        x[j] = expf(x[j] - max);
        sum += x[j];
    }
    const __m256 sumb = _mm256_set1_ps(sum);
    for (j = 0; j + 8 <= n; j += 8) _mm256_storeu_ps(x + j, _mm256_div_ps(_mm256_loadu_ps(x + j), sumb));
    for (; j < n; j++) x[j] /= sum;
}

/* The sampler's entropy sums with the same exp: libm expf over a 32,000-token
 * vocabulary was 0.2 ms a token, ~3 % of a 110M Q4_0 decode token (perf).
 * Each lane adds up at most 32 terms in fp32 before a block goes into the
 * double sums, so the rounding stays near 1e-6 relative at any vocabulary
 * size (test_sampler checks the entropy against libm within 1e-5). */
#define ENTROPY_BLOCK 256
void kern_entropy_sums(const float *x, int n, double *z, double *es) {
    __m256 mv = _mm256_set1_ps(-INFINITY), nan = _mm256_setzero_ps();
    int j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256 v = _mm256_loadu_ps(x + j);
        mv = _mm256_max_ps(mv, v);
        nan = _mm256_or_ps(nan, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    }
    float m = hmax_ps(mv);
    int has_nan = _mm256_movemask_ps(nan) != 0;
    for (; j < n; j++) {
        has_nan |= isnan(x[j]);
        if (x[j] > m) m = x[j];
    }
    if (has_nan) {
        *z = *es = NAN;
        return;
    }
    const __m256 mb = _mm256_set1_ps(m), floor = _mm256_set1_ps(ENTROPY_FLOOR);
    const int whole = n - n % 8;
    double zs = 0.0, ss = 0.0;
    for (j = 0; j < whole;) {
        const int end = whole - j > ENTROPY_BLOCK ? j + ENTROPY_BLOCK : whole;
        __m256 zv = _mm256_setzero_ps(), sv = _mm256_setzero_ps();
        for (; j < end; j += 8) {
            __m256 d = _mm256_sub_ps(_mm256_loadu_ps(x + j), mb);
            __m256 keep = _mm256_cmp_ps(d, floor, _CMP_GE_OQ);
            d = _mm256_max_ps(d, floor); /* a -inf becomes finite, so 0 * d stays 0 */
            __m256 e = _mm256_and_ps(exp_ps(d), keep);
            zv = _mm256_add_ps(zv, e);
            sv = _mm256_fmadd_ps(e, d, sv);
        }
        zs += hsum_ps(zv);
        ss += hsum_ps(sv);
    }
    scalar_entropy_terms(x + j, n - j, m, &zs, &ss);
    *z = zs;
    *es = ss;
}

/* ---- Q8_0 ---------------------------------------------------------------- */

/* 32 int8 products summed into 8 int32 lanes; ax = |x|, taken once where
 * several rows share an input. maddubs wants unsigned x signed, so move x's
 * sign onto w: |x| * (w * sign(x)) == x * w. Each int16 pair sum is at most
 * 2 * 127 * 127 = 32258, so maddubs never saturates as long as the values are
 * Q8_0's [-127, 127] (the quantizer never writes -128). */
static inline __m256i dot32_i8(__m256i ax, __m256i x, __m256i w) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(ax, _mm256_sign_epi8(w, x)), _mm256_set1_epi16(1));
}

/* One row when gs is a multiple of 32. A group's int32 lanes stay exact
 * (< 2^24, so exact in fp32 too); each group is then scaled into fp32 lanes,
 * and the lanes are summed once at the end of the row. The weights 1 KiB
 * ahead are prefetched (past the row's end into the next: the mapping is
 * 4 KiB pages, where the hardware prefetcher stops): 110M Q8_0 decode
 * 1.1-1.3x tok/s (arianna-run, 1 thread, medians of 5 interleaved runs, three
 * trials, load 2.9-3.2); the same for Q4_0 rows was not faster. */
static inline float matvec_q8_row(const int8_t *xq, const float *xs, const int8_t *row, const float *rs,
                                  int n, int gs) {
    __m256 acc = _mm256_setzero_ps();
    for (int g = 0; g < n / gs; g++) {
        __m256i isum = _mm256_setzero_si256();
        for (int j = g * gs; j < (g + 1) * gs; j += 32) {
            _mm_prefetch((const char *)(row + j + 1024), _MM_HINT_T0);
            __m256i xv = _mm256_loadu_si256((const __m256i *)(xq + j));
            isum = _mm256_add_epi32(isum, dot32_i8(_mm256_abs_epi8(xv), xv, _mm256_loadu_si256((const __m256i *)(row + j))));
        }
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(xs[g] * rs[g]), acc);
    }
    return hsum_ps(acc);
}

/* The repacked layout (kern_pack_q8), for groups of 32: rows in blocks of 8
 * (the last block padded with zero rows), and per block and group one
 * 288-byte record: the 8 rows' fp32 scales, then the 8 rows' 32 values.
 *
 * Every element keeps matvec_q8_row's arithmetic (per group 8 int32 lanes,
 * each the exact sum of 4 products, scaled into the row's own 8 fp32 lanes by
 * one FMA in group order, the lanes summed once at the end), so the bits are
 * those of the file layout's kernels. One row per lane, as Q4_0 does, would
 * sum each group whole and change the fp32 order, so the tile is not the
 * Q4_0 one: a block of 8 rows x 1 input, 8 accumulators, |x| once per group
 * and input, and the 8 rows' scale products one multiply (ws8 * xs, stored
 * and broadcast back) instead of one per row: per element sign, maddubs,
 * madd, convert and FMA, where the 4 rows x 2 inputs tile on the file layout
 * paid a multiply more. Single thread, T = 64, best of 15 interleaved with
 * it (load 0.1): 1.06-1.14x on 288x288, 768x288, 288x768, 768x768, 2048x768
 * and 768x2048; 4 rows x 2 inputs on the records was 0.83-1.04x and 2 x 4
 * 0.55-0.88x (busier VM), summing the int16 pairs with shifts instead of
 * madd 0.73-0.93x. Decode reads one stream of records per 8 rows, scales
 * beside values, and prefetches 1 KiB ahead (the hardware prefetcher stops
 * at 4 KiB boundaries): the matvec with the weights in L2 1.7-2.7x, 110M
 * arianna-run 1.10x tok/s (bench medians of 7, load 0.1-1.1). */
#define Q8_BLOCK 288
#define Q8_PREFETCH 1024

size_t kern_pack_q8(uint8_t *dst, const int8_t *wq, const float *ws, int rows, int n, int gs) {
    if (gs != 32) return 0;
    int groups = n / 32, blocks = (rows + 7) / 8;
    size_t bytes = (size_t)blocks * groups * Q8_BLOCK;
    if (!dst) return bytes;
    for (int b = 0; b < blocks; b++)
        for (int g = 0; g < groups; g++) {
            uint8_t *rec = dst + ((size_t)b * groups + g) * Q8_BLOCK;
            for (int l = 0; l < 8; l++) {
                long r = (long)b * 8 + l;
                float s = r < rows ? ws[r * groups + g] : 0.0f;
                memcpy(rec + 4 * l, &s, 4);
                if (r < rows) memcpy(rec + 32 + 32 * l, wq + r * n + g * 32, 32);
                else memset(rec + 32 + 32 * l, 0, 32);
            }
        }
    return bytes;
}

/* Block b's rows in [r0, r1) for input t. */
static inline __attribute__((always_inline))
void gemm_q8_block(float *out, const int8_t *x, const float *xs, const uint8_t *blk, int n, int r0, int r1, int b,
                   const int prefetch) {
    int groups = n / 32;
    __m256 acc[8];
    for (int k = 0; k < 8; k++) acc[k] = _mm256_setzero_ps();
    for (int g = 0; g < groups; g++) {
        const uint8_t *rec = blk + (size_t)g * Q8_BLOCK;
        if (prefetch)
            for (int k = 0; k < Q8_BLOCK; k += 64) _mm_prefetch((const char *)(rec + Q8_PREFETCH + k), _MM_HINT_T0);
        float p[8] __attribute__((aligned(32)));
        _mm256_store_ps(p, _mm256_mul_ps(_mm256_load_ps((const float *)rec), _mm256_broadcast_ss(xs + g)));
        __m256i xv = _mm256_loadu_si256((const __m256i *)(x + g * 32)), ax = _mm256_abs_epi8(xv);
        for (int k = 0; k < 8; k++) {
            __m256i d = dot32_i8(ax, xv, _mm256_load_si256((const __m256i *)(rec + 32 + 32 * k)));
            acc[k] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d), _mm256_broadcast_ss(p + k), acc[k]);
        }
    }
    __m128 s0 = hsum4_ps(acc[0], acc[1], acc[2], acc[3]), s1 = hsum4_ps(acc[4], acc[5], acc[6], acc[7]);
    if (b * 8 >= r0 && b * 8 + 8 <= r1) {
        _mm_storeu_ps(out + b * 8, s0);
        _mm_storeu_ps(out + b * 8 + 4, s1);
        return;
    }
    float sum[8];
    _mm_storeu_ps(sum, s0);
    _mm_storeu_ps(sum + 4, s1);
    int lo = b * 8 > r0 ? b * 8 : r0, hi = b * 8 + 8 < r1 ? b * 8 + 8 : r1;
    for (int r = lo; r < hi; r++) out[r] = sum[r - b * 8];
}

/* Blocks outer, inputs inner: a block's records (n / 32 * 288 bytes, 6.8
 * KiB at n = 768) stay in L1 while all T inputs pass. */
static void gemm_q8_packed(float *out, int ldo, const int8_t *xq, const float *xs, int T, const uint8_t *wq, int n,
                           int r0, int r1) {
    int groups = n / 32, lines = groups * Q8_BLOCK / 64, share = T > 1 ? (lines + T - 1) / T : 0;
    for (int b = r0 / 8; b * 8 < r1; b++) {
        const uint8_t *blk = wq + (size_t)b * groups * Q8_BLOCK;
        if (T == 1) gemm_q8_block(out, xq, xs, blk, n, r0, r1, b, 1);
        else
            for (int t = 0, line = 0, last = (b + 1) * 8 < r1 ? lines : 0; t < T; t++) {
                for (int e = line + share < last ? line + share : last; line < e; line++)
                    _mm_prefetch((const char *)(blk + (size_t)groups * Q8_BLOCK + line * 64), _MM_HINT_T1);
                gemm_q8_block(out + (long)t * ldo, xq + (long)t * n, xs + (long)t * groups, blk, n, r0, r1, b, 0);
            }
    }
}

void kern_matvec_q8(float *out, const int8_t *xq, const float *xs,
                    const int8_t *wq, const float *ws, int n, int gs, int r0, int r1) {
    if (!ws) {
        gemm_q8_packed(out, 0, xq, xs, 1, (const uint8_t *)wq, n, r0, r1);
        return;
    }
    if (gs % 32 != 0) {  /* odd group sizes are rare: correct, not fast */
        scalar_matvec_q8(out, xq, xs, wq, ws, n, gs, r0, r1);
        return;
    }
    for (int r = r0; r < r1; r++) out[r] = matvec_q8_row(xq, xs, wq + (long)r * n, ws + (long)r * (n / gs), n, gs);
}

/* The file layout (group sizes other than 32, multiples of 32): R rows x one
 * input, the int32 group sums held across the group's chunks. */
static inline __attribute__((always_inline))
void gemm_q8_tile(float *out, int ldo, const int8_t *xq, const float *xs, const int8_t *wq, const float *ws, int n,
                  int gs, int r, int t, const int R) {
    int groups = n / gs;
    const int8_t *x = xq + (long)t * n;
    __m256 acc[4];
    for (int k = 0; k < R; k++) acc[k] = _mm256_setzero_ps();
    for (int g = 0; g < groups; g++) {
        __m256i isum[4];
        for (int k = 0; k < R; k++) isum[k] = _mm256_setzero_si256();
        for (int j = g * gs; j < (g + 1) * gs; j += 32) {
            __m256i xv = _mm256_loadu_si256((const __m256i *)(x + j)), ax = _mm256_abs_epi8(xv);
            for (int k = 0; k < R; k++)
                isum[k] = _mm256_add_epi32(
                    isum[k], dot32_i8(ax, xv, _mm256_loadu_si256((const __m256i *)(wq + (long)(r + k) * n + j))));
        }
        __m256 xsv = _mm256_broadcast_ss(xs + (long)t * groups + g);
        for (int k = 0; k < R; k++)
            acc[k] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[k]),
                                     _mm256_mul_ps(xsv, _mm256_broadcast_ss(ws + (long)(r + k) * groups + g)), acc[k]);
    }
    float *o = out + (long)t * ldo + r;
    if (R == 4) _mm_storeu_ps(o, hsum4_ps(acc[0], acc[1], acc[2], acc[3]));
    else
        for (int k = 0; k < R; k++) o[k] = hsum_ps(acc[k]);
}

void kern_gemm_q8(float *out, int ldo, const int8_t *xq, const float *xs, int T, const int8_t *wq,
                  const float *ws, int n, int gs, int r0, int r1) {
    if (!ws) {
        gemm_q8_packed(out, ldo, xq, xs, T, (const uint8_t *)wq, n, r0, r1);
        return;
    }
    if (gs % 32 != 0) {
        scalar_gemm_q8(out, ldo, xq, xs, T, wq, ws, n, gs, r0, r1);
        return;
    }
    int r = r0;
    for (; r + 4 <= r1; r += 4)
        for (int t = 0; t < T; t++) gemm_q8_tile(out, ldo, xq, xs, wq, ws, n, gs, r, t, 4);
    for (; r < r1; r++)
        for (int t = 0; t < T; t++) gemm_q8_tile(out, ldo, xq, xs, wq, ws, n, gs, r, t, 1);
}

/* ---- Q4_0 ---------------------------------------------------------------- */

/* The repacked layout (kern_pack_q4): rows in blocks of 8 (the last block
 * padded with zero rows), and per block and group of 32 one 160-byte record:
 * the 8 rows' fp32 scales, then 4 x 32 bytes where word l of part m holds
 * bytes 4m..4m+3 of row l's 16 file bytes. Masking part m gives values
 * 4m..4m+3 of the 8 rows, one row per 32-bit lane, and its high nibbles
 * values 16+4m..16+4m+3: with the input's 4 values broadcast, maddubs and
 * madd leave each row's group dot in its own lane, so a group costs ~2.5
 * vector ops per row and input, where the row-major tile (one vector of
 * partial sums per row and input, summed across lanes at the end) paid 6.
 * llama.cpp reads Q4_0 the same way (block_q4_0x8). One memory stream per
 * 8 rows, so decode reads it in order too. */
#define Q4_BLOCK 160
#define Q4_PREFETCH 2048

size_t kern_pack_q4(uint8_t *dst, const uint8_t *wq, const float *ws, int rows, int n) {
    int groups = n / Q4_GROUP, blocks = (rows + 7) / 8;
    size_t bytes = (size_t)blocks * groups * Q4_BLOCK;
    if (!dst) return bytes;
    for (int b = 0; b < blocks; b++)
        for (int g = 0; g < groups; g++) {
            uint8_t *rec = dst + ((size_t)b * groups + g) * Q4_BLOCK;
            for (int l = 0; l < 8; l++) {
                long r = (long)b * 8 + l;
                float s = r < rows ? ws[r * groups + g] : 0.0f;
                memcpy(rec + 4 * l, &s, 4);
                for (int m = 0; m < 4; m++)
                    for (int i = 0; i < 4; i++)  /* 0x88: a padding row's values are 0 */
                        rec[32 + 32 * m + 4 * l + i] = r < rows ? wq[(r * n + g * Q4_GROUP) / 2 + 4 * m + i] : 0x88;
            }
        }
    return bytes;
}

/* 8 * (the sum of an input's 32 values) per group: the stored nibbles are
 * each weight + 8, so this is what a group's dot subtracts. Exact in int32. */
static void q4_input_sums(int32_t *x8, const int8_t *x, int groups) {
    const __m256i eight = _mm256_set1_epi8(8), ones = _mm256_set1_epi16(1);
    for (int g = 0; g < groups; g++) {
        __m256i v = _mm256_madd_epi16(_mm256_maddubs_epi16(eight, _mm256_loadu_si256((const __m256i *)(x + g * 32))), ones);
        __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
        s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
        s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
        x8[g] = _mm_cvtsi128_si32(s);
    }
}

/* One block of 8 rows x C inputs. Per group and input: maddubs of the
 * unsigned nibbles against the broadcast input words (pairs at most
 * 2 * 15 * 127 = 3810, eight of them summed in int16: 30480, no saturation),
 * one madd to int32, minus the input's 8 * sum: the exact integer group dot
 * of each row. Then one FMA per group into the row's lane, in group order,
 * scaled by the rows' scales times the input's (one IEEE product). C = 4:
 * 2 weight vectors, 4 int16 sums and 4 accumulators in registers. Every
 * lane's arithmetic is the same whatever C is and wherever the block falls,
 * so the matvec (C = 1) gives the gemm's bits. Decode prefetches the records
 * 2 KiB ahead, every other group the next two records' 320 bytes: five
 * lines, each once (three a group touched every other line twice). 110M
 * Q4_0 decode, 1 thread, against 1 KiB x three: arianna-run 1.01-1.04x
 * tok/s (three sets of 10-12 interleaved rounds, faster in 24 of 34), and
 * token by token in one process 1.00-1.09x, the more the quieter the
 * memory of this shared host. Five lines 1 KiB ahead were level, 1.5 or
 * 2.5 KiB 1.05x, three a group at 2 KiB 1.03x (kernel alone), and the same
 * pattern on the Q8_0 records 0.94x. Without a prefetch the kernel alone
 * was 0.83-0.88x: the hardware prefetcher does not keep up. */
static inline __attribute__((always_inline))
void gemm_q4_block(float *out, int ldo, const int8_t *xq, const float *xs, const int32_t *x8, const uint8_t *blk,
                   int n, int r0, int r1, int b, int t, const int C) {
    int groups = n / Q4_GROUP;
    const __m256i mask = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);
    __m256 acc[4];
    for (int c = 0; c < C; c++) acc[c] = _mm256_setzero_ps();
    for (int g = 0; g < groups; g++) {
        const uint8_t *rec = blk + (size_t)g * Q4_BLOCK;
        if (C == 1 && !(g & 1))
            for (int k = 0; k < 2 * Q4_BLOCK; k += 64) _mm_prefetch((const char *)(rec + Q4_PREFETCH + k), _MM_HINT_T0);
        __m256i s16[4];
        for (int c = 0; c < C; c++) s16[c] = _mm256_setzero_si256();
#pragma GCC unroll 1
        for (int m = 0; m < 4; m++) {
            __m256i raw = _mm256_load_si256((const __m256i *)(rec + 32 + 32 * m));
            __m256i lo = _mm256_and_si256(raw, mask), hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), mask);
            for (int c = 0; c < C; c++) {
                const int8_t *x = xq + (long)(t + c) * n + g * Q4_GROUP + 4 * m;
                int32_t wlo, whi;
                memcpy(&wlo, x, 4);
                memcpy(&whi, x + 16, 4);
                __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(lo, _mm256_set1_epi32(wlo)),
                                             _mm256_maddubs_epi16(hi, _mm256_set1_epi32(whi)));
                s16[c] = _mm256_add_epi16(s16[c], p);
            }
        }
        __m256 ws = _mm256_load_ps((const float *)rec);
        for (int c = 0; c < C; c++) {
            __m256i d = _mm256_sub_epi32(_mm256_madd_epi16(s16[c], ones),
                                         _mm256_set1_epi32(x8[(long)(t + c) * groups + g]));
            acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d),
                                     _mm256_mul_ps(ws, _mm256_set1_ps(xs[(long)(t + c) * groups + g])), acc[c]);
        }
    }
    int lo = b * 8 > r0 ? b * 8 : r0, hi = b * 8 + 8 < r1 ? b * 8 + 8 : r1;
    for (int c = 0; c < C; c++) {
        float *o = out + (long)(t + c) * ldo;
        if (lo == b * 8 && hi == b * 8 + 8) _mm256_storeu_ps(o + lo, acc[c]);
        else {
            float lane[8];
            _mm256_storeu_ps(lane, acc[c]);
            for (int r = lo; r < hi; r++) o[r] = lane[r - b * 8];
        }
    }
}

/* Blocks outer, inputs inner: a block's records (n / 32 * 160 bytes, 3.8
 * KiB at n = 768) stay in L1 while all T inputs pass. ws is unused: the
 * scales are in the records. */
void kern_gemm_q4(float *out, int ldo, const int8_t *xq, const float *xs, int T, const uint8_t *wq,
                  const float *ws, int n, int r0, int r1) {
    int groups = n / Q4_GROUP;
    int32_t x8[T * groups];
    for (int t = 0; t < T; t++) q4_input_sums(x8 + (long)t * groups, xq + (long)t * n, groups);
    for (int b = r0 / 8; b * 8 < r1; b++) {
        const uint8_t *blk = wq + (size_t)b * groups * Q4_BLOCK;
        int t = 0;
        for (; t + 4 <= T; t += 4) gemm_q4_block(out, ldo, xq, xs, x8, blk, n, r0, r1, b, t, 4);
        switch (T - t) {
        case 3: gemm_q4_block(out, ldo, xq, xs, x8, blk, n, r0, r1, b, t, 3); break;
        case 2: gemm_q4_block(out, ldo, xq, xs, x8, blk, n, r0, r1, b, t, 2); break;
        case 1: gemm_q4_block(out, ldo, xq, xs, x8, blk, n, r0, r1, b, t, 1); break;
        }
    }
}

void kern_matvec_q4(float *out, const int8_t *xq, const float *xs, const uint8_t *wq, const float *ws, int n,
                    int r0, int r1) {
    kern_gemm_q4(out, 0, xq, xs, 1, wq, ws, n, r0, r1);
}

/* roundf() in SIMD: _mm256_round_ps only rounds half to even, so truncate and
 * step one away from zero when the dropped fraction is >= 0.5 (v - trunc(v)
 * is exact for |v| < 2^23). */
static inline __m256 round_half_away(__m256 v) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    __m256 frac = _mm256_andnot_ps(sign, _mm256_sub_ps(v, t));
    __m256 away = _mm256_or_ps(_mm256_set1_ps(1.0f), _mm256_and_ps(sign, v));  /* copysign(1, v) */
    return _mm256_add_ps(t, _mm256_and_ps(_mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ), away));
}

/* Bit-identical to scalar_quantize_q8: max is order-free, and the division,
 * rounding and clamp are the same IEEE operations. */
void kern_quantize_q8(int8_t *q, float *s, const float *x, int n, int gs) {
    if (gs % 8 != 0) {
        scalar_quantize_q8(q, s, x, n, gs);
        return;
    }
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int g = 0; g < n / gs; g++) {
        const float *xg = x + (long)g * gs;
        int8_t *qg = q + (long)g * gs;
        __m256 m = _mm256_setzero_ps();
        /* max_ps returns its second operand on NaN: x first, so a NaN is
         * skipped the way fmaxf skips it */
        for (int j = 0; j < gs; j += 8) m = _mm256_max_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(xg + j)), m);
        float scale = hmax_ps(m) / 127.0f;
        s[g] = scale;
        if (!(scale > 0.0f)) {
            for (int j = 0; j < gs; j++) qg[j] = 0;
            continue;
        }
        __m256 sv = _mm256_set1_ps(scale);
        for (int j = 0; j < gs; j += 8) {
            __m256 v = round_half_away(_mm256_div_ps(_mm256_loadu_ps(xg + j), sv));
            v = _mm256_min_ps(_mm256_max_ps(v, _mm256_set1_ps(-127.0f)), _mm256_set1_ps(127.0f));
            __m256i i32 = _mm256_cvtps_epi32(v);  /* already integral: exact */
            __m128i i16 = _mm_packs_epi32(_mm256_castsi256_si128(i32), _mm256_extracti128_si256(i32, 1));
            _mm_storel_epi64((__m128i *)(qg + j), _mm_packs_epi16(i16, i16));
        }
    }
}

#else /* no AVX2 + FMA: the portable versions */

#include "kernels_generic.c"

#endif
