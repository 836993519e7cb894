/*
 * reference.c — see reference.h. Written for clarity, not speed.
 */
#include "reference.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- random fixtures ---------------------------------------------------- */

static uint64_t rng_next(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static float rng_uniform(uint64_t *s, float a) { /* uniform in [-a, a) */
    return ((float)(rng_next(s) >> 40) / 16777216.0f * 2.0f - 1.0f) * a;
}

static float *random_floats(uint64_t *s, size_t n, float a, float center) {
    float *v = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) v[i] = center + rng_uniform(s, a);
    return v;
}

static void write_q8(FILE *f, const float *w, size_t n, int gs) {
    int8_t *q = malloc(n);
    float *sc = malloc(n / gs * sizeof(float));
    for (size_t g = 0; g < n / gs; g++) {
        float amax = 0;
        for (int j = 0; j < gs; j++) amax = fmaxf(amax, fabsf(w[g * gs + j]));
        float scale = amax / 127.0f;
        sc[g] = scale;
        for (int j = 0; j < gs; j++) q[g * gs + j] = scale > 0 ? (int8_t)roundf(w[g * gs + j] / scale) : 0;
    }
    fwrite(q, 1, n, f);
    fwrite(sc, sizeof(float), n / gs, f);
    free(q);
    free(sc);
}

/* Q4_0 (v3): groups of 32, scale max|w| / 7, values + 8 as nibbles; byte j
 * of a group holds value j (low) and value j + 16 (high). */
static void write_q4(FILE *f, const float *w, size_t n) {
    uint8_t *q = malloc(n / 2);
    float *sc = malloc(n / 32 * sizeof(float));
    for (size_t g = 0; g < n / 32; g++) {
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(w[g * 32 + j]));
        float scale = amax / 7.0f;
        sc[g] = scale;
        int v[32];
        for (int j = 0; j < 32; j++) v[j] = scale > 0 ? (int)roundf(w[g * 32 + j] / scale) : 0;
        for (int j = 0; j < 16; j++) q[g * 16 + j] = (uint8_t)((v[j] + 8) | ((v[j + 16] + 8) << 4));
    }
    fwrite(q, 1, n / 2, f);
    fwrite(sc, sizeof(float), n / 32, f);
    free(q);
    free(sc);
}

int ref_write_model(const char *path, const ref_config *c, int format, int gs, int shared, uint64_t seed) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    size_t D = c->dim, H = c->hidden_dim, L = c->n_layers, V = c->vocab_size, S = c->seq_len;
    size_t hs = D / c->n_heads, KV = hs * c->n_kv_heads;
    float ad = 1.0f / sqrtf((float)D), ah = 1.0f / sqrtf((float)H);
    /* Tensors in v1 order; v0 writes them in its own order below. */
    float *rms_att = random_floats(&s, L * D, 0.1f, 1.0f), *rms_ffn = random_floats(&s, L * D, 0.1f, 1.0f);
    float *rms_final = random_floats(&s, D, 0.1f, 1.0f), *emb = random_floats(&s, V * D, 1.0f, 0.0f);
    float *wq = random_floats(&s, L * D * D, ad, 0), *wk = random_floats(&s, L * KV * D, ad, 0);
    float *wv = random_floats(&s, L * KV * D, ad, 0), *wo = random_floats(&s, L * D * D, ad, 0);
    float *w1 = random_floats(&s, L * H * D, ad, 0), *w2 = random_floats(&s, L * D * H, ah, 0);
    float *w3 = random_floats(&s, L * H * D, ad, 0);
    float *wcls = shared ? NULL : random_floats(&s, V * D, ad * 4, 0);
    int32_t hdr[7] = {c->dim, c->hidden_dim, c->n_layers, c->n_heads, c->n_kv_heads, c->vocab_size, c->seq_len};
    if (format == 0) {
        if (!shared) hdr[5] = -hdr[5];
        fwrite(hdr, 4, 7, f);
        fwrite(emb, 4, V * D, f);
        fwrite(rms_att, 4, L * D, f);
        fwrite(wq, 4, L * D * D, f);
        fwrite(wk, 4, L * KV * D, f);
        fwrite(wv, 4, L * KV * D, f);
        fwrite(wo, 4, L * D * D, f);
        fwrite(rms_ffn, 4, L * D, f);
        fwrite(w1, 4, L * H * D, f);
        fwrite(w2, 4, L * D * H, f);
        fwrite(w3, 4, L * H * D, f);
        fwrite(rms_final, 4, D, f);
        float *rope = calloc(S * hs, sizeof(float)); /* legacy tables, unused */
        fwrite(rope, 4, S * hs, f);
        free(rope);
        if (!shared) fwrite(wcls, 4, V * D, f);
    } else {
        uint8_t header[256] = {0};
        uint32_t magic = 0x616b3432u;
        int32_t version = format;
        memcpy(header, &magic, 4);
        memcpy(header + 4, &version, 4);
        memcpy(header + 8, hdr, 28);
        header[36] = (uint8_t)shared;
        if (format == 3) gs = 32;
        if (format >= 2) memcpy(header + 37, &gs, 4);
        fwrite(header, 1, 256, f);
        fwrite(rms_att, 4, L * D, f);
        fwrite(rms_ffn, 4, L * D, f);
        fwrite(rms_final, 4, D, f);
        const float *mats[9] = {emb, wq, wk, wv, wo, w1, w2, w3, wcls};
        size_t counts[9] = {V * D, L * D * D, L * KV * D, L * KV * D, L * D * D, L * H * D, L * D * H, L * H * D, V * D};
        for (int i = 0; i < (shared ? 8 : 9); i++) {
            if (format == 1) {
                fwrite(mats[i], 4, counts[i], f);
            } else { /* llama2.c quantizes each layer as its own tensor */
                size_t layers = (i == 0 || i == 8) ? 1 : L;
                for (size_t l = 0; l < layers; l++) {
                    const float *part = mats[i] + l * (counts[i] / layers);
                    if (format == 2) write_q8(f, part, counts[i] / layers, gs);
                    else write_q4(f, part, counts[i] / layers);
                }
            }
        }
    }
    float *all[] = {rms_att, rms_ffn, rms_final, emb, wq, wk, wv, wo, w1, w2, w3, wcls};
    for (int i = 0; i < 12; i++) free(all[i]);
    return fclose(f) == 0 ? 0 : -1;
}

