/*
 * arianna.c — the InnerArianna inference core, in the llama2.c lineage.
 *
 * Top to bottom:
 *   1. errors and file mapping
 *   2. model files: header parsing, validation, weight pointers (v0, v1, v2)
 *   3. the thread pool (persistent pthreads; zig cannot link OpenMP)
 *   4. the forward pass (RMSNorm, RoPE, GQA attention, SwiGLU, fp32 KV cache)
 *   5. sessions
 *   6. the sampler (bias, repetition penalty, temperature, top-k, top-p,
 *      entropy)
 *   7. sd_notify for systemd
 * The tokenizer lives in tokenizer.c and the SIMD loops in kernels_*.c.
 */
#include "arianna.h"
#include "internal.h"
#include "kernels.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#elif defined(__aarch64__)
#define cpu_relax() __asm__ __volatile__("yield")
#else
#define cpu_relax() ((void)0)
#endif

#define AR_VERSION "0.1.0"

/* ----------------------------------------------------------------------------
 * 1. errors and file mapping */

static _Thread_local char g_err_msg[512];
static _Thread_local int g_err_code;

int ar_fail(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_err_msg, sizeof g_err_msg, fmt, ap);
    va_end(ap);
    g_err_code = code;
    return code;
}

void ar_clear_error(void) {
    g_err_msg[0] = '\0';
    g_err_code = AR_OK;
}

const char *ar_last_error(void) { return g_err_msg; }
int ar_last_error_code(void) { return g_err_code; }
const char *ar_version(void) { return AR_VERSION; }
const char *ar_kernel_name(void) {
    kern_init();
    return kern_name();
}

int ar_open_file(const char *path, const char *what, size_t *size) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO must not block the loader */
    if (fd < 0) return ar_fail(AR_E_IO, "cannot open %s%s: %s", what, path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return ar_fail(AR_E_IO, "cannot stat %s%s: %s", what, path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return ar_fail(AR_E_IO, "%s%s is not a regular file", what, path);
    }
    *size = (size_t)st.st_size;
    return fd;
}

int ar_map_file(const char *path, ar_mapping *out) {
    out->data = NULL;
    out->size = 0;
    if (!path) return ar_fail(AR_E_ARG, "no path given");
    size_t len;
    int fd = ar_open_file(path, "", &len);
    if (fd < 0) return fd;
    if (len == 0) {
        close(fd);
        return ar_fail(AR_E_FORMAT, "%s is empty", path);
    }
    /* The mapping is rounded to whole pages; the page size is asked for, not
     * assumed (the Pi 5 kernel uses 16 KiB pages). */
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0) page = 4096;
    size_t maplen = (len + (size_t)page - 1) / (size_t)page * (size_t)page;
    void *p = mmap(NULL, maplen, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED) return ar_fail(AR_E_IO, "cannot map %s: %s", path, strerror(e));
    madvise(p, maplen, MADV_WILLNEED);
    out->data = p;
    out->size = len;
    return AR_OK;
}

void ar_unmap_file(ar_mapping *m) {
    if (!m->data) return;
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0) page = 4096;
    size_t maplen = (m->size + (size_t)page - 1) / (size_t)page * (size_t)page;
    munmap((void *)m->data, maplen);
    m->data = NULL;
    m->size = 0;
}

/* ----------------------------------------------------------------------------
 * 2. model files
 *
 * v0 (legacy): 7 x int32 header; vocab_size < 0 means a separate classifier.
 *   fp32: tok_emb, rms_att, wq, wk, wv, wo, rms_ffn, w1, w2, w3, rms_final,
 *   two legacy RoPE tables (skipped), [wcls].
 * v1: 256-byte header (magic "ak42", version, 7 x int32, shared flag at 36).
 *   fp32: rms_att, rms_ffn, rms_final, tok_emb, wq, wk, wv, wo, w1, w2, w3, [wcls].
 * v2 (Q8_0): as v1 with version 2 and int32 group_size at byte 37. fp32 norms,
 *   then tok_emb, wq of every layer, wk of every layer, ... w3, [wcls], each
 *   layer's matrix as its int8 values followed by its fp32 scales.
 * v3 (Q4_0): as v2 with version 3 and group_size 32; each matrix's values are
 *   4-bit, two to a byte (the layout of kernels.h: per group of 32, byte j
 *   holds value j low and value j + 16 high, each + 8), then its fp32 scales.
 * docs/architecture.md §4 describes the formats in full.
 */

#define AR_MAGIC 0x616b3432u
#define AR_HEADER_V1 256

typedef struct {
    int dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
} ar_config;

/* A weight matrix for all layers: fp32 with the layers back to back, or
 * Q8_0, where llama2.c stores every layer as its own tensor (its int8 values,
 * then its scales), so each layer has its own pair of pointers. */
typedef struct {
    const float *f;    /* fp32 values, or NULL                     */
    const int8_t **q;  /* Q8_0 values (v3: Q4_0 bytes; see pack_weights) of each layer, or NULL */
    const float **s;   /* their scales, one per group                */
} ar_tensor;

typedef struct {
    const float *rms_att, *rms_ffn, *rms_final;
    ar_tensor tok_emb, wq, wk, wv, wo, w1, w2, w3, wcls;
} ar_weights;

typedef struct ar_pool ar_pool;

struct ar_model {
    ar_config cfg;
    int format;          /* 0, 1, 2, 3 */
    int group_size;      /* Q8_0 and Q4_0 only */
    int shared_classifier;
    int64_t n_params;
    ar_mapping map;
    ar_weights w;
    float *rope_cos, *rope_sin; /* seq_len x head_size/2 */
    float *scale_copies;        /* Q8_0 scales re-aligned when misaligned in the file */
    const void **q8_pointers;   /* storage for the per-layer pointers of ar_tensor */
    uint8_t *packed;            /* Q8_0 / Q4_0 matrices in the kernels' layout, or NULL */
    uint8_t *f32_copy;          /* the fp32 file's bytes in huge pages, or NULL */
    const int8_t *cls_q;        /* the packed classifier when it shares the */
    const float *cls_s;         /* embedding table (whose lookup reads the file) */
    ar_pool *pool;
    pthread_mutex_t lock;       /* one forward pass at a time per model */
};

/* Bounds that keep every size computation far from overflow and reject
 * absurd headers before anything is allocated. */
#define MAX_DIM (1 << 16)
#define MAX_HIDDEN (1 << 18)
#define MAX_LAYERS 1024
#define MAX_VOCAB (1 << 22)
#define MAX_SEQ (1 << 20)

