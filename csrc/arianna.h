/*
 * arianna.h — the C ABI of the InnerArianna inference core (libarianna.so).
 *
 * This is the only header a caller needs. It is shaped for bun:ffi:
 *   - every object is an opaque handle (a pointer the caller never looks into);
 *   - every function takes and returns plain integers, floats, pointers and
 *     C strings — no structs cross the boundary;
 *   - failures return NULL or a negative AR_E_* code, and ar_last_error()
 *     gives the message text (per calling thread);
 *   - nothing ever calls back into the caller, and no native thread touches
 *     caller memory outside the call that handed it over.
 *
 * Lifetimes: a model outlives its sessions; a tokenizer outlives its decoders.
 * Handles are not thread-safe; use each one from a single thread at a time.
 * The src/engine/abi.ts file mirrors this header for TypeScript: change both.
 */
#ifndef ARIANNA_H
#define ARIANNA_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define AR_EXPORT __attribute__((visibility("default")))

/* ---- error codes -------------------------------------------------------- */

enum {
    AR_OK          = 0,
    AR_E_IO        = -1, /* cannot open / stat / map the file              */
    AR_E_FORMAT    = -2, /* bad magic, version, dims or file size           */
    AR_E_NOMEM     = -3, /* an allocation failed                             */
    AR_E_ARG       = -4, /* bad argument (NULL, out of range, ...)           */
    AR_E_TOKENIZER = -5, /* bad tokenizer.bin or tokenizer/model mismatch    */
    AR_E_CONTEXT   = -6, /* the session has no room left (pos == seq_len)    */
    AR_E_BUFFER    = -7  /* the caller's output buffer is too small          */
};

/* The message for the last failure on this thread ("" if none). */
AR_EXPORT const char *ar_last_error(void);
/* The code of the last failure on this thread (AR_OK if none). */
AR_EXPORT int ar_last_error_code(void);
/* Library version, e.g. "0.1.0". */
AR_EXPORT const char *ar_version(void);
/* The kernel set chosen for this CPU: "scalar", "avx2", "neon", "neon-dotprod". */
AR_EXPORT const char *ar_kernel_name(void);

/* ---- model -------------------------------------------------------------- */

typedef struct ar_model ar_model;

/* Open and fully validate a llama2.c model.bin (v0 legacy, v1 fp32, v2 Q8_0, v3 Q4_0)
 * through mmap. n_threads <= 0 picks the number of online CPUs. Returns NULL
 * on failure (see ar_last_error). Never aborts, whatever the file holds. */
AR_EXPORT ar_model *ar_model_open(const char *path, int n_threads);
AR_EXPORT void ar_model_free(ar_model *m);

enum {
    AR_INFO_DIM = 0,
    AR_INFO_HIDDEN_DIM,
    AR_INFO_N_LAYERS,
    AR_INFO_N_HEADS,
    AR_INFO_N_KV_HEADS,
    AR_INFO_VOCAB_SIZE,
    AR_INFO_SEQ_LEN,
    AR_INFO_FORMAT,            /* 0 legacy, 1 fp32, 2 Q8_0, 3 Q4_0       */
    AR_INFO_GROUP_SIZE,        /* Q8_0/Q4_0 group size, 0 for fp32        */
    AR_INFO_SHARED_CLASSIFIER, /* 1 if the classifier is the embedding    */
    AR_INFO_N_PARAMS,
    AR_INFO_FILE_BYTES,
    AR_INFO_N_THREADS
};
/* One number about the model; -1 for an unknown key or NULL model. */
AR_EXPORT int64_t ar_model_info(const ar_model *m, int key);

/* ---- session: one KV cache and a position over a shared model ----------- */

typedef struct ar_session ar_session;

AR_EXPORT ar_session *ar_session_new(ar_model *m);
AR_EXPORT void ar_session_free(ar_session *s);
/* Forget everything: position back to 0 (the KV cache is simply overwritten). */
AR_EXPORT void ar_session_reset(ar_session *s);
/* Number of tokens already in the KV cache. */
AR_EXPORT int ar_session_pos(const ar_session *s);
/* Roll the position back to pos (0 <= pos <= current position), keeping the
 * cached prefix: the caller reuses a shared prompt prefix this way. Returns
 * the new position or AR_E_ARG. */
AR_EXPORT int ar_session_truncate(ar_session *s, int pos);
/* Run the model over n tokens starting at the current position. Only the last
 * token's logits are computed (the others skip the classifier). Returns the new
 * position, or AR_E_CONTEXT if pos + n > seq_len (nothing is consumed then). */
AR_EXPORT int ar_session_prefill(ar_session *s, const int32_t *tokens, int n);
/* ar_session_prefill into the KV cache alone: no token's logits are computed,
 * and ar_session_logits keeps what it held. For a caller that runs the next
 * token through ar_session_step or ar_session_forward anyway (a prompt but its
 * last token), where the last token's classifier would go unread. */
AR_EXPORT int ar_session_prefill_kv(ar_session *s, const int32_t *tokens, int n);
/* Run one token; its logits become readable. Returns the new position. */
AR_EXPORT int ar_session_forward(ar_session *s, int token);
/* The logits buffer (vocab_size floats) of the last computed token. It stays
 * valid for the life of the session; the caller may read and modify it. */
AR_EXPORT float *ar_session_logits(ar_session *s);

/* ---- sampler ------------------------------------------------------------ */

typedef struct ar_sampler ar_sampler;