/* ---- the reference model ------------------------------------------------ */

typedef struct {
    float *f;      /* fp32 weights, or           */
    int8_t *q;     /* Q8_0 values with           */
    float *s;      /* one scale per group         */
} ref_tensor;

struct ref_model {
    ref_config c;
    int format, gs;
    float *rms_att, *rms_ffn, *rms_final;
    ref_tensor emb, wq, wk, wv, wo, w1, w2, w3, wcls;
    double *kcache, *vcache;
};

static float *read_f32(FILE *f, size_t n) {
    float *v = malloc(n * sizeof(float));
    if (fread(v, 4, n, f) != n) { free(v); return NULL; }
    return v;
}

/* Read n values in `layers` equal parts; Q8_0 parts each carry their scales.
 * Q4_0 values are unpacked to int8 here, so the rest treats them as Q8_0. */
static void read_tensor(FILE *f, ref_tensor *t, size_t n, size_t layers, int format, int gs) {
    if (format == 2 || format == 3) {
        size_t per = n / layers, bytes = format == 2 ? per : per / 2;
        t->q = malloc(n);
        t->s = malloc(n / gs * sizeof(float));
        uint8_t *packed = malloc(bytes);
        for (size_t l = 0; l < layers; l++) {
            int8_t *q = t->q + l * per;
            if (fread(format == 2 ? (void *)q : (void *)packed, 1, bytes, f) != bytes ||
                fread(t->s + l * per / gs, 4, per / gs, f) != per / gs)
                abort();
            if (format == 3)
                for (size_t i = 0; i < per; i++) {
                    uint8_t b = packed[i / 32 * 16 + i % 16];
                    q[i] = (int8_t)((i % 32 < 16 ? b & 15 : b >> 4) - 8);
                }
        }
        free(packed);
    } else {
        t->f = read_f32(f, n);
    }
}