static int read_i32(const uint8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

static int validate_config(const ar_config *c, const char *path) {
    if (c->dim <= 0 || c->hidden_dim <= 0 || c->n_layers <= 0 || c->n_heads <= 0 ||
        c->n_kv_heads <= 0 || c->vocab_size <= 0 || c->seq_len <= 0)
        return ar_fail(AR_E_FORMAT,
                       "%s: dims must be positive (dim %d, hidden %d, layers %d, heads %d, "
                       "kv_heads %d, vocab %d, seq_len %d)",
                       path, c->dim, c->hidden_dim, c->n_layers, c->n_heads, c->n_kv_heads,
                       c->vocab_size, c->seq_len);
    if (c->dim > MAX_DIM || c->hidden_dim > MAX_HIDDEN || c->n_layers > MAX_LAYERS ||
        c->vocab_size > MAX_VOCAB || c->seq_len > MAX_SEQ)
        return ar_fail(AR_E_FORMAT, "%s: dims out of range (dim %d, hidden %d, layers %d, vocab %d, seq_len %d)",
                       path, c->dim, c->hidden_dim, c->n_layers, c->vocab_size, c->seq_len);
    if (c->n_heads > c->dim || c->dim % c->n_heads != 0)
        return ar_fail(AR_E_FORMAT, "%s: dim %d is not a multiple of n_heads %d", path, c->dim, c->n_heads);
    if ((c->dim / c->n_heads) % 2 != 0)
        return ar_fail(AR_E_FORMAT, "%s: head size %d is odd (RoPE needs pairs)", path, c->dim / c->n_heads);
    if (c->n_kv_heads > c->n_heads || c->n_heads % c->n_kv_heads != 0)
        return ar_fail(AR_E_FORMAT, "%s: n_kv_heads %d does not divide n_heads %d", path, c->n_kv_heads, c->n_heads);
    return AR_OK;
}

/* Walks a mapped file, handing out consecutive tensors and checking bounds. */
typedef struct {
    const uint8_t *base;
    size_t size, off;
} cursor;

static const float *take_f32(cursor *c, uint64_t count) {
    uint64_t bytes = count * 4;
    if (c->off > c->size || bytes > c->size - c->off) return NULL;
    const float *p = (const float *)(c->base + c->off);
    c->off += bytes;
    return p;
}

/* A quantized tensor of count values in value_bytes bytes, then its scales. */
static int take_q(cursor *c, uint64_t count, uint64_t value_bytes, int gs, const int8_t **q, const float **s,
                  float **scale_copy) {
    if (c->off > c->size || value_bytes > c->size - c->off) return -1;
    *q = (const int8_t *)(c->base + c->off);
    c->off += value_bytes;
    uint64_t ns = count / (uint64_t)gs, bytes = ns * 4;
    if (c->off > c->size || bytes > c->size - c->off) return -1;
    const uint8_t *sp = c->base + c->off;
    c->off += bytes;
    if (((uintptr_t)sp & 3u) == 0) {
        *s = (const float *)sp;
    } else {
        /* int8 runs of odd length leave the scales unaligned: copy them. */
        memcpy(*scale_copy, sp, bytes);
        *s = *scale_copy;
        *scale_copy += ns;
    }
    return 0;
}

/* Expected byte size of the whole file for a given header. */
static uint64_t expected_size(const ar_config *c, int format, int gs, int shared) {
    uint64_t D = c->dim, H = c->hidden_dim, L = c->n_layers, V = c->vocab_size, S = c->seq_len;
    uint64_t hs = D / c->n_heads, KV = hs * c->n_kv_heads;
    uint64_t norms = L * D * 2 + D;
    uint64_t mats[] = {V * D, L * D * D, L * KV * D, L * KV * D, L * D * D, L * H * D, L * D * H, L * H * D,
                       shared ? 0 : V * D};
    uint64_t total = 0;
    if (format == 2 || format == 3) {
        total = AR_HEADER_V1 + norms * 4;
        for (int i = 0; i < 9; i++) total += (format == 2 ? mats[i] : mats[i] / 2) + mats[i] / gs * 4;
        return total;
    }
    for (int i = 0; i < 9; i++) total += mats[i];
    total += norms;
    if (format == 0) return 28 + (total + S * hs) * 4; /* + two RoPE tables of S*hs/2 */
    return AR_HEADER_V1 + total * 4;
}

static int parse_header(ar_model *m, const char *path) {
    const uint8_t *p = m->map.data;
    size_t n = m->map.size;
    ar_config *c = &m->cfg;
    uint32_t magic = 0;
    if (n >= 4) memcpy(&magic, p, 4);
    if (magic == AR_MAGIC) {
        if (n < AR_HEADER_V1)
            return ar_fail(AR_E_FORMAT, "%s: truncated header (%zu of %d bytes)", path, n, AR_HEADER_V1);
        int version = read_i32(p + 4);
        if (version < 1 || version > 3)
            return ar_fail(AR_E_FORMAT, "%s: unsupported version %d (expected 1, 2 or 3)", path, version);
        int *dims = &c->dim;
        for (int i = 0; i < 7; i++) dims[i] = read_i32(p + 8 + 4 * i);
        if (p[36] > 1) return ar_fail(AR_E_FORMAT, "%s: shared_classifier flag is %d", path, p[36]);
        m->format = version;
        m->shared_classifier = p[36];
        m->group_size = version >= 2 ? read_i32(p + 37) : 0;
    } else {
        if (n < 28) return ar_fail(AR_E_FORMAT, "%s: too short for any model header (%zu bytes)", path, n);
        int *dims = &c->dim;
        for (int i = 0; i < 7; i++) dims[i] = read_i32(p + 4 * i);
        m->format = 0;
        m->shared_classifier = c->vocab_size > 0;
        if (c->vocab_size < 0 && c->vocab_size != INT32_MIN) c->vocab_size = -c->vocab_size;
    }
    int rc = validate_config(c, path);
    if (rc) return rc;
    if (m->format == 2) {
        int gs = m->group_size;
        /* llama2.c's runq.c quietly misbehaves when hidden_dim % gs != 0: refuse. */
        if (gs <= 0 || gs > c->dim || c->dim % gs != 0 || c->hidden_dim % gs != 0)
            return ar_fail(AR_E_FORMAT, "%s: Q8_0 group size %d must divide dim %d and hidden_dim %d", path, gs,
                           c->dim, c->hidden_dim);
    }
    if (m->format == 3 && (m->group_size != Q4_GROUP || c->dim % Q4_GROUP != 0 || c->hidden_dim % Q4_GROUP != 0))
        return ar_fail(AR_E_FORMAT, "%s: Q4_0 needs group size %d (got %d) dividing dim %d and hidden_dim %d", path,
                       Q4_GROUP, m->group_size, c->dim, c->hidden_dim);
    uint64_t want = expected_size(c, m->format, m->group_size, m->shared_classifier);
    if (want != n)
        return ar_fail(AR_E_FORMAT, "%s: size is %zu bytes but the header (v%d, dim %d, layers %d, vocab %d) needs %llu",
                       path, n, m->format, c->dim, c->n_layers, c->vocab_size, (unsigned long long)want);
    return AR_OK;
}

static int map_weights(ar_model *m) {
    ar_config *c = &m->cfg;
    ar_weights *w = &m->w;
    uint64_t D = c->dim, H = c->hidden_dim, L = c->n_layers, V = c->vocab_size, S = c->seq_len;
    uint64_t hs = D / c->n_heads, KV = hs * c->n_kv_heads;
    cursor cur = {m->map.data, m->map.size, m->format == 0 ? 28 : AR_HEADER_V1};
    int ok = 1;
#define F32(dst, count) ok = ok && ((dst) = take_f32(&cur, (count))) != NULL
    if (m->format == 0) {
        F32(w->tok_emb.f, V * D);
        F32(w->rms_att, L * D);
        F32(w->wq.f, L * D * D);
        F32(w->wk.f, L * KV * D);
        F32(w->wv.f, L * KV * D);
        F32(w->wo.f, L * D * D);
        F32(w->rms_ffn, L * D);
        F32(w->w1.f, L * H * D);
        F32(w->w2.f, L * D * H);
        F32(w->w3.f, L * H * D);
        F32(w->rms_final, D);
        ok = ok && take_f32(&cur, S * hs) != NULL; /* legacy RoPE tables, unused */
        if (m->shared_classifier) w->wcls = w->tok_emb;
        else F32(w->wcls.f, V * D);
    } else if (m->format == 1) {
        F32(w->rms_att, L * D);
        F32(w->rms_ffn, L * D);
        F32(w->rms_final, D);
        F32(w->tok_emb.f, V * D);
        F32(w->wq.f, L * D * D);
        F32(w->wk.f, L * KV * D);
        F32(w->wv.f, L * KV * D);
        F32(w->wo.f, L * D * D);
        F32(w->w1.f, L * H * D);
        F32(w->w2.f, L * D * H);
        F32(w->w3.f, L * H * D);
        if (m->shared_classifier) w->wcls = w->tok_emb;
        else F32(w->wcls.f, V * D);
    } else {
        int gs = m->group_size;
        F32(w->rms_att, L * D);
        F32(w->rms_ffn, L * D);
        F32(w->rms_final, D);
        /* Per-layer element counts and how many layers each kind has. */
        uint64_t counts[9] = {V * D, D * D, KV * D, KV * D, D * D, H * D, D * H, H * D, V * D};
        uint64_t layers[9] = {1, L, L, L, L, L, L, L, 1};
        ar_tensor *ts[9] = {&w->tok_emb, &w->wq, &w->wk, &w->wv, &w->wo, &w->w1, &w->w2, &w->w3, &w->wcls};
        uint64_t total_scales = 0, total_layers = 0;
        for (int i = 0; i < 9; i++) {
            total_scales += layers[i] * counts[i] / gs;
            total_layers += layers[i];
        }
        m->scale_copies = malloc(total_scales * sizeof(float));
        m->q8_pointers = malloc(total_layers * 2 * sizeof(void *));
        if (!m->scale_copies || !m->q8_pointers) return ar_fail(AR_E_NOMEM, "out of memory for Q8_0 tables");
        float *copy = m->scale_copies;
        const void **slot = m->q8_pointers;
        int n_tensors = m->shared_classifier ? 8 : 9;
        for (int i = 0; i < n_tensors && ok; i++) {
            ts[i]->q = (const int8_t **)slot;
            ts[i]->s = (const float **)(slot + layers[i]);
            slot += 2 * layers[i];
            for (uint64_t l = 0; l < layers[i] && ok; l++)
                ok = take_q(&cur, counts[i], m->format == 2 ? counts[i] : counts[i] / 2, gs, &ts[i]->q[l],
                            &ts[i]->s[l], &copy) == 0;
        }
        if (m->shared_classifier) w->wcls = w->tok_emb;
        /* Symmetric Q8_0 never produces -128, and the SIMD kernels rely on
         * that (|q| <= 127 keeps the x86 sign trick and the int16 pair sums
         * exact): refuse a file that has one rather than compute wrong sums. */
        for (int i = 0; i < n_tensors && ok && m->format == 2; i++)
            for (uint64_t l = 0; l < layers[i]; l++)
                for (uint64_t k = 0; k < counts[i]; k++)
                    if (ts[i]->q[l][k] == INT8_MIN)
                        return ar_fail(AR_E_FORMAT, "Q8_0 tensor %d, layer %d holds the value -128", i, (int)l);
    }
#undef F32
    /* parse_header checked the exact size, so this only guards the arithmetic. */
    if (!ok || cur.off != cur.size) return ar_fail(AR_E_FORMAT, "model file layout does not match its header");
    return AR_OK;
}

/* A buffer of at least `bytes` in whole 2 MiB pages that asks for
 * transparent huge pages (fewer TLB misses as decode streams it), or NULL. */
#define HUGE_PAGE ((size_t)2 << 20)
static uint8_t *alloc_huge(size_t bytes) {
    size_t total = (bytes + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
    uint8_t *p = aligned_alloc(HUGE_PAGE, total);
    if (p) madvise(p, total, MADV_HUGEPAGE);
    return p;
}

/* The bytes kern_pack_q8 / kern_pack_q4 write for one matrix (dst NULL: just
 * count them), 0 when the kernels read the file layout. */
static size_t pack_matrix(const ar_model *m, uint8_t *dst, const int8_t *q, const float *s, int rows, int cols) {
    if (m->format == 3) return kern_pack_q4(dst, (const uint8_t *)q, s, rows, cols);
    return kern_pack_q8(dst, q, s, rows, cols, m->group_size);
}

/* Drop the whole pages of [p, p + len) from the file mapping (the page cache
 * keeps the file; a later read would fault them back in). */
static void release_pages(const void *p, size_t len) {
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0) page = 4096;
    uintptr_t lo = ((uintptr_t)p + page - 1) / page * page, hi = ((uintptr_t)p + len) / page * page;
    if (hi > lo) madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

/* Q8_0 and Q4_0 matrices in the kernels' own layout when they have one
 * (kernels.h, kern_pack_q8 / kern_pack_q4): every matrix the matvec and gemm
 * read, copied once at load into one buffer; the embedding lookup keeps
 * reading the file. On x86 both layouts interleave 8 rows (kernels_x86.c).
 * The buffer asks for huge pages (fewer TLB misses as decode streams it):
 * 110M Q4_0 arianna-run 1.12x tok/s (1 thread, medians of 5 interleaved
 * runs, load 1.2). Each matrix's file pages (values and scales) are dropped
 * once packed, as copy_f32 does, so RSS peaks near one model, not two. */
static int pack_weights(ar_model *m) {
    if (m->format < 2 || pack_matrix(m, NULL, NULL, NULL, 1, m->group_size) == 0) return AR_OK;
    const ar_config *c = &m->cfg;
    ar_weights *w = &m->w;
    int D = c->dim, H = c->hidden_dim, L = c->n_layers, KV = D / c->n_heads * c->n_kv_heads;
    if (m->shared_classifier) {
        m->cls_q = w->tok_emb.q[0];
        m->cls_s = w->tok_emb.s[0];
        w->wcls.q = &m->cls_q;
        w->wcls.s = &m->cls_s;
    }
    ar_tensor *ts[8] = {&w->wq, &w->wk, &w->wv, &w->wo, &w->w1, &w->w2, &w->w3, &w->wcls};
    int rows[8] = {D, KV, KV, D, H, D, H, c->vocab_size}, cols[8] = {D, D, D, D, D, H, D, D};
    int layers[8] = {L, L, L, L, L, L, L, 1};
    size_t total = 0;
    for (int i = 0; i < 8; i++) total += layers[i] * pack_matrix(m, NULL, NULL, NULL, rows[i], cols[i]);
    m->packed = alloc_huge(total);
    if (!m->packed) return ar_fail(AR_E_NOMEM, "out of memory for the packed weights");
    uint8_t *dst = m->packed;
    for (int i = 0; i < 8; i++)
        for (int l = 0; l < layers[i]; l++) {
            const int8_t *q = ts[i]->q[l];
            const float *s = ts[i]->s[l];
            size_t bytes = pack_matrix(m, dst, q, s, rows[i], cols[i]);
            if (q != w->tok_emb.q[0]) {
                size_t values = (size_t)rows[i] * cols[i];
                release_pages(q, m->format == 3 ? values / 2 : values);
                release_pages(s, values / m->group_size * sizeof(float));
            }
            ts[i]->q[l] = (const int8_t *)dst;
            ts[i]->s[l] = NULL;
            dst += bytes;
        }
    return AR_OK;
}

/* fp32 models (v0, v1) on x86: the file's bytes copied at load into a
 * huge-page buffer, the way pack_weights does for Q8_0 and Q4_0. Decode reads every weight
 * once a token, ~440 MB at 110M; from the file mapping's 4 KiB pages that is
 * ~110k TLB misses a token (this VM's perf has no TLB counters to show it).
 * 110M arianna-run, 1 thread, 18 alternating pairs (load 2.0-2.2): +6 % tok/s
 * median (21.5 -> 22.8, 23.5 -> 24.9), faster in 16 of 18; the same copy in
 * 4 KiB pages was 0.88x, so it is the pages, not the copy. 15M prefill +2.6 %
 * (gemm-bound, within noise). Each 2 MiB of the mapping is dropped as soon as
 * it is copied (the page cache keeps the file), so RSS peaks at one model,
 * as the mapping alone did once decoded. Measured on x86 only; elsewhere the
 * weights stay in the file mapping (the page cache can reclaim it). */
#if defined(__x86_64__)
static const float *rebase(const float *p, const uint8_t *from, const uint8_t *to) {
    return p ? (const float *)(to + ((const uint8_t *)p - from)) : NULL;
}

static int copy_f32(ar_model *m) {
    if (m->format > 1) return AR_OK;
    const uint8_t *src = m->map.data;
    size_t n = m->map.size;
    if (!(m->f32_copy = alloc_huge(n))) return ar_fail(AR_E_NOMEM, "out of memory for the fp32 weights");
    for (size_t off = 0; off < n; off += HUGE_PAGE) {
        size_t len = n - off < HUGE_PAGE ? n - off : HUGE_PAGE;
        memcpy(m->f32_copy + off, src + off, len);
        madvise((void *)(src + off), len, MADV_DONTNEED);
    }
    ar_weights *w = &m->w;
    w->rms_att = rebase(w->rms_att, src, m->f32_copy);
    w->rms_ffn = rebase(w->rms_ffn, src, m->f32_copy);
    w->rms_final = rebase(w->rms_final, src, m->f32_copy);
    ar_tensor *ts[9] = {&w->tok_emb, &w->wq, &w->wk, &w->wv, &w->wo, &w->w1, &w->w2, &w->w3, &w->wcls};
    for (int i = 0; i < 9; i++) ts[i]->f = rebase(ts[i]->f, src, m->f32_copy);
    return AR_OK;
}
#else
static int copy_f32(ar_model *m) { return AR_OK; }
#endif

/* RoPE rotation tables, computed exactly as llama2.c does per step so greedy
 * decoding stays token-identical to its `run`. */
static int build_rope(ar_model *m) {
    int hs = m->cfg.dim / m->cfg.n_heads, half = hs / 2;
    size_t n = (size_t)m->cfg.seq_len * half;
    m->rope_cos = malloc(n * sizeof(float));
    m->rope_sin = malloc(n * sizeof(float));
    float *freq = malloc((size_t)half * sizeof(float));
    if (!m->rope_cos || !m->rope_sin || !freq) {
        free(freq);
        return ar_fail(AR_E_NOMEM, "out of memory for RoPE tables");
    }
    /* the same float expression as llama2.c, hoisted: it depends on i only */
    for (int i = 0; i < half; i++) freq[i] = 1.0f / powf(10000.0f, (float)(2 * i) / (float)hs);
    for (int pos = 0; pos < m->cfg.seq_len; pos++) {
        for (int i = 0; i < half; i++) {
            float val = pos * freq[i];
            m->rope_cos[(size_t)pos * half + i] = cosf(val);
            m->rope_sin[(size_t)pos * half + i] = sinf(val);
        }
    }
    free(freq);
    return AR_OK;
}

static ar_pool *pool_new(int n_threads);
static void pool_free(ar_pool *p);
static int pool_size(const ar_pool *p);

ar_model *ar_model_open(const char *path, int n_threads) {
    ar_clear_error();
    kern_init();
    ar_model *m = calloc(1, sizeof *m);
    if (!m) {
        ar_fail(AR_E_NOMEM, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&m->lock, NULL);
    if (ar_map_file(path, &m->map) || parse_header(m, path) || map_weights(m) || pack_weights(m) || copy_f32(m) || build_rope(m)) goto fail;
    {
        const ar_config *c = &m->cfg;
        int64_t D = c->dim, H = c->hidden_dim, L = c->n_layers, V = c->vocab_size;
        int64_t KV = D / c->n_heads * c->n_kv_heads;
        m->n_params = V * D + L * (2 * D * D + 2 * KV * D + 3 * H * D + 2 * D) + D + (m->shared_classifier ? 0 : V * D);
    }
    if (n_threads <= 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = cpus > 0 ? (int)cpus : 1;
    }
    if (n_threads > 64) n_threads = 64;
    m->pool = pool_new(n_threads);
    if (!m->pool) {
        ar_fail(AR_E_NOMEM, "cannot start %d threads", n_threads);
        goto fail;
    }
    return m;
fail:
    ar_model_free(m);
    return NULL;
}

void ar_model_free(ar_model *m) {
    if (!m) return;
    pool_free(m->pool);
    ar_unmap_file(&m->map);
    free(m->rope_cos);
    free(m->rope_sin);
    free(m->scale_copies);
    free(m->q8_pointers);
    free(m->packed);
    free(m->f32_copy);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

int64_t ar_model_info(const ar_model *m, int key) {
    if (!m) return -1;
    const ar_config *c = &m->cfg;
    switch (key) {
    case AR_INFO_DIM: return c->dim;
    case AR_INFO_HIDDEN_DIM: return c->hidden_dim;
    case AR_INFO_N_LAYERS: return c->n_layers;
    case AR_INFO_N_HEADS: return c->n_heads;
    case AR_INFO_N_KV_HEADS: return c->n_kv_heads;
    case AR_INFO_VOCAB_SIZE: return c->vocab_size;
    case AR_INFO_SEQ_LEN: return c->seq_len;
    case AR_INFO_FORMAT: return m->format;
    case AR_INFO_GROUP_SIZE: return m->group_size;
    case AR_INFO_SHARED_CLASSIFIER: return m->shared_classifier;
    case AR_INFO_N_PARAMS: return m->n_params;
    case AR_INFO_FILE_BYTES: return (int64_t)m->map.size;
    case AR_INFO_N_THREADS: return pool_size(m->pool);
    default: return -1;
    }
}

/* ----------------------------------------------------------------------------
 * 3. the thread pool
 *
 * The caller's thread is worker 0; n-1 pthreads wait for work. A forward pass
 * dispatches ~6 jobs per layer, a few microseconds each on small models, so
 * waking sleepers through a condition variable every time would cost more than
 * the work. Workers therefore spin on a generation counter for a while after
 * each job and only then sleep; between replies they are asleep.
 *
 * A job opens n-1 seats; a worker that wakes takes one and runs the job. The
 * caller, once it has run out of work, closes the seats that are left and
 * waits only for the workers that sat down: a worker that has lost its core
 * before reaching the job no longer stalls it (the job's work is shared out
 * dynamically, so the caller has done that worker's share).
 */

typedef void (*ar_job_fn)(void *ctx, int ti, int nt);

struct ar_pool {
    int n; /* total threads, including the caller */
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_uint generation;
    atomic_int seats;   /* workers that may still join the current job */
    atomic_int done;    /* workers that joined it and have finished    */
    atomic_bool stop;
    ar_job_fn fn;
    void *ctx;
};

typedef struct {
    ar_pool *pool;
    int ti;
} worker_arg;

#define SPIN_ROUNDS 20000 /* ~50-100 us of polling before sleeping */

static void *worker_main(void *arg) {
    worker_arg *wa = arg;
    ar_pool *p = wa->pool;
    int ti = wa->ti;
    free(wa);
    unsigned seen = 0;
    for (;;) {
        unsigned g;
        int spins = 0;
        while ((g = atomic_load_explicit(&p->generation, memory_order_acquire)) == seen &&
               !atomic_load_explicit(&p->stop, memory_order_relaxed) && spins < SPIN_ROUNDS) {
            cpu_relax();
            spins++;
        }
        if (g == seen) {
            pthread_mutex_lock(&p->mu);
            while ((g = atomic_load_explicit(&p->generation, memory_order_acquire)) == seen &&
                   !atomic_load_explicit(&p->stop, memory_order_relaxed))
                pthread_cond_wait(&p->cv, &p->mu);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load_explicit(&p->stop, memory_order_relaxed)) return NULL;
        seen = g;
        int free_seats = atomic_load_explicit(&p->seats, memory_order_acquire);
        while (free_seats > 0 && !atomic_compare_exchange_weak_explicit(&p->seats, &free_seats, free_seats - 1,
                                                                        memory_order_acquire, memory_order_acquire))
            ;
        if (free_seats <= 0) continue; /* the caller finished the job without us */
        p->fn(p->ctx, ti, p->n);
        atomic_fetch_add_explicit(&p->done, 1, memory_order_release);
    }
}

static ar_pool *pool_new(int n_threads) {
    ar_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->n = n_threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->threads = calloc((size_t)n_threads, sizeof(pthread_t));
    if (!p->threads) goto fail;
    for (int i = 1; i < n_threads; i++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (!wa) goto fail_started;
        wa->pool = p;
        wa->ti = i;
        if (pthread_create(&p->threads[i], NULL, worker_main, wa) != 0) {
            free(wa);
            goto fail_started;
        }
        continue;
    fail_started:
        p->n = i; /* only threads 1..i-1 exist: stop and join those */
        pool_free(p);
        return NULL;
    }
    return p;
fail:
    free(p->threads);
    free(p);
    return NULL;
}

static void pool_free(ar_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, true);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n; i++) pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->threads);
    free(p);
}

static int pool_size(const ar_pool *p) { return p ? p->n : 0; }

/* Jobs smaller than this many multiply-adds run on the caller alone: waking
 * the workers costs microseconds. At 2 threads on the 15M shape it leaves
 * every matrix of a decode step parallel (the smallest, wo, is 288 x 288)
 * and attention serial until ~110 positions. Before workers joined by seats
 * (above), the caller waited for every worker, and a worker that had lost its
 * core stalled every small job: on the shared build VM at load ~11, fp32 /
 * Q8_0 decode ran 8.1 / 16.8 tok/s at 1 << 16 against 19.3 / 40.4 at 1 << 18.
 * With seats, 15M fp32 decode at 2 threads (medians of interleaved rounds,
 * this 2-core VM busy with other work): 1 << 16 is 1.17x the old pool at
 * 1 << 18 (1 << 18 with seats 1.14x); beside three more busy loops 1.24x
 * (1.17x), where the old pool at 1 << 16 fell to 0.45x. Q8_0 1.10x (1.05x). */
#ifndef PARALLEL_MIN_WORK
#define PARALLEL_MIN_WORK (1 << 16)
#endif

/* Run fn(ctx, ti, n) on the caller and on every worker that joins in time,
 * and wait for those. fn shares its work out dynamically, so it is complete
 * whichever threads ran it. The caller spins briefly, then yields its core so
 * a worker sharing it can finish. */
static void pool_run(ar_pool *p, ar_job_fn fn, void *ctx, int64_t work) {
    if (p->n == 1 || work < PARALLEL_MIN_WORK) {
        fn(ctx, 0, 1);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    atomic_store_explicit(&p->done, 0, memory_order_relaxed);
    atomic_store_explicit(&p->seats, p->n - 1, memory_order_release);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->generation, 1, memory_order_release);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    fn(ctx, 0, p->n);
    int joined = p->n - 1 - atomic_exchange_explicit(&p->seats, 0, memory_order_acq_rel);
    for (int spins = 0; atomic_load_explicit(&p->done, memory_order_acquire) < joined; spins++) {
        if (spins < SPIN_ROUNDS) cpu_relax();
        else sched_yield();
    }
}

/* Work is shared out dynamically: each thread takes the next chunk of rows
 * (or heads) from an atomic counter until none are left. A static split would
 * make every job wait for its slowest thread, and on a device where Bun, HTTP
 * and SQLite share the cores, a descheduled worker would stall every token.
 * Chunks are multiples of 16 rows, so no two threads write one cache line. */
static int chunk_rows(int rows, int nt) {
    int chunk = (rows + nt * 4 - 1) / (nt * 4);
    return (chunk + 15) / 16 * 16;
}

/* ----------------------------------------------------------------------------
 * 4. the forward pass */

/* Prefill runs the prompt in blocks of up to AR_BATCH tokens as matrix-matrix
 * work: a register tile of weight rows x tokens (kern_gemm_*) reads each
 * weight once per tile instead of once per token and keeps independent
 * accumulator chains busy. Decode is a block of 1 on the streaming matvec.
 * Q8_0 gemm elements are bit-identical to the matvec's, so a Q8_0 prefill
 * equals stepping token by token; fp32 ones differ in summation order only.
 * 64 tokens: each layer's weights stream from memory once per 64 tokens (the
 * gemm keeps a row block in L1 while the inputs pass). Against 32, measured
 * in CPU time on a 128-token prompt: +15-35 % fp32 15M, +8-12 % Q8_0 110M,
 * Q8_0 15M level. */
#define AR_BATCH 64

struct ar_session {
    ar_model *m;
    int pos;
    /* activations of up to AR_BATCH tokens, token after token */
    float *x, *xb, *xb2, *hb, *hb2, *q;
    float *att;          /* n_heads x AR_BATCH x seq_len attention scores */
    float *logits;       /* vocab_size                                   */
    int8_t *xq;          /* the current matvec input in Q8_0, per token  */
    float *xs;           /* and its scales                               */
    float *key_cache, *value_cache; /* layers x seq_len x kv_dim */
};

/* One matrix job: up to three matrices of the same layer applied to the same
 * T inputs (q/k/v, or w1/w3); their rows are split across threads. Output k
 * of token t is out[k] + t * rows[k] (so K and V land straight in the cache). */
typedef struct {
    const ar_model *m;
    const float *x;             /* T fp32 inputs of length n            */
    const int8_t *xq;           /* their Q8_0 form (Q8_0 models)        */
    const float *xs;
    int n, T;
    int count;
    const ar_tensor *t[3];
    int layer;
    float *out[3];
    int rows[3];
    int swiglu;                 /* out[0] = silu(out[0]) * out[1]       */
    atomic_int next_chunk;      /* the work counter the threads share   */
} matvec_job;

static void matvec_part(const matvec_job *j, int k, int r0, int r1) {
    const ar_tensor *t = j->t[k];
    int n = j->n, gs = j->m->group_size, rows = j->rows[k];
    if (j->T == 1) {
        if (t->f) kern_matvec_f32(j->out[k], j->x, t->f + (size_t)j->layer * rows * n, n, r0, r1);
        else if (j->m->format == 3)
            kern_matvec_q4(j->out[k], j->xq, j->xs, (const uint8_t *)t->q[j->layer], t->s[j->layer], n, r0, r1);
        else kern_matvec_q8(j->out[k], j->xq, j->xs, t->q[j->layer], t->s[j->layer], n, gs, r0, r1);
    } else if (t->f) {
        kern_gemm_f32(j->out[k], rows, j->x, n, j->T, t->f + (size_t)j->layer * rows * n, n, n, r0, r1);
    } else if (j->m->format == 3) {
        kern_gemm_q4(j->out[k], rows, j->xq, j->xs, j->T, (const uint8_t *)t->q[j->layer], t->s[j->layer], n, r0, r1);
    } else {
        kern_gemm_q8(j->out[k], rows, j->xq, j->xs, j->T, t->q[j->layer], t->s[j->layer], n, gs, r0, r1);
    }
}

static void matvec_worker(void *ctx, int ti, int nt) {
    matvec_job *j = ctx;
    if (j->swiglu) {
        /* w1 and w3 share each chunk of rows so a thread can gate its own rows. */
        int chunk = chunk_rows(j->rows[0], nt);
        for (;;) {
            int r0 = atomic_fetch_add_explicit(&j->next_chunk, 1, memory_order_relaxed) * chunk;
            if (r0 >= j->rows[0]) return;
            int r1 = r0 + chunk < j->rows[0] ? r0 + chunk : j->rows[0];
            matvec_part(j, 0, r0, r1);
            matvec_part(j, 1, r0, r1);
            for (int tok = 0; tok < j->T; tok++)
                kern_swiglu_f32(j->out[0] + (size_t)tok * j->rows[0] + r0, j->out[1] + (size_t)tok * j->rows[1] + r0,
                                r1 - r0);
        }
    }
    /* Otherwise chunk the concatenated rows of all the job's matrices. */
    int total = 0;
    for (int k = 0; k < j->count; k++) total += j->rows[k];
    int chunk = chunk_rows(total, nt);
    for (;;) {
        int r0 = atomic_fetch_add_explicit(&j->next_chunk, 1, memory_order_relaxed) * chunk;
        if (r0 >= total) return;
        int r1 = r0 + chunk < total ? r0 + chunk : total, base = 0;
        for (int k = 0; k < j->count; k++) {
            int a = r0 > base ? r0 - base : 0, b = r1 - base < j->rows[k] ? r1 - base : j->rows[k];
            if (a < b) matvec_part(j, k, a, b);
            base += j->rows[k];
        }
    }
}

/* Quantize the inputs for Q8_0 and Q4_0 models, then run the job on the pool. */
static void run_matvec(ar_session *s, matvec_job *j) {
    const ar_model *m = s->m;
    if (m->format >= 2) {
        for (int tok = 0; tok < j->T; tok++)
            kern_quantize_q8(s->xq + (size_t)tok * j->n, s->xs + (size_t)tok * (j->n / m->group_size),
                             j->x + (size_t)tok * j->n, j->n, m->group_size);
        j->xq = s->xq;
        j->xs = s->xs;
    }
    int64_t rows = 0;
    for (int k = 0; k < j->count; k++) rows += j->rows[k];
    pool_run(m->pool, matvec_worker, j, rows * j->n * j->T);
}

static void rmsnorm(float *o, const float *x, const float *w, int n) {
    float ss = 0.0f;
    for (int j = 0; j < n; j++) ss += x[j] * x[j];
    ss = 1.0f / sqrtf(ss / n + 1e-5f);
    for (int j = 0; j < n; j++) o[j] = w[j] * (ss * x[j]);
}

typedef struct {
    ar_session *s;
    int layer, T;
    atomic_int next_head;
} attention_job;

/* Causal multi-head attention with grouped KV heads for the T tokens of a
 * block (token t sits at s->pos + t and sees positions 0..s->pos + t); heads
 * are split across threads. The scores of the whole block are one gemm
 * (queries x cached keys: each key row is loaded once for all T queries;
 * the few future positions it also scores are masked by the softmax range),
 * and each query's output is the weighted sum of the value rows it sees
 * (kern_wsum_f32: the head's value rows stay in L1 across the queries). */
static void attention_worker(void *ctx, int ti, int nt) {
    attention_job *j = ctx;
    ar_session *s = j->s;
    const ar_config *c = &s->m->cfg;
    int D = c->dim, hs = D / c->n_heads, kv_dim = hs * c->n_kv_heads, kv_mul = c->n_heads / c->n_kv_heads;
    int T = j->T, ctx_len = s->pos + T, S = c->seq_len;
    size_t loff = (size_t)j->layer * S * kv_dim;
    float inv_sqrt = 1.0f / sqrtf((float)hs);
    for (int h; (h = atomic_fetch_add_explicit(&j->next_head, 1, memory_order_relaxed)) < c->n_heads;) {
        float *att = s->att + (size_t)h * AR_BATCH * S; /* T rows of S scores */
        const float *kbase = s->key_cache + loff + (h / kv_mul) * hs;
        const float *vbase = s->value_cache + loff + (h / kv_mul) * hs;
        kern_gemm_f32(att, S, s->q + h * hs, D, T, kbase, kv_dim, hs, 0, ctx_len);
        for (int tok = 0; tok < T; tok++) {
            float *a = att + (size_t)tok * S;
            int seen = s->pos + tok + 1;
            kern_softmax_f32(a, seen, inv_sqrt);
            kern_wsum_f32(s->xb + (size_t)tok * D + h * hs, a, vbase, kv_dim, seen, hs);
        }
    }
}

static void embed(ar_session *s, float *x, int token) {
    const ar_model *m = s->m;
    int D = m->cfg.dim;
    const ar_tensor *e = &m->w.tok_emb;
    if (e->f) {
        memcpy(x, e->f + (size_t)token * D, D * sizeof(float));
    } else if (m->format == 3) {
        const uint8_t *q = (const uint8_t *)e->q[0] + (size_t)token * D / 2;
        const float *sc = e->s[0] + (size_t)token * D / Q4_GROUP;
        for (int i = 0; i < D; i++) {
            int b = q[i / Q4_GROUP * 16 + i % 16];
            x[i] = ((i % Q4_GROUP < 16 ? b & 15 : b >> 4) - 8) * sc[i / Q4_GROUP];
        }
    } else {
        int gs = m->group_size;
        const int8_t *q = e->q[0] + (size_t)token * D;
        const float *sc = e->s[0] + (size_t)token * D / gs;
        for (int i = 0; i < D; i++) x[i] = q[i] * sc[i / gs];
    }
}

/* RoPE: rotate each (even, odd) pair of every query and key head by its
 * position's angle. */
static void rope(const ar_model *m, float *q, float *k, int pos) {
    const ar_config *c = &m->cfg;
    int hs = c->dim / c->n_heads, kv_dim = hs * c->n_kv_heads, half = hs / 2;
    const float *fc = m->rope_cos + (size_t)pos * half, *fs = m->rope_sin + (size_t)pos * half;
    for (int i = 0; i < c->dim; i += 2) {
        int p = (i % hs) / 2;
        float fcr = fc[p], fci = fs[p];
        float q0 = q[i], q1 = q[i + 1];
        q[i] = q0 * fcr - q1 * fci;
        q[i + 1] = q0 * fci + q1 * fcr;
        if (i < kv_dim) {
            float k0 = k[i], k1 = k[i + 1];
            k[i] = k0 * fcr - k1 * fci;
            k[i + 1] = k0 * fci + k1 * fcr;
        }
    }
}

/* Run T (<= AR_BATCH) tokens at positions s->pos.. ; computes the logits of
 * the last one only when asked (prefill skips the classifier, the biggest
 * matrix of a small-vocabulary model). */
static void forward(ar_session *s, const int32_t *tokens, int T, int want_logits) {
    ar_model *m = s->m;
    const ar_config *c = &m->cfg;
    const ar_weights *w = &m->w;
    int D = c->dim, H = c->hidden_dim, kv_dim = D / c->n_heads * c->n_kv_heads;
    for (int t = 0; t < T; t++) embed(s, s->x + (size_t)t * D, tokens[t]);
    for (int l = 0; l < c->n_layers; l++) {
        size_t kv_off = ((size_t)l * c->seq_len + s->pos) * kv_dim;
        float *k = s->key_cache + kv_off, *v = s->value_cache + kv_off;

        for (int t = 0; t < T; t++)
            rmsnorm(s->xb + (size_t)t * D, s->x + (size_t)t * D, w->rms_att + (size_t)l * D, D);
        matvec_job qkv = {.m = m, .x = s->xb, .n = D, .T = T, .count = 3, .t = {&w->wq, &w->wk, &w->wv},
                          .layer = l, .out = {s->q, k, v}, .rows = {D, kv_dim, kv_dim}};
        run_matvec(s, &qkv);
        for (int t = 0; t < T; t++) rope(m, s->q + (size_t)t * D, k + (size_t)t * kv_dim, s->pos + t);

        attention_job aj = {.s = s, .layer = l, .T = T};
        int64_t attn_work = (int64_t)T * c->n_heads * (s->pos + T) * (D / c->n_heads) * 2;
        pool_run(m->pool, attention_worker, &aj, attn_work);

        matvec_job wo = {.m = m, .x = s->xb, .n = D, .T = T, .count = 1, .t = {&w->wo}, .layer = l,
                         .out = {s->xb2}, .rows = {D}};
        run_matvec(s, &wo);
        for (size_t i = 0; i < (size_t)T * D; i++) s->x[i] += s->xb2[i];

        for (int t = 0; t < T; t++)
            rmsnorm(s->xb + (size_t)t * D, s->x + (size_t)t * D, w->rms_ffn + (size_t)l * D, D);
        matvec_job ffn_in = {.m = m, .x = s->xb, .n = D, .T = T, .count = 2, .t = {&w->w1, &w->w3}, .layer = l,
                             .out = {s->hb, s->hb2}, .rows = {H, H}, .swiglu = 1};
        run_matvec(s, &ffn_in);
        matvec_job ffn_out = {.m = m, .x = s->hb, .n = H, .T = T, .count = 1, .t = {&w->w2}, .layer = l,
                              .out = {s->xb}, .rows = {D}};
        run_matvec(s, &ffn_out);
        for (size_t i = 0; i < (size_t)T * D; i++) s->x[i] += s->xb[i];
    }
    if (want_logits) {
        float *last = s->x + (size_t)(T - 1) * D;
        rmsnorm(last, last, w->rms_final, D);
        matvec_job cls = {.m = m, .x = last, .n = D, .T = 1, .count = 1, .t = {&w->wcls}, .layer = 0,
                          .out = {s->logits}, .rows = {c->vocab_size}};
        run_matvec(s, &cls);
    }
    s->pos += T;
}

/* ----------------------------------------------------------------------------
 * 5. sessions */

ar_session *ar_session_new(ar_model *m) {
    ar_clear_error();
    if (!m) {
        ar_fail(AR_E_ARG, "no model");
        return NULL;
    }
    const ar_config *c = &m->cfg;
    ar_session *s = calloc(1, sizeof *s);
    if (!s) goto nomem;
    s->m = m;
    size_t D = c->dim, H = c->hidden_dim, kv_dim = D / c->n_heads * c->n_kv_heads;
    size_t cache = (size_t)c->n_layers * c->seq_len * kv_dim;
    size_t B = AR_BATCH, widest = H > D ? H : D;
    s->x = calloc(B * D, sizeof(float));
    s->xb = calloc(B * D, sizeof(float));
    s->xb2 = calloc(B * D, sizeof(float));
    s->hb = calloc(B * H, sizeof(float));
    s->hb2 = calloc(B * H, sizeof(float));
    s->q = calloc(B * D, sizeof(float));
    s->att = calloc((size_t)c->n_heads * B * c->seq_len, sizeof(float));
    s->logits = calloc((size_t)c->vocab_size, sizeof(float));
    s->xq = calloc(B * widest, 1);
    s->xs = calloc(B * widest, sizeof(float));
    s->key_cache = calloc(cache, sizeof(float));
    s->value_cache = calloc(cache, sizeof(float));
    if (!s->x || !s->xb || !s->xb2 || !s->hb || !s->hb2 || !s->q || !s->att || !s->logits || !s->xq || !s->xs ||
        !s->key_cache || !s->value_cache) {
        ar_session_free(s);
        goto nomem;
    }
    return s;
nomem:
    ar_fail(AR_E_NOMEM, "out of memory for a session (KV cache of %d layers x %d positions)", c->n_layers,
            c->seq_len);
    return NULL;
}

void ar_session_free(ar_session *s) {
    if (!s) return;
    free(s->x);
    free(s->xb);
    free(s->xb2);
    free(s->hb);
    free(s->hb2);
    free(s->q);
    free(s->att);
    free(s->logits);
    free(s->xq);
    free(s->xs);
    free(s->key_cache);
    free(s->value_cache);
    free(s);
}

void ar_session_reset(ar_session *s) {
    if (s) s->pos = 0;
}

int ar_session_pos(const ar_session *s) { return s ? s->pos : AR_E_ARG; }

int ar_session_truncate(ar_session *s, int pos) {
    ar_clear_error();
    if (!s) return ar_fail(AR_E_ARG, "no session");
    if (pos < 0 || pos > s->pos) return ar_fail(AR_E_ARG, "cannot truncate to %d (position is %d)", pos, s->pos);
    s->pos = pos;
    return pos;
}

static int check_tokens(const ar_session *s, const int32_t *tokens, int n) {
    if (!s) return ar_fail(AR_E_ARG, "no session");
    if (n < 0 || (n > 0 && !tokens)) return ar_fail(AR_E_ARG, "bad token array");
    if (n > s->m->cfg.seq_len - s->pos)
        return ar_fail(AR_E_CONTEXT, "context full: %d tokens at position %d exceed seq_len %d", n, s->pos,
                       s->m->cfg.seq_len);
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= s->m->cfg.vocab_size)
            return ar_fail(AR_E_ARG, "token %d at index %d is outside the vocabulary (%d)", tokens[i], i,
                           s->m->cfg.vocab_size);
    return AR_OK;
}