/* A seeded sampler for a vocabulary; the same seed gives the same tokens. */
AR_EXPORT ar_sampler *ar_sampler_new(int vocab_size, uint64_t seed);
AR_EXPORT void ar_sampler_free(ar_sampler *sp);
AR_EXPORT void ar_sampler_seed(ar_sampler *sp, uint64_t seed);
/* temperature 0 = greedy; topp in (0,1) enables nucleus sampling (>= 1 off);
 * topk > 0 keeps the k best; repeat_penalty > 1 divides positive / multiplies
 * negative logits of tokens seen in the last repeat_window tokens. */
AR_EXPORT int ar_sampler_config(ar_sampler *sp, float temperature, float topp,
                                int topk, float repeat_penalty, int repeat_window);
/* Sparse additive logit bias, added before any other step. n = 0 clears it.
 * Ids must be in [0, vocab); the arrays are copied. */
AR_EXPORT int ar_sampler_set_bias(ar_sampler *sp, const int32_t *ids,
                                  const float *weights, int n);
/* Append tokens to the repetition history (e.g. the prompt); n = 0 with
 * tokens = NULL clears the history. */
AR_EXPORT int ar_sampler_observe(ar_sampler *sp, const int32_t *tokens, int n);
/* Pick a token from logits (modified in place). Returns the token id (>= 0)
 * or a negative error. The token joins the repetition history. */
AR_EXPORT int ar_sampler_sample(ar_sampler *sp, float *logits);
/* Entropy of the model's distribution for the last token: softmax of the
 * logits as passed in (before bias, penalty, temperature, top-k/top-p) over
 * the whole vocabulary, divided by ln(vocab size): in [0,1]. It does not
 * depend on the sampler's settings. */
AR_EXPORT float ar_sampler_last_entropy(const ar_sampler *sp);

/* forward(token) then sample: one FFI call per generated token. Returns the
 * next token id or a negative error. */
AR_EXPORT int ar_session_step(ar_session *s, ar_sampler *sp, int token);

/* ---- tokenizer (llama2.c tokenizer.bin) --------------------------------- */

typedef struct ar_tokenizer ar_tokenizer;

/* Load tokenizer.bin for a vocabulary of vocab_size pieces (from the model
 * header). Returns NULL on a malformed file. */
AR_EXPORT ar_tokenizer *ar_tokenizer_open(const char *path, int vocab_size);
AR_EXPORT void ar_tokenizer_free(ar_tokenizer *t);
AR_EXPORT int ar_tokenizer_vocab_size(const ar_tokenizer *t);
/* BPE-encode UTF-8 text (len bytes; len < 0 means NUL-terminated) into out.
 * bos/eos (0 or 1) add ids 1/2. Returns the number of tokens, or AR_E_BUFFER
 * if more than max_out are needed; len + 3 is always enough. A prefix space
 * is added as llama2.c does. */
AR_EXPORT int ar_tokenizer_encode(ar_tokenizer *t, const char *text, int len,
                                  int bos, int eos, int32_t *out, int max_out);
/* The raw piece of a token (no BOS-space or byte handling); returns its
 * length, or AR_E_BUFFER / AR_E_ARG. Not NUL-terminated. */
AR_EXPORT int ar_tokenizer_piece(const ar_tokenizer *t, int id, char *out, int cap);

/* Streaming detokenizer: turns token ids into UTF-8 text, holding back an
 * incomplete multi-byte sequence until it completes, so every chunk it gives
 * out is valid UTF-8. */
typedef struct ar_decoder ar_decoder;
AR_EXPORT ar_decoder *ar_decoder_new(const ar_tokenizer *t);
AR_EXPORT void ar_decoder_free(ar_decoder *d);
AR_EXPORT void ar_decoder_reset(ar_decoder *d);
/* Push token `id` that followed `prev`; writes the completed text to out and
 * returns its byte length (may be 0). Returns AR_E_BUFFER if cap < 64 or the
 * text does not fit (at most 3 x (piece length + 3) bytes, when every byte is
 * invalid); then nothing is consumed and the call can be retried with more. */
AR_EXPORT int ar_decoder_push(ar_decoder *d, int prev, int id, char *out, int cap);
/* Emit what is still held back (invalid bytes become U+FFFD). */
AR_EXPORT int ar_decoder_flush(ar_decoder *d, char *out, int cap);

/* ---- embeddings --------------------------------------------------------- */

/* A text's embedding: runs n tokens from position 0 (the session's cache is
 * overwritten and its position is 0 afterwards: use a session of its own) and
 * writes to out (dim == the model's dim floats) the mean, over every token
 * but a leading BOS, of the final hidden state after the final RMSNorm (what
 * the classifier reads), scaled to unit length. Cosine similarity is then a
 * dot product. Returns the number of tokens pooled, or AR_E_ARG /
 * AR_E_CONTEXT (n > seq_len). */
AR_EXPORT int ar_session_embed(ar_session *s, const int32_t *tokens, int n, float *out, int dim);

/* ---- service manager ---------------------------------------------------- */

/* Send `state` (e.g. "READY=1", "WATCHDOG=1", "STATUS=...") to systemd over
 * the datagram socket named by $NOTIFY_SOCKET (a path, or '@' for the
 * abstract namespace). Returns 1 when sent, 0 when there is no
 * $NOTIFY_SOCKET (not under systemd), or AR_E_IO / AR_E_ARG. */
AR_EXPORT int ar_sd_notify(const char *state);

#ifdef __cplusplus
}
#endif
#endif /* ARIANNA_H */
