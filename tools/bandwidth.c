/*
 * bandwidth.c — a STREAM-like memory read-bandwidth probe.
 *
 * LLM decode reads every weight once per token, so the best tok/s a model can
 * reach is (read bandwidth) / (model bytes). This measures that ceiling: it
 * sums a buffer much larger than the last-level cache (default 1 GiB, shrunk
 * if the machine has little free memory) with 1, 2, ... threads, each thread
 * reading its own contiguous slice, and reports the best of N passes in GB/s
 * (1 GB = 1e9 bytes).
 *
 *   cc -O3 -march=native -pthread -o bandwidth tools/bandwidth.c   (x86-64)
 *   cc -O3 -mcpu=native  -pthread -o bandwidth tools/bandwidth.c   (aarch64)
 *
 *   bandwidth [--mib N] [--runs N] [--threads 1,2,4] [--json]
 *
 * tools/bench.ts builds and runs it with --json.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#if defined(__AVX2__)
#include <immintrin.h>
#define KERNEL_NAME "avx2"
#elif defined(__aarch64__) && defined(__ARM_NEON)
#include <arm_neon.h>
#define KERNEL_NAME "neon"
#else
#define KERNEL_NAME "c"
#endif

#define MAX_THREADS 256

/* Sum n bytes (a multiple of 128, 64-byte aligned) as 64-bit integers. */
static uint64_t sum_bytes(const void *p, size_t n) {
#if defined(__AVX2__)
    const __m256i *v = (const __m256i *)p;
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i < n / 32; i += 4) {
        a0 = _mm256_add_epi64(a0, _mm256_load_si256(v + i));
        a1 = _mm256_add_epi64(a1, _mm256_load_si256(v + i + 1));
        a2 = _mm256_add_epi64(a2, _mm256_load_si256(v + i + 2));
        a3 = _mm256_add_epi64(a3, _mm256_load_si256(v + i + 3));
    }
    a0 = _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3));
    uint64_t t[4];
    _mm256_storeu_si256((__m256i *)t, a0);
    return t[0] + t[1] + t[2] + t[3];
#elif defined(__aarch64__) && defined(__ARM_NEON)
    const uint64_t *q = (const uint64_t *)p;
    uint64x2_t a0 = vdupq_n_u64(0), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i < n / 8; i += 8) {
        a0 = vaddq_u64(a0, vld1q_u64(q + i));
        a1 = vaddq_u64(a1, vld1q_u64(q + i + 2));
        a2 = vaddq_u64(a2, vld1q_u64(q + i + 4));
        a3 = vaddq_u64(a3, vld1q_u64(q + i + 6));
    }
    a0 = vaddq_u64(vaddq_u64(a0, a1), vaddq_u64(a2, a3));
    return vgetq_lane_u64(a0, 0) + vgetq_lane_u64(a0, 1);
#else
    const uint64_t *q = (const uint64_t *)p;
    uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    for (size_t i = 0; i < n / 8; i += 4) {
        a0 += q[i];
        a1 += q[i + 1];
        a2 += q[i + 2];
        a3 += q[i + 3];
    }
    return a0 + a1 + a2 + a3;
#endif
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct {
    const uint8_t *base;
    size_t bytes;           /* this thread's slice */
    int runs;
    pthread_barrier_t *bar; /* shared: start and end of each pass */
    volatile uint64_t sink;
} worker;

static void *worker_main(void *arg) {
    worker *w = arg;
    for (int r = 0; r < w->runs; r++) {
        pthread_barrier_wait(w->bar);
        w->sink += sum_bytes(w->base, w->bytes);
        pthread_barrier_wait(w->bar);
    }
    return NULL;
}

/* Best GB/s over `runs` passes of `nt` threads over buf[0, size). */
static double measure(const uint8_t *buf, size_t size, int nt, int runs, uint64_t *check) {
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, (unsigned)nt);
    worker ws[MAX_THREADS];
    pthread_t th[MAX_THREADS];
    size_t slice = (size / (size_t)nt) & ~(size_t)127;
    for (int i = 0; i < nt; i++) {
        ws[i] = (worker){ .base = buf + (size_t)i * slice, .bytes = slice, .runs = runs, .bar = &bar, .sink = 0 };
    }
    for (int i = 1; i < nt; i++) {
        if (pthread_create(&th[i], NULL, worker_main, &ws[i]) != 0) {
            fprintf(stderr, "bandwidth: pthread_create failed\n");
            exit(1);
        }
    }
    double best = 1e30;
    for (int r = 0; r < runs; r++) {
        pthread_barrier_wait(&bar);
        double t0 = now_s();
        ws[0].sink += sum_bytes(ws[0].base, ws[0].bytes);
        pthread_barrier_wait(&bar);
        double dt = now_s() - t0;
        if (dt < best) best = dt;
    }
    for (int i = 1; i < nt; i++) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&bar);
    for (int i = 0; i < nt; i++) *check += ws[i].sink;
    return (double)slice * nt / best / 1e9;
}

