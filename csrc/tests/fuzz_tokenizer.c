/*
 * fuzz_tokenizer.c — libFuzzer target for tokenizer.c.
 *
 * Input: 2 bytes that pick vocab_size (3 + value % 1024), then a
 * tokenizer.bin. When the file loads, a slice of the input is encoded (with
 * and without BOS/EOS) and every resulting id, then every vocabulary id, is
 * pushed through the streaming decoder; each chunk must be valid UTF-8.
 *
 * So that the merge loop gets exercised without the fuzzer first having to
 * learn the file format, an input whose first byte is odd is instead read as
 * a recipe for a valid file: the special tokens, optionally the 256 byte
 * pieces, then pieces of (1 length byte, 1 score byte, bytes) taken from
 * the input until half of it is used; the rest is the text.
 *
 *   cd csrc && clang -g -O1 -fsanitize=fuzzer,address,undefined -I. \
 *       -o /tmp/fuzz_tokenizer tests/fuzz_tokenizer.c tokenizer.c tests/shim_errors.c
 *   /tmp/fuzz_tokenizer -max_total_time=60 CORPUS_DIR
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arianna.h"

static char path[64];

/* Strict UTF-8 check (no overlongs, surrogates, or values above U+10FFFF). */
static int valid_utf8(const uint8_t *s, int n) {
    for (int i = 0; i < n;) {
        uint8_t c = s[i];
        int need;
        uint32_t cp;
        if (c < 0x80) { i++; continue; }
        if (c >= 0xC2 && c <= 0xDF) { need = 2; cp = c & 0x1F; }
        else if (c >= 0xE0 && c <= 0xEF) { need = 3; cp = c & 0x0F; }
        else if (c >= 0xF0 && c <= 0xF4) { need = 4; cp = c & 0x07; }
        else return 0;
        if (n - i < need) return 0;
        for (int k = 1; k < need; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((need == 3 && cp < 0x800) || (need == 4 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += need;
    }
    return 1;
}

static void push(ar_decoder *d, int prev, int id, char *big, int bigcap) {
    char small[64];
    int n = ar_decoder_push(d, prev, id, small, sizeof small);
    const char *out = small;
    if (n == AR_E_BUFFER) { /* a long piece: retry with room for it */
        n = ar_decoder_push(d, prev, id, big, bigcap);
        out = big;
    }
    if (n < 0 || !valid_utf8((const uint8_t *)out, n)) abort();
}

static void remove_file(void) { unlink(path); }

static void put_piece(FILE *f, const void *p, int32_t len, float score) {
    fwrite(&score, 4, 1, f);
    fwrite(&len, 4, 1, f);
    fwrite(p, 1, (size_t)len, f);
}

/* Write a valid tokenizer.bin built from the input; returns its vocab size
 * and sets *text_at to where the text begins. */
static int write_recipe(FILE *f, const uint8_t *data, size_t size, size_t *text_at) {
    uint32_t maxlen = 15;
    int vocab = 3;
    fwrite(&maxlen, 4, 1, f);
    put_piece(f, "<unk>", 5, 0);
    put_piece(f, "\n<s>\n", 5, 0);
    put_piece(f, "\n</s>\n", 6, 0);
    if (data[1] & 1) {
        for (int b = 0; b < 256; b++) {
            char s[8];
            snprintf(s, sizeof s, "<0x%02X>", b);
            put_piece(f, s, 6, 0);
        }
        vocab += 256;
    }
    size_t i = 2, half = size / 2;
    while (i + 2 <= half) {
        int32_t len = data[i] & 15;
        float score = (float)(int8_t)data[i + 1] / 8.0f;
        i += 2;
        if (i + (size_t)len > half) break;
        put_piece(f, data + i, len, score);
        i += (size_t)len;
        vocab++;
    }
    *text_at = i;
    return vocab;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    if (!path[0]) {
        const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(path, sizeof path, "%s/fuzz_tokenizer.%d.bin", dir, (int)getpid());
        atexit(remove_file);
    }
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    int vocab;
    size_t start;
    if (data[0] & 1) {
        vocab = write_recipe(f, data, size, &start);
    } else {
        vocab = 3 + (int)((data[0] | data[1] << 8) % 1024);
        fwrite(data + 2, 1, size - 2, f);
        start = size / 2;
    }
    fclose(f);

    ar_tokenizer *t = ar_tokenizer_open(path, vocab);
    if (!t) {
        if (ar_last_error_code() == AR_OK || ar_last_error()[0] == '\0') abort();
        return 0;
    }
    if (ar_tokenizer_vocab_size(t) != vocab) abort();

    /* Longest piece, for a decoder buffer that always suffices. */
    int maxlen = 0;
    char tmp[1];
    for (int id = 0; id < vocab; id++) {
        int n = ar_tokenizer_piece(t, id, tmp, 0);
        if (n == AR_E_BUFFER) { /* non-empty: find its length */
            for (int cap = 1;; cap *= 2) {
                char *p = malloc((size_t)cap);
                n = ar_tokenizer_piece(t, id, p, cap);
                free(p);
                if (n != AR_E_BUFFER) break;
            }
        }
        if (n < 0) abort();
        if (n > maxlen) maxlen = n;
    }
    int bigcap = 3 * (maxlen + 4) + 64;
    char *big = malloc((size_t)bigcap);

    /* Encode the rest of the input as text. */
    size_t len = size - start;
    if (len > 4096) len = 4096;
    int32_t *ids = malloc((len + 3) * sizeof *ids);
    for (int mode = 0; mode < 2; mode++) {
        int n = ar_tokenizer_encode(t, (const char *)data + start, (int)len, mode, mode, ids, (int)len + 3);
        if (n < 0 || n > (int)len + 3) abort();
        for (int i = 0; i < n; i++)
            if (ids[i] < 0 || ids[i] >= vocab) abort();
        ar_decoder *d = ar_decoder_new(t);
        for (int i = 0; i < n; i++) push(d, i ? ids[i - 1] : 1, ids[i], big, bigcap);
        char out[64];
        int k = ar_decoder_flush(d, out, sizeof out);
        if (k < 0 || !valid_utf8((const uint8_t *)out, k)) abort();
        ar_decoder_free(d);
    }
    /* Too small an output buffer must fail cleanly. */
    if (len > 0 && ar_tokenizer_encode(t, (const char *)data + start, (int)len, 1, 1, ids, 1) != AR_E_BUFFER)
        abort();

    /* Every vocabulary id through one decoder. */
    ar_decoder *d = ar_decoder_new(t);
    for (int id = 0; id < vocab; id++) push(d, id ? id - 1 : 1, id, big, bigcap);
    char out[64];
    if (ar_decoder_flush(d, out, sizeof out) < 0) abort();
    ar_decoder_free(d);

    free(ids);
    free(big);
    ar_tokenizer_free(t);
    return 0;
}