static int prefill(ar_session *s, const int32_t *tokens, int n, int want_logits) {
    ar_clear_error();
    int rc = check_tokens(s, tokens, n);
    if (rc) return rc;
    pthread_mutex_lock(&s->m->lock);
    for (int i = 0; i < n; i += AR_BATCH) {
        int T = n - i < AR_BATCH ? n - i : AR_BATCH;
        forward(s, tokens + i, T, want_logits && i + T == n);
    }
    pthread_mutex_unlock(&s->m->lock);
    return s->pos;
}

int ar_session_prefill(ar_session *s, const int32_t *tokens, int n) { return prefill(s, tokens, n, 1); }

int ar_session_prefill_kv(ar_session *s, const int32_t *tokens, int n) { return prefill(s, tokens, n, 0); }

int ar_session_forward(ar_session *s, int token) {
    int32_t t = token;
    return ar_session_prefill(s, &t, 1);
}

float *ar_session_logits(ar_session *s) { return s ? s->logits : NULL; }

/* ----------------------------------------------------------------------------
 * 6. the sampler */

typedef struct {
    float p;
    int id;
} prob_index;

struct ar_sampler {
    int vocab;
    uint64_t rng;
    float temperature, topp, repeat_penalty;
    int topk, repeat_window;
    int32_t *bias_ids;
    float *bias_w;
    int n_bias;
    int32_t *history; /* ring of the last repeat_window tokens */
    int hist_len, hist_head;
    uint32_t *seen;   /* stamp per token, to penalise each token once */
    uint32_t stamp;
    prob_index *cand;
    float last_entropy;
};

