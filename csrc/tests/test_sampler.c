/*
 * test_sampler.c — greedy, seeded sampling, top-k, top-p, bias, repetition
 * penalty and the entropy the leo layer reads.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "arianna.h"
#include "check.h"

#define V 100

static void fill(float *l, uint64_t seed) {
    for (int i = 0; i < V; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        l[i] = (float)((seed >> 40) % 1000) / 250.0f; /* logits in [0, 4) */
    }
}

static int draw(ar_sampler *sp, uint64_t logit_seed) {
    float l[V];
    fill(l, logit_seed);
    return ar_sampler_sample(sp, l);
}


/* The entropy as the sampler computed it with libm expf (before the vector
 * kernels): H / ln V from Z = sum e_i and sum e_i d_i, e_i = expf(d_i),
 * d_i = l_i - max, in double; a term with e_i = 0 adds nothing (there the old
 * loop's 0 * -inf made a -inf logit NaN). */
static double libm_entropy(const float *l, int n) {
    if (n <= 1) return 0.0;
    float mx = l[0];
    for (int i = 1; i < n; i++)
        if (l[i] > mx) mx = l[i];
    double z = 0.0, s = 0.0;
    for (int i = 0; i < n; i++) {
        float d = l[i] - mx, e = expf(d);
        if (e == 0.0f) continue;
        z += e;
        s += e * d;
    }
    double h = (log(z) - s / z) / log((double)n);
    return h < 0.0 ? 0.0 : h > 1.0 ? 1.0 : h;
}

static uint64_t ent_rng = 0x9E3779B97F4A7C15ull;
static double uniform01(void) {
    ent_rng = ent_rng * 6364136223846793005ull + 1442695040888963407ull;
    return ((double)(ent_rng >> 11) + 0.5) / 9007199254740992.0;
}
static float gaussian(void) { return (float)(sqrt(-2.0 * log(uniform01())) * cos(6.283185307179586 * uniform01())); }

static double worst_entropy_error;

/* The sampler's entropy of l[n] against libm_entropy, within 1e-5. */
static void check_entropy(const float *l, int n, const char *what) {
    ar_sampler *sp = ar_sampler_new(n, 1);
    float *work = malloc((size_t)n * sizeof *work);
    if (!sp || !work) {
        CHECK(0, "entropy %s n=%d: out of memory", what, n);
        ar_sampler_free(sp);
        free(work);
        return;
    }
    ar_sampler_config(sp, 0.0f, 1.0f, 0, 1.0f, 0);
    memcpy(work, l, (size_t)n * sizeof *work);
    ar_sampler_sample(sp, work);
    double got = ar_sampler_last_entropy(sp), want = libm_entropy(l, n), err = fabs(got - want);
    if (err > worst_entropy_error) worst_entropy_error = err;
    CHECK(err <= 1e-5, "entropy %s n=%d: %.8f, libm %.8f", what, n, got, want);
    ar_sampler_free(sp);
    free(work);
}

/* The entropy over vocabularies of every remainder mod 8 up to 32,000 (the
 * llama2 shapes), on random, model-like and extreme logits. */
static void entropy_matches_libm(void) {
    static const int sizes[] = {1, 2, 3, 7, 8, 9, 15, 17, 100, 255, 256, 257, 511, 4096, 4099, 31999, 32000};
    static float l[32000];
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        int n = sizes[k];
        for (int i = 0; i < n; i++) l[i] = (float)(uniform01() * 4.0);
        check_entropy(l, n, "uniform [0,4)");
        static const float scales[] = {0.01f, 1.0f, 3.0f, 10.0f, 30.0f, 100.0f};
        for (size_t q = 0; q < sizeof scales / sizeof *scales; q++) {
            for (int i = 0; i < n; i++) l[i] = scales[q] * gaussian() - 5.0f;
            check_entropy(l, n, "gaussian");
        }
        /* a trained model's shape: a few likely tokens over a long Zipf tail */
        for (int i = 0; i < n; i++) l[i] = 8.0f - 1.3f * logf(1.0f + (float)((i * 7919) % n)) + 0.5f * gaussian();
        check_entropy(l, n, "zipf");
        for (int i = 0; i < n; i++) l[i] = 0.2f * gaussian();
        l[n / 2] = 60.0f;
        check_entropy(l, n, "one peak");
        for (int i = 0; i < n; i++) l[i] = 1.0e4f + gaussian();
        check_entropy(l, n, "offset 1e4");
        for (int i = 0; i < n; i++) l[i] = (float)(uniform01() * 200.0 - 100.0);
        check_entropy(l, n, "spread [-100,100)");
        for (int i = 0; i < n; i++) l[i] = (i % 3 == 0) ? -INFINITY : (i % 3 == 1) ? -FLT_MAX : 2.0f * gaussian();
        l[n - 1] = 1.0f;
        check_entropy(l, n, "-inf and -FLT_MAX");
        for (int i = 0; i < n; i++) l[i] = -INFINITY;
        l[(n * 3) / 4] = -3.0f;
        check_entropy(l, n, "one finite among -inf");
        for (int i = 0; i < n; i++) l[i] = (float)(-86.0 - 3.0 * uniform01());
        l[0] = 0.0f;
        check_entropy(l, n, "terms at the fp32 floor");
    }
    float two[2];
    static const float pairs[][2] = {{0, 0}, {0, -INFINITY}, {1e4f, -1e4f}, {0, -100}, {3, 2.9f}, {-FLT_MAX, 5}};
    for (size_t k = 0; k < sizeof pairs / sizeof *pairs; k++) {
        memcpy(two, pairs[k], sizeof two);
        check_entropy(two, 2, "pair");
    }
    printf("entropy: worst difference from libm %.2e\n", worst_entropy_error);

    /* a NaN logit gives a NaN entropy, wherever it is */
    ar_sampler *sp = ar_sampler_new(300, 1);
    ar_sampler_config(sp, 0.0f, 1.0f, 0, 1.0f, 0);
    int nan_ok = 1;
    for (int at = 0; at < 300; at += 37) {
        for (int i = 0; i < 300; i++) l[i] = gaussian();
        l[at] = NAN;
        ar_sampler_sample(sp, l);
        if (!isnan(ar_sampler_last_entropy(sp))) nan_ok = 0;
    }
    CHECK(nan_ok, "a NaN logit makes the entropy NaN");
    ar_sampler_free(sp);
}

