/*
 * test_sampler.c — greedy, seeded sampling, top-k, top-p, bias, repetition
 * penalty and the entropy the leo layer reads.
 */
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
    return check_summary("sampler");
}