#define MAX_WINDOW 4096

ar_sampler *ar_sampler_new(int vocab_size, uint64_t seed) {
    ar_clear_error();
    if (vocab_size <= 0 || vocab_size > MAX_VOCAB) {
        ar_fail(AR_E_ARG, "bad vocab size %d", vocab_size);
        return NULL;
    }
    ar_sampler *sp = calloc(1, sizeof *sp);
    if (!sp) goto nomem;
    sp->vocab = vocab_size;
    sp->history = calloc(MAX_WINDOW, sizeof(int32_t));
    sp->seen = calloc((size_t)vocab_size, sizeof(uint32_t));
    sp->cand = calloc((size_t)vocab_size, sizeof(prob_index));
    if (!sp->history || !sp->seen || !sp->cand) {
        ar_sampler_free(sp);
        goto nomem;
    }
    ar_sampler_seed(sp, seed);
    ar_sampler_config(sp, 1.0f, 0.9f, 0, 1.0f, 64);
    sp->last_entropy = 0.5f;
    return sp;
nomem:
    ar_fail(AR_E_NOMEM, "out of memory for a sampler");
    return NULL;
}

void ar_sampler_free(ar_sampler *sp) {
    if (!sp) return;
    free(sp->bias_ids);
    free(sp->bias_w);
    free(sp->history);
    free(sp->seen);
    free(sp->cand);
    free(sp);
}