/* Largest cache size the kernel reports for cpu0 (0 if unknown). */
static long llc_bytes(void) {
    long best = 0;
    for (int i = 0; i < 8; i++) {
        char path[96], buf[64];
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", i);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        if (fgets(buf, sizeof buf, f)) {
            char *end;
            long v = strtol(buf, &end, 10);
            if (*end == 'K') v <<= 10;
            else if (*end == 'M') v <<= 20;
            if (v > best) best = v;
        }
        fclose(f);
    }
    return best;
}

/* MemAvailable in bytes (0 if unknown). */
static long long mem_available(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return 0;
    char line[128];
    long long kb = 0;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "MemAvailable: %lld kB", &kb) == 1) break;
    }
    fclose(f);
    return kb * 1024;
}

static void usage(void) {
    fprintf(stderr,
            "usage: bandwidth [--mib N] [--runs N] [--threads 1,2,...] [--json]\n"
            "  --mib N       buffer size in MiB (default 1024, capped at 1/3 of free memory)\n"
            "  --runs N      passes per thread count, the best is reported (default 5)\n"
            "  --threads L   comma-separated thread counts (default 1,2 and all cores if more)\n"
            "  --json        one JSON object on stdout\n");
    exit(2);
}

int main(int argc, char **argv) {
    long long mib = -1;
    int runs = 5, json = 0, nthreads = 0;
    int threads[32];
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    if (ncpu < 1) ncpu = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--mib") && i + 1 < argc) mib = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc) runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--json")) json = 1;
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            char *s = argv[++i];
            while (*s && nthreads < 32) {
                int t = (int)strtol(s, &s, 10);
                if (t < 1 || t > MAX_THREADS) usage();
                threads[nthreads++] = t;
                if (*s == ',') s++;
                else if (*s) usage();
            }
        } else usage();
    }
    if (runs < 1) usage();
    if (nthreads == 0) {
        threads[nthreads++] = 1;
        if (ncpu >= 2) threads[nthreads++] = 2;
        if (ncpu > 2) threads[nthreads++] = (int)ncpu;
    }

    long llc = llc_bytes();
    long long size = (mib > 0 ? mib : 1024) << 20;
    long long avail = mem_available();
    int shrunk = 0;
    if (mib <= 0 && avail > 0 && size > avail / 3) {
        size = (avail / 3) & ~((1LL << 20) - 1);
        shrunk = 1;
    }
    if (size < (16LL << 20)) size = 16LL << 20;
    size &= ~((long long)128 * MAX_THREADS - 1);

    uint8_t *buf = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (buf == MAP_FAILED) {
        fprintf(stderr, "bandwidth: cannot map %lld MiB: %s\n", size >> 20, strerror(errno));
        return 1;
    }
    /* Touch every page with non-zero data (zero pages could be shared). */
    for (long long i = 0; i < size; i += 8) *(uint64_t *)(buf + i) = (uint64_t)i * 0x9e3779b97f4a7c15ULL;

    uint64_t check = 0;
    double gbps[32];
    for (int i = 0; i < nthreads; i++) gbps[i] = measure(buf, (size_t)size, threads[i], runs, &check);
    munmap(buf, (size_t)size);
    (void)check;

    if (json) {
        printf("{\"kernel\":\"%s\",\"buffer_bytes\":%lld,\"llc_bytes\":%ld,\"runs\":%d,\"cpus\":%ld,\"results\":[",
               KERNEL_NAME, size, llc, runs, ncpu);
        for (int i = 0; i < nthreads; i++)
            printf("%s{\"threads\":%d,\"gbps\":%.3f}", i ? "," : "", threads[i], gbps[i]);
        printf("]}\n");
    } else {
        printf("read bandwidth (%s, buffer %lld MiB%s, LLC %ld KiB, best of %d)\n", KERNEL_NAME, size >> 20,
               shrunk ? " (limited by free memory)" : "", llc >> 10, runs);
        for (int i = 0; i < nthreads; i++)
            printf("  %3d thread%s %8.2f GB/s\n", threads[i], threads[i] == 1 ? " " : "s", gbps[i]);
    }
    if (llc > 0 && size < 4LL * llc)
        fprintf(stderr, "bandwidth: warning: buffer is less than 4x the last-level cache\n");
    return 0;
}