ref_model *ref_open(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    ref_model *m = calloc(1, sizeof *m);
    int32_t first[2];
    if (fread(first, 4, 2, f) != 2) abort();
    int shared;
    if ((uint32_t)first[0] == 0x616b3432u) {
        m->format = first[1];
        fseek(f, 8, SEEK_SET);
        if (fread(&m->c, 4, 7, f) != 7) abort();
        uint8_t flag;
        if (fread(&flag, 1, 1, f) != 1) abort();
        shared = flag;
        if (m->format >= 2 && fread(&m->gs, 4, 1, f) != 1) abort();
        fseek(f, 256, SEEK_SET);
    } else {
        m->format = 0;
        fseek(f, 0, SEEK_SET);
        if (fread(&m->c, 4, 7, f) != 7) abort();
        shared = m->c.vocab_size > 0;
        m->c.vocab_size = abs(m->c.vocab_size);
    }
    ref_config *c = &m->c;
    size_t D = c->dim, H = c->hidden_dim, L = c->n_layers, V = c->vocab_size, S = c->seq_len;
    size_t hs = D / c->n_heads, KV = hs * c->n_kv_heads;
    if (m->format == 0) {
        m->emb.f = read_f32(f, V * D);
        m->rms_att = read_f32(f, L * D);
        m->wq.f = read_f32(f, L * D * D);
        m->wk.f = read_f32(f, L * KV * D);
        m->wv.f = read_f32(f, L * KV * D);
        m->wo.f = read_f32(f, L * D * D);
        m->rms_ffn = read_f32(f, L * D);
        m->w1.f = read_f32(f, L * H * D);
        m->w2.f = read_f32(f, L * D * H);
        m->w3.f = read_f32(f, L * H * D);
        m->rms_final = read_f32(f, D);
        fseek(f, (long)(S * hs * 4), SEEK_CUR);
        if (shared) m->wcls = m->emb;
        else m->wcls.f = read_f32(f, V * D);
    } else {
        m->rms_att = read_f32(f, L * D);
        m->rms_ffn = read_f32(f, L * D);
        m->rms_final = read_f32(f, D);
        ref_tensor *ts[9] = {&m->emb, &m->wq, &m->wk, &m->wv, &m->wo, &m->w1, &m->w2, &m->w3, &m->wcls};
        size_t counts[9] = {V * D, L * D * D, L * KV * D, L * KV * D, L * D * D, L * H * D, L * D * H, L * H * D, V * D};
        for (int i = 0; i < (shared ? 8 : 9); i++)
            read_tensor(f, ts[i], counts[i], (i == 0 || i == 8) ? 1 : L, m->format, m->gs);
        if (shared) m->wcls = m->emb;
    }
    fclose(f);
    m->kcache = calloc(L * S * KV, sizeof(double));
    m->vcache = calloc(L * S * KV, sizeof(double));
    return m;
}

const ref_config *ref_config_of(const ref_model *m) { return &m->c; }

static void free_tensor(ref_tensor *t) { free(t->f); free(t->q); free(t->s); }

void ref_free(ref_model *m) {
    if (!m) return;
    int shared = m->wcls.f == m->emb.f && m->wcls.q == m->emb.q;
    free(m->rms_att); free(m->rms_ffn); free(m->rms_final);
    ref_tensor *ts[8] = {&m->emb, &m->wq, &m->wk, &m->wv, &m->wo, &m->w1, &m->w2, &m->w3};
    for (int i = 0; i < 8; i++) free_tensor(ts[i]);
    if (!shared) free_tensor(&m->wcls);
    free(m->kcache); free(m->vcache);
    free(m);
}

/* out[r] = W[offset rows r] . x, for one layer's slice of a tensor. */
static void matvec(const ref_model *m, const ref_tensor *t, size_t offset, const double *x, int n, int rows,
                   double *out) {
    if (t->f) {
        for (int r = 0; r < rows; r++) {
            double sum = 0;
            for (int j = 0; j < n; j++) sum += (double)t->f[offset + (size_t)r * n + j] * x[j];
            out[r] = sum;
        }
        return;
    }
    /* Q8_0: quantize the activation (in float, as the format defines it), then
     * integer dot products per group. */
    int gs = m->gs;
    int8_t *xq = malloc(n);
    float *xs = malloc(n / gs * sizeof(float));
    for (int g = 0; g < n / gs; g++) {
        float amax = 0;
        for (int j = 0; j < gs; j++) amax = fmaxf(amax, fabsf((float)x[g * gs + j]));
        float scale = amax / 127.0f;
        xs[g] = scale;
        for (int j = 0; j < gs; j++) {
            float v = scale > 0 ? roundf((float)x[g * gs + j] / scale) : 0;
            xq[g * gs + j] = (int8_t)fminf(fmaxf(v, -127), 127);
        }
    }
    for (int r = 0; r < rows; r++) {
        double sum = 0;
        for (int g = 0; g < n / gs; g++) {
            long isum = 0;
            for (int j = 0; j < gs; j++) isum += (long)xq[g * gs + j] * t->q[offset + (size_t)r * n + g * gs + j];
            sum += (double)isum * xs[g] * t->s[(offset + (size_t)r * n) / gs + g];
        }
        out[r] = sum;
    }
    free(xq);
    free(xs);
}