void ar_sampler_seed(ar_sampler *sp, uint64_t seed) {
    /* splitmix64 spreads nearby seeds apart; xorshift* must never hold 0. */
    if (!sp) return;
    uint64_t z = seed + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    sp->rng = z ? z : 0x9E3779B97F4A7C15ull;
}

static float random_f32(ar_sampler *sp) {
    sp->rng ^= sp->rng >> 12;
    sp->rng ^= sp->rng << 25;
    sp->rng ^= sp->rng >> 27;
    return (float)((sp->rng * 0x2545F4914F6CDD1Dull) >> 40) / 16777216.0f;
}

int ar_sampler_config(ar_sampler *sp, float temperature, float topp, int topk, float repeat_penalty,
                      int repeat_window) {
    ar_clear_error();
    if (!sp) return ar_fail(AR_E_ARG, "no sampler");
    if (!(temperature >= 0.0f) || !isfinite(temperature) || !(topp >= 0.0f) || !isfinite(topp) || topk < 0 ||
        !(repeat_penalty > 0.0f) || !isfinite(repeat_penalty) || repeat_window < 0 || repeat_window > MAX_WINDOW)
        return ar_fail(AR_E_ARG, "bad sampler settings (temperature %g, top_p %g, top_k %d, penalty %g, window %d)",
                       temperature, topp, topk, repeat_penalty, repeat_window);
    sp->temperature = temperature;
    sp->topp = topp;
    sp->topk = topk;
    sp->repeat_penalty = repeat_penalty;
    if (repeat_window != sp->repeat_window) sp->hist_len = sp->hist_head = 0;
    sp->repeat_window = repeat_window;
    return AR_OK;
}