int main(void) {
    float l[V];
    ar_sampler *sp = ar_sampler_new(V, 42);
    CHECK(sp != NULL, "new");
    CHECK(ar_sampler_new(0, 1) == NULL && ar_last_error_code() == AR_E_ARG, "vocab 0 refused");

    /* greedy picks the first maximum; entropy is measured at temperature 1 */
    CHECK(ar_sampler_config(sp, 0.0f, 1.0f, 0, 1.0f, 0) == AR_OK, "greedy config");
    fill(l, 3);
    int best = 0;
    for (int i = 1; i < V; i++) if (l[i] > l[best]) best = i;
    CHECK(ar_sampler_sample(sp, l) == best, "greedy = argmax");
    for (int i = 0; i < V; i++) l[i] = 1.0f;
    CHECK(ar_sampler_sample(sp, l) == 0, "ties go to the first");
    CHECK(fabsf(ar_sampler_last_entropy(sp) - 1.0f) < 1e-4f, "uniform logits: entropy 1 (%f)", ar_sampler_last_entropy(sp));
    for (int i = 0; i < V; i++) l[i] = 0.0f;
    l[7] = 60.0f;
    CHECK(ar_sampler_sample(sp, l) == 7 && ar_sampler_last_entropy(sp) < 1e-3f, "peaked logits: entropy ~0");

    /* the same seed gives the same tokens; another seed gives others */
    int a[64], b[64], c[64];
    ar_sampler_config(sp, 1.0f, 1.0f, 0, 1.0f, 0);
    ar_sampler_seed(sp, 9);
    for (int i = 0; i < 64; i++) a[i] = draw(sp, i);
    ar_sampler_seed(sp, 9);
    for (int i = 0; i < 64; i++) b[i] = draw(sp, i);
    ar_sampler_seed(sp, 10);
    for (int i = 0; i < 64; i++) c[i] = draw(sp, i);
    CHECK(memcmp(a, b, sizeof a) == 0, "seeded sampling repeats");
    CHECK(memcmp(a, c, sizeof a) != 0, "another seed differs");
    int distinct = 0, seen[V] = {0};
    for (int i = 0; i < 64; i++) if (!seen[a[i]]++) distinct++;
    CHECK(distinct > 10, "temperature 1 spreads over many tokens (%d)", distinct);

    /* top-k 1 is greedy whatever the temperature; the entropy is the full
     * distribution's at temperature 1 whatever the settings */
    ar_sampler_config(sp, 0.0f, 1.0f, 0, 1.0f, 0);
    fill(l, 3);
    ar_sampler_sample(sp, l);
    float full = ar_sampler_last_entropy(sp);
    CHECK(full > 0.0f && full < 1.0f, "full entropy in (0,1) (%f)", full);
    ar_sampler_config(sp, 1.5f, 1.0f, 1, 1.0f, 0);
    fill(l, 3);
    CHECK(ar_sampler_sample(sp, l) == best, "top-k 1");
    CHECK(fabsf(ar_sampler_last_entropy(sp) - full) < 1e-5f, "top-k 1: the same entropy (%f vs %f)",
          ar_sampler_last_entropy(sp), full);
    ar_sampler_config(sp, 0.7f, 0.5f, 5, 1.3f, 8);
    fill(l, 3);
    ar_sampler_sample(sp, l);
    CHECK(fabsf(ar_sampler_last_entropy(sp) - full) < 1e-5f, "sampling settings leave the entropy alone");
    /* top-k 5 only ever yields the 5 best */
    int top5_ok = 1;
    ar_sampler_config(sp, 1.5f, 1.0f, 5, 1.0f, 0);
    for (int t = 0; t < 200; t++) {
        fill(l, 3);
        float sorted[V];
        memcpy(sorted, l, sizeof sorted);
        int tok = ar_sampler_sample(sp, l);
        int above = 0;
        for (int i = 0; i < V; i++) if (sorted[i] > sorted[tok]) above++;
        if (above >= 5) top5_ok = 0;
    }
    CHECK(top5_ok, "top-k 5 stays within the 5 best");
    float e = ar_sampler_last_entropy(sp);
    CHECK(e > 0.0f && e <= 1.0f, "entropy in (0,1] (%f)", e);

    /* a tiny top-p keeps only the most likely token */
    ar_sampler_config(sp, 1.0f, 0.01f, 0, 1.0f, 0);
    fill(l, 3);
    CHECK(ar_sampler_sample(sp, l) == best, "top-p 0.01 = greedy");

    /* top-p below 1/n (n = 2 after top-k 2): the cutoff is above every
     * probability, so the nucleus is the most likely token alone (it was
     * whichever candidate sat first: token 0, or the less likely of the two) */
    ar_sampler_config(sp, 1.0f, 0.01f, 2, 1.0f, 0);
    int small_p_ok = 1;
    for (int trial = 0; trial < 50; trial++) {
        fill(l, 100 + trial);
        float top = l[0];
        for (int i = 1; i < V; i++)
            if (l[i] > top) top = l[i];
        float before[V];
        memcpy(before, l, sizeof before); /* sampling rewrites the logits in place */
        if (before[ar_sampler_sample(sp, l)] != top) small_p_ok = 0; /* (ties: any of the best) */
    }
    CHECK(small_p_ok, "top-p below 1/n keeps the most likely token");

    /* bias: +50 on one token forces it; the arrays are copied */
    int32_t ids[1] = {13};
    float w[1] = {50.0f};
    CHECK(ar_sampler_set_bias(sp, ids, w, 1) == AR_OK, "set bias");
    ids[0] = 14;
    ar_sampler_config(sp, 0.8f, 0.9f, 40, 1.0f, 0);
    fill(l, 5);
    CHECK(ar_sampler_sample(sp, l) == 13, "bias forces token 13");
    CHECK(ar_sampler_set_bias(sp, NULL, NULL, 0) == AR_OK, "clear bias");
    ids[0] = V;
    CHECK(ar_sampler_set_bias(sp, ids, w, 1) == AR_E_ARG, "bias outside vocab refused");
    ids[0] = 1;
    w[0] = NAN;
    CHECK(ar_sampler_set_bias(sp, ids, w, 1) == AR_E_ARG, "NaN bias refused");

    /* repetition penalty: greedy would repeat the best token; a strong
     * penalty over the window moves it to another one */
    ar_sampler_config(sp, 0.0f, 1.0f, 0, 1.0f, 0);
    fill(l, 3);
    int first = ar_sampler_sample(sp, l);
    ar_sampler_config(sp, 0.0f, 1.0f, 0, 100.0f, 8);
    int32_t hist[1] = {first};
    ar_sampler_observe(sp, hist, 1);
    fill(l, 3);
    CHECK(ar_sampler_sample(sp, l) != first, "penalised token is avoided");
    ar_sampler_observe(sp, NULL, 0);
    fill(l, 3);
    CHECK(ar_sampler_sample(sp, l) == first, "cleared history: the best token again");

    /* bad settings are refused and change nothing */
    CHECK(ar_sampler_config(sp, -1.0f, 0.9f, 0, 1.0f, 0) == AR_E_ARG, "negative temperature");
    CHECK(ar_sampler_config(sp, NAN, 0.9f, 0, 1.0f, 0) == AR_E_ARG, "NaN temperature");
    CHECK(ar_sampler_config(sp, 1.0f, 0.9f, -3, 1.0f, 0) == AR_E_ARG, "negative top-k");
    CHECK(ar_sampler_config(sp, 1.0f, 0.9f, 0, 0.0f, 0) == AR_E_ARG, "zero penalty");
    CHECK(ar_sampler_config(sp, 1.0f, 0.9f, 0, 1.1f, 1 << 20) == AR_E_ARG, "huge window");
    CHECK(ar_sampler_sample(sp, NULL) == AR_E_ARG, "NULL logits");
    ar_sampler_free(sp);
    ar_sampler_free(NULL);
    entropy_matches_libm();
    return check_summary("sampler");
}