static void rmsnorm(double *o, const double *x, const float *w, int n) {
    double ss = 0;
    for (int j = 0; j < n; j++) ss += x[j] * x[j];
    ss = 1.0 / sqrt(ss / n + 1e-5);
    for (int j = 0; j < n; j++) o[j] = w[j] * ss * x[j];
}

void ref_forward(ref_model *m, int token, int pos, float *logits) {
    const ref_config *c = &m->c;
    int D = c->dim, H = c->hidden_dim, hs = D / c->n_heads, KV = hs * c->n_kv_heads;
    int kv_mul = c->n_heads / c->n_kv_heads;
    double *x = calloc(D, sizeof(double)), *xb = calloc(D, sizeof(double)), *q = calloc(D, sizeof(double));
    double *att = calloc(c->seq_len, sizeof(double)), *o = calloc(D, sizeof(double));
    double *h1 = calloc(H, sizeof(double)), *h3 = calloc(H, sizeof(double));
    double *out = calloc(c->vocab_size, sizeof(double));
    for (int i = 0; i < D; i++) {
        size_t idx = (size_t)token * D + i;
        x[i] = m->emb.f ? m->emb.f[idx] : (double)m->emb.q[idx] * m->emb.s[idx / m->gs];
    }
    for (int l = 0; l < c->n_layers; l++) {
        double *k = m->kcache + ((size_t)l * c->seq_len + pos) * KV;
        double *v = m->vcache + ((size_t)l * c->seq_len + pos) * KV;
        rmsnorm(xb, x, m->rms_att + (size_t)l * D, D);
        matvec(m, &m->wq, (size_t)l * D * D, xb, D, D, q);
        matvec(m, &m->wk, (size_t)l * KV * D, xb, D, KV, k);
        matvec(m, &m->wv, (size_t)l * KV * D, xb, D, KV, v);
        for (int i = 0; i < D; i += 2) {
            double freq = 1.0 / pow(10000.0, (double)(i % hs) / hs), a = pos * freq;
            double cr = cos(a), ci = sin(a);
            double q0 = q[i], q1 = q[i + 1];
            q[i] = q0 * cr - q1 * ci;
            q[i + 1] = q0 * ci + q1 * cr;
            if (i < KV) {
                double k0 = k[i], k1 = k[i + 1];
                k[i] = k0 * cr - k1 * ci;
                k[i + 1] = k0 * ci + k1 * cr;
            }
        }
        for (int h = 0; h < c->n_heads; h++) {
            int kvh = h / kv_mul;
            double max = -INFINITY, sum = 0;
            for (int t = 0; t <= pos; t++) {
                const double *kt = m->kcache + ((size_t)l * c->seq_len + t) * KV + kvh * hs;
                double d = 0;
                for (int i = 0; i < hs; i++) d += q[h * hs + i] * kt[i];
                att[t] = d / sqrt((double)hs);
                if (att[t] > max) max = att[t];
            }
            for (int t = 0; t <= pos; t++) sum += (att[t] = exp(att[t] - max));
            for (int i = 0; i < hs; i++) {
                double acc = 0;
                for (int t = 0; t <= pos; t++)
                    acc += att[t] / sum * m->vcache[((size_t)l * c->seq_len + t) * KV + kvh * hs + i];
                xb[h * hs + i] = acc;
            }
        }
        matvec(m, &m->wo, (size_t)l * D * D, xb, D, D, o);
        for (int i = 0; i < D; i++) x[i] += o[i];
        rmsnorm(xb, x, m->rms_ffn + (size_t)l * D, D);
        matvec(m, &m->w1, (size_t)l * H * D, xb, D, H, h1);
        matvec(m, &m->w3, (size_t)l * H * D, xb, D, H, h3);
        for (int i = 0; i < H; i++) h1[i] = h1[i] / (1.0 + exp(-h1[i])) * h3[i];
        matvec(m, &m->w2, (size_t)l * D * H, h1, H, D, o);
        for (int i = 0; i < D; i++) x[i] += o[i];
    }
    rmsnorm(x, x, m->rms_final, D);
    matvec(m, &m->wcls, 0, x, D, c->vocab_size, out);
    for (int i = 0; i < c->vocab_size; i++) logits[i] = (float)out[i];
    free(x); free(xb); free(q); free(att); free(o); free(h1); free(h3); free(out);
}
