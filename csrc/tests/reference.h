/*
 * reference.h — a deliberately plain re-implementation of the model, used only
 * by the tests: its own file reader (fread, no mmap, no validation beyond what
 * a well-formed fixture needs), double-precision sums, no threads, no SIMD.
 * The optimised core is checked against it. Also writes random fixture models.
 */
#ifndef ARIANNA_REFERENCE_H
#define ARIANNA_REFERENCE_H

#include <stdint.h>

typedef struct {
    int dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
} ref_config;

/* Write a model.bin with deterministic random weights. format 0/1/2/3;
 * group_size for format 2 (format 3 always has 32); shared = 1 for a tied classifier. Returns 0 on
 * success. */
int ref_write_model(const char *path, const ref_config *c, int format, int group_size, int shared,
                    uint64_t seed);

typedef struct ref_model ref_model;
ref_model *ref_open(const char *path);
void ref_free(ref_model *m);
const ref_config *ref_config_of(const ref_model *m);
/* Run `token` at position `pos` (positions must come in order from 0) and
 * write vocab_size logits. For Q8_0 and Q4_0 models the activations are quantized
 * exactly as the format prescribes, so only summation order differs. */
void ref_forward(ref_model *m, int token, int pos, float *logits);

#endif