int ar_sampler_set_bias(ar_sampler *sp, const int32_t *ids, const float *weights, int n) {
    ar_clear_error();
    if (!sp) return ar_fail(AR_E_ARG, "no sampler");
    if (n < 0 || (n > 0 && (!ids || !weights))) return ar_fail(AR_E_ARG, "bad bias arrays");
    for (int i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= sp->vocab)
            return ar_fail(AR_E_ARG, "bias token %d is outside the vocabulary (%d)", ids[i], sp->vocab);
        if (!isfinite(weights[i])) return ar_fail(AR_E_ARG, "bias weight for token %d is not finite", ids[i]);
    }
    int32_t *ni = NULL;
    float *nw = NULL;
    if (n > 0) {
        ni = malloc((size_t)n * sizeof *ni);
        nw = malloc((size_t)n * sizeof *nw);
        if (!ni || !nw) {
            free(ni);
            free(nw);
            return ar_fail(AR_E_NOMEM, "out of memory for %d bias entries", n);
        }
        memcpy(ni, ids, (size_t)n * sizeof *ni);
        memcpy(nw, weights, (size_t)n * sizeof *nw);
    }
    free(sp->bias_ids);
    free(sp->bias_w);
    sp->bias_ids = ni;
    sp->bias_w = nw;
    sp->n_bias = n;
    return AR_OK;
}

