/*
 * bench_kernels.c — single-thread matvec throughput, kern_* against scalar_*,
 * fp32 against Q8_0. GB/s counts the weight bytes a call reads (values plus
 * Q8_0 scales), the number that bounds decode speed. Then the gemm (prefill)
 * against T matvecs over a block of BATCH inputs, in GFLOP/s.
 *
 *   cc -std=c11 -D_GNU_SOURCE -O3 -march=native -I csrc csrc/tests/bench_kernels.c \
 *      csrc/kernels_scalar.c csrc/kernels_x86.c -lm && ./a.out
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "kernels.h"

#define GS 64
#define BATCH 32

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

typedef struct {
    int rows, n, T;
    float *x, *w, *out, *xs, *ws;
    int8_t *xq, *wq;
} shape;

/* Best of several ~0.1 s runs: the host is shared, the minimum is the signal. */
static double best_seconds(void (*fn)(shape *, int), shape *s, int which) {
    double best = 1e30;
    for (int rep = 0; rep < 5; rep++) {
        int iters = 0;
        double t0 = now(), t;
        do {
            fn(s, which);
            iters++;
        } while ((t = now()) - t0 < 0.1);
        if ((t - t0) / iters < best) best = (t - t0) / iters;
    }
    return best;
}

static void run_f32(shape *s, int kern) {
    (kern ? kern_matvec_f32 : scalar_matvec_f32)(s->out, s->x, s->w, s->n, 0, s->rows);
}
static void run_q8(shape *s, int kern) {
    (kern ? kern_matvec_q8 : scalar_matvec_q8)(s->out, s->xq, s->xs, s->wq, s->ws, s->n, GS, 0, s->rows);
}

/* the block in blocks of 16 rows, as the core's workers take it */
static void run_f32_block(shape *s, int gemm) {
    for (int r = 0; r < s->rows; r += 16) {
        int re = r + 16 < s->rows ? r + 16 : s->rows;
        if (gemm) kern_gemm_f32(s->out, s->rows, s->x, s->n, s->T, s->w, s->n, s->n, r, re);
        else
            for (int t = 0; t < s->T; t++) kern_matvec_f32(s->out + (long)t * s->rows, s->x + (long)t * s->n, s->w, s->n, r, re);
    }
}
static void run_q8_block(shape *s, int gemm) {
    for (int r = 0; r < s->rows; r += 16) {
        int re = r + 16 < s->rows ? r + 16 : s->rows;
        if (gemm) kern_gemm_q8(s->out, s->rows, s->xq, s->xs, s->T, s->wq, s->ws, s->n, GS, r, re);
        else
            for (int t = 0; t < s->T; t++)
                kern_matvec_q8(s->out + (long)t * s->rows, s->xq + (long)t * s->n, s->xs + (long)t * (s->n / GS), s->wq,
                               s->ws, s->n, GS, r, re);
    }
}

static void bench(int rows, int n) {
    shape s = {.rows = rows, .n = n, .T = BATCH};
    long size = (long)rows * n;
    s.x = malloc((size_t)BATCH * n * sizeof(float));
    s.w = malloc(size * sizeof(float));
    s.out = malloc((size_t)BATCH * rows * sizeof(float));
    s.xq = malloc((size_t)BATCH * n);
    s.xs = malloc((size_t)BATCH * n / GS * sizeof(float));
    s.wq = malloc(size);
    s.ws = malloc(size / GS * sizeof(float));
    for (long j = 0; j < (long)BATCH * n; j++) s.x[j] = (float)rand() / RAND_MAX - 0.5f;
    for (long i = 0; i < size; i++) s.w[i] = (float)rand() / RAND_MAX - 0.5f;
    kern_quantize_q8(s.xq, s.xs, s.x, BATCH * n, GS);
    kern_quantize_q8(s.wq, s.ws, s.w, (int)size, GS);

    double f32_bytes = size * 4.0, q8_bytes = size + size / GS * 4.0;
    struct { const char *name; void (*fn)(shape *, int); int kern; double bytes; } runs[] = {
        {"fp32 scalar", run_f32, 0, f32_bytes}, {"fp32 kern  ", run_f32, 1, f32_bytes},
        {"q8   scalar", run_q8, 0, q8_bytes},   {"q8   kern  ", run_q8, 1, q8_bytes},
    };
    for (int i = 0; i < 4; i++) {
        double sec = best_seconds(runs[i].fn, &s, runs[i].kern);
        printf("%5d x %-5d %s  %8.1f us  %6.2f GB/s\n", rows, n, runs[i].name, sec * 1e6,
               runs[i].bytes / sec * 1e-9);
    }
    struct { const char *name; void (*fn)(shape *, int); int gemm; } blocks[] = {
        {"fp32 matvec x T", run_f32_block, 0}, {"fp32 gemm      ", run_f32_block, 1},
        {"q8   matvec x T", run_q8_block, 0},  {"q8   gemm      ", run_q8_block, 1},
    };
    for (int i = 0; i < 4; i++) {
        double sec = best_seconds(blocks[i].fn, &s, blocks[i].gemm);
        printf("%5d x %-5d %s T=%d  %8.1f us  %6.2f GFLOP/s\n", rows, n, blocks[i].name, BATCH, sec * 1e6,
               2.0 * size * BATCH / sec * 1e-9);
    }
    free(s.x);
    free(s.w);
    free(s.out);
    free(s.xq);
    free(s.xs);
    free(s.wq);
    free(s.ws);
}

int main(void) {
    kern_init();
    printf("kern_name: %s (single thread, Q8_0 group %d)\n", kern_name(), GS);
    bench(768, 2048);
    bench(32000, 288);
    bench(768, 288);
    return 0;
}