static void history_push(ar_sampler *sp, int token) {
    if (sp->repeat_window == 0) return;
    sp->history[sp->hist_head] = token;
    sp->hist_head = (sp->hist_head + 1) % sp->repeat_window;
    if (sp->hist_len < sp->repeat_window) sp->hist_len++;
}

int ar_sampler_observe(ar_sampler *sp, const int32_t *tokens, int n) {
    ar_clear_error();
    if (!sp) return ar_fail(AR_E_ARG, "no sampler");
    if (n == 0 && !tokens) {
        sp->hist_len = sp->hist_head = 0;
        return AR_OK;
    }
    if (n < 0 || !tokens) return ar_fail(AR_E_ARG, "bad token array");
    for (int i = 0; i < n; i++)
        if (tokens[i] >= 0 && tokens[i] < sp->vocab) history_push(sp, tokens[i]);
    return AR_OK;
}

static int cmp_prob_desc(const void *a, const void *b) {
    float pa = ((const prob_index *)a)->p, pb = ((const prob_index *)b)->p;
    return pa > pb ? -1 : pa < pb ? 1 : 0;
}

/* The model's own uncertainty: H(softmax(logits)) / ln(V) over the whole
 * vocabulary at temperature 1, before bias, penalty, top-k and top-p, so the
 * figure does not depend on the sampling settings (the leo layer's E). One
 * pass: with e_i = exp(l_i - max) and Z = sum e_i, H = ln Z - sum(e_i (l_i - max)) / Z.
 * Reads the logits only, so the sampled tokens are exactly llama2.c's. The
 * sums are a kernel's (a vector exp: libm expf here was ~3 % of a 110M Q4_0
 * decode token); a NaN logit gives a NaN entropy. */
static float full_entropy(const float *logits, int V) {
    if (V <= 1) return 0.0f;
    double z, s;
    kern_entropy_sums(logits, V, &z, &s);
    float h = (float)((log(z) - s / z) / log((double)V));
    return h < 0.0f ? 0.0f : h > 1.0f ? 1.0f : h;
}

/* Min-heap sift for top-k selection over candidates. */
static void sift_down(prob_index *h, int n, int i) {
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && h[l].p < h[m].p) m = l;
        if (r < n && h[r].p < h[m].p) m = r;
        if (m == i) return;
        prob_index t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

int ar_sampler_sample(ar_sampler *sp, float *logits) {
    ar_clear_error();
    if (!sp || !logits) return ar_fail(AR_E_ARG, "no sampler or logits");
    int V = sp->vocab;
    sp->last_entropy = full_entropy(logits, V);
    for (int i = 0; i < sp->n_bias; i++) logits[sp->bias_ids[i]] += sp->bias_w[i];
    if (sp->repeat_penalty != 1.0f && sp->hist_len > 0) {
        if (++sp->stamp == 0) { /* wrapped: clear the stamps once */
            memset(sp->seen, 0, (size_t)V * sizeof *sp->seen);
            sp->stamp = 1;
        }
        for (int i = 0; i < sp->hist_len; i++) {
            int t = sp->history[i];
            if (sp->seen[t] == sp->stamp) continue;
            sp->seen[t] = sp->stamp;
            logits[t] = logits[t] > 0 ? logits[t] / sp->repeat_penalty : logits[t] * sp->repeat_penalty;
        }
    }
    int next;
    prob_index *c = sp->cand;
    if (sp->temperature == 0.0f) {
        /* Greedy: the first maximum, as llama2.c's argmax. */
        next = 0;
        for (int i = 1; i < V; i++)
            if (logits[i] > logits[next]) next = i;
    } else {
        for (int i = 0; i < V; i++) logits[i] /= sp->temperature;
        /* the scalar kernel on every build (libm expf, scale 1 is exact): a seed samples the same
         * tokens on a Pi as here; attention may use the vector exp, sampling does not */
        scalar_softmax_f32(logits, V, 1.0f);
        int n = V;
        for (int i = 0; i < V; i++) c[i] = (prob_index){logits[i], i};
        if (sp->topk > 0 && sp->topk < n) {
            /* Keep the k largest with a min-heap of size k. */
            int k = sp->topk;
            for (int i = k / 2 - 1; i >= 0; i--) sift_down(c, k, i);
            for (int i = k; i < n; i++)
                if (c[i].p > c[0].p) {
                    c[0] = c[i];
                    sift_down(c, k, 0);
                }
            n = k;
            float kept = 0.0f;
            for (int i = 0; i < n; i++) kept += c[i].p;
            for (int i = 0; i < n; i++) c[i].p /= kept;
        }
        if (sp->topp > 0.0f && sp->topp < 1.0f) {
            /* Tokens below (1-topp)/(n-1) can never be in the nucleus: drop
             * them before sorting (llama2.c's trick). */
            float cutoff = (1.0f - sp->topp) / (float)(n > 1 ? n - 1 : 1);
            int m = 0;
            for (int i = 0; i < n; i++)
                if (c[i].p >= cutoff) c[m++] = c[i];
            if (m == 0) {
                /* top-p below 1/n puts the cutoff above even the largest: the
                 * nucleus is that one token (c[0..n) is untouched here) */
                for (int i = 1; i < n; i++)
                    if (c[i].p > c[0].p) c[0] = c[i];
                m = 1;
            }
            qsort(c, (size_t)m, sizeof *c, cmp_prob_desc);
            float cum = 0.0f;
            int last = m - 1;
            for (int i = 0; i < m; i++) {
                cum += c[i].p;
                if (cum > sp->topp) {
                    last = i;
                    break;
                }
            }
            n = last + 1;
        }
        float total = 0.0f;
        for (int i = 0; i < n; i++) total += c[i].p;
        for (int i = 0; i < n; i++) c[i].p /= total;
        float r = random_f32(sp), cdf = 0.0f;
        next = c[n - 1].id; /* in case rounding leaves r above the last cdf */
        for (int i = 0; i < n; i++) {
            cdf += c[i].p;
            if (r < cdf) {
                next = c[i].id;
                break;
            }
        }
    }
    history_push(sp, next);
    return next;
}

float ar_sampler_last_entropy(const ar_sampler *sp) { return sp ? sp->last_entropy : 0.0f; }

int ar_session_step(ar_session *s, ar_sampler *sp, int token) {
    ar_clear_error();
    if (!sp) return ar_fail(AR_E_ARG, "no sampler");
    if (s && sp->vocab != s->m->cfg.vocab_size)
        return ar_fail(AR_E_ARG, "sampler vocab %d does not match the model's %d", sp->vocab, s->m->cfg.vocab_size);
    int rc = ar_session_forward(s, token);
    if (rc < 0) return rc;
    return ar_sampler_sample(sp, s->logits);
}

/* ----------------------------------------------------------------------------
 * 7. sd_notify: the systemd notification protocol is one datagram of
 * "KEY=value" lines to the unix socket in $NOTIFY_SOCKET; no libsystemd. */

int ar_sd_notify(const char *state) {
    ar_clear_error();
    if (!state || !*state) return ar_fail(AR_E_ARG, "empty notification");
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || !*path) return 0;
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    size_t len = strlen(path);
    if (len >= sizeof addr.sun_path) return ar_fail(AR_E_ARG, "NOTIFY_SOCKET path is too long");
    memcpy(addr.sun_path, path, len);
    if (path[0] == '@') addr.sun_path[0] = '\0'; /* abstract namespace */
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return ar_fail(AR_E_IO, "socket: %s", strerror(errno));
    socklen_t alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    ssize_t sent = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&addr, alen);
    int e = errno;
    close(fd);
    if (sent < 0) return ar_fail(AR_E_IO, "cannot notify %s: %s", path, strerror(e));
    return 1;
}

/* ----------------------------------------------------------------------------
 * 8. embeddings: a text as one normalised vector (see ar_session_embed in
 * arianna.h). It runs the ordinary forward pass from position 0 and pools the
 * final hidden states, so it shares every kernel with generation. */

int ar_session_embed(ar_session *s, const int32_t *tokens, int n, float *out, int dim) {
    ar_clear_error();
    if (!s) return ar_fail(AR_E_ARG, "no session");
    int D = s->m->cfg.dim;
    if (!out || dim != D) return ar_fail(AR_E_ARG, "the output must hold the model's dim (%d) floats", D);
    if (n < 1 || !tokens) return ar_fail(AR_E_ARG, "nothing to embed");
    /* a leading BOS has the same state for every text: it is run (attention
     * needs it) but not pooled */
    int skip = n > 1 && tokens[0] == 1 ? 1 : 0;
    s->pos = 0;
    int rc = check_tokens(s, tokens, n);
    if (rc) return rc;
    const float *w_final = s->m->w.rms_final;
    for (int i = 0; i < D; i++) out[i] = 0.0f;
    pthread_mutex_lock(&s->m->lock);
    for (int i = 0; i < n; i += AR_BATCH) {
        int T = n - i < AR_BATCH ? n - i : AR_BATCH;
        forward(s, tokens + i, T, 0);
        for (int t = 0; t < T; t++) {
            if (i + t < skip) continue;
            float *h = s->xb2; /* scratch until the next forward */
            rmsnorm(h, s->x + (size_t)t * D, w_final, D);
            for (int k = 0; k < D; k++) out[k] += h[k];
        }
    }
    pthread_mutex_unlock(&s->m->lock);
    s->pos = 0;
    double norm = 0.0;
    for (int k = 0; k < D; k++) norm += (double)out[k] * out[k];
    float inv = norm > 0.0 ? (float)(1.0 / sqrt(norm)) : 0.0f;
    for (int k = 0; k < D; k++) out[k] *= inv;
    return n - skip;
}
