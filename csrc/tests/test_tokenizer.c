/*
 * test_tokenizer.c — the tokenizer and streaming decoder of tokenizer.c.
 *
 * Writes its own tokenizer.bin fixtures to a temp dir and checks:
 *   - encode() gives the ids of a naive llama2.c-style encoder written here
 *     (rescan-everything merge loop) on many random strings: ASCII, Cyrillic,
 *     emoji, invalid UTF-8, long runs of one char where tie-breaking matters,
 *     and on random vocabularies with tied / unmergeable / odd pieces;
 *   - a 100 KB prompt encodes quickly (the time is printed);
 *   - the decoder gives valid UTF-8 chunks that join to the expected text;
 *   - malformed tokenizer files fail with AR_E_TOKENIZER and a message.
 * Build: make -C csrc tests (ASan + UBSan). Last line: "tokenizer: N passed, 0 failed".
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "arianna.h"
#include "check.h"

static char tmpdir[256];

/* ---- deterministic RNG --------------------------------------------------- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void) {
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 0x2545F4914F6CDD1Dull) >> 32);
}
static int rnd_below(int n) { return (int)(rnd() % (uint32_t)n); }

/* ---- a vocabulary in the test's own memory ------------------------------- */

typedef struct {
    int n, cap;
    char **piece;
    int *len;
    float *score;
} Vocab;

static void vocab_add(Vocab *v, const char *p, int len, float score) {
    if (v->n == v->cap) {
        v->cap = v->cap ? 2 * v->cap : 512;
        v->piece = realloc(v->piece, (size_t)v->cap * sizeof *v->piece);
        v->len = realloc(v->len, (size_t)v->cap * sizeof *v->len);
        v->score = realloc(v->score, (size_t)v->cap * sizeof *v->score);
    }
    v->piece[v->n] = malloc((size_t)len + 1);
    memcpy(v->piece[v->n], p, (size_t)len);
    v->piece[v->n][len] = '\0';
    v->len[v->n] = len;
    v->score[v->n] = score;
    v->n++;
}
static void vocab_adds(Vocab *v, const char *p, float score) { vocab_add(v, p, (int)strlen(p), score); }

static void vocab_free(Vocab *v) {
    for (int i = 0; i < v->n; i++) free(v->piece[i]);
    free(v->piece);
    free(v->len);
    free(v->score);
    memset(v, 0, sizeof *v);
}

/* The special tokens and the 256 byte pieces <0xXX> (ids 3..258). */
static void vocab_base(Vocab *v) {
    vocab_adds(v, "<unk>", 0);
    vocab_adds(v, "\n<s>\n", 0);
    vocab_adds(v, "\n</s>\n", 0);
    for (int b = 0; b < 256; b++) {
        char s[8];
        snprintf(s, sizeof s, "<0x%02X>", b);
        vocab_adds(v, s, 0);
    }
}

static int vocab_id(const Vocab *v, const char *p) {
    for (int i = 0; i < v->n; i++)
        if (v->len[i] == (int)strlen(p) && memcmp(v->piece[i], p, (size_t)v->len[i]) == 0) return i;
    return -1;
}

static void path_for(char *out, size_t cap, const char *name) {
    snprintf(out, cap, "%s/%s", tmpdir, name);
}

static void write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) { perror(path); exit(2); }
    if (n && fwrite(data, 1, n, f) != n) { perror(path); exit(2); }
    fclose(f);
}

static void write_vocab(const Vocab *v, const char *path) {
    uint32_t maxlen = 0;
    for (int i = 0; i < v->n; i++)
        if ((uint32_t)v->len[i] > maxlen) maxlen = (uint32_t)v->len[i];
    FILE *f = fopen(path, "wb");
    if (!f) { perror(path); exit(2); }
    fwrite(&maxlen, 4, 1, f);
    for (int i = 0; i < v->n; i++) {
        int32_t n = v->len[i];
        fwrite(&v->score[i], 4, 1, f);
        fwrite(&n, 4, 1, f);
        fwrite(v->piece[i], 1, (size_t)n, f);
    }
    fclose(f);
}

static ar_tokenizer *open_vocab(const Vocab *v, const char *name) {
    char path[512];
    path_for(path, sizeof path, name);
    write_vocab(v, path);
    ar_tokenizer *t = ar_tokenizer_open(path, v->n);
    if (!t) fprintf(stderr, "cannot open %s: %s\n", path, ar_last_error());
    return t;
}

/* ---- the reference encoder: llama2.c's algorithm, written naively -------- */

/* Pieces are compared as C strings (up to the first NUL), as llama2.c does;
 * sorted by (key, id) so a lookup finds the lowest id of duplicates. */
typedef struct {
    const Vocab *v;
    int *order;
} Ref;

static const Vocab *sort_vocab;
static int key_len(const Vocab *v, int id) { return (int)strlen(v->piece[id]); }
static int key_cmp(const char *a, int na, const char *b, int nb) {
    int m = na < nb ? na : nb;
    int c = memcmp(a, b, (size_t)m);
    if (c) return c;
    return (na > nb) - (na < nb);
}
static int order_cmp(const void *pa, const void *pb) {
    int a = *(const int *)pa, b = *(const int *)pb;
    int c = key_cmp(sort_vocab->piece[a], key_len(sort_vocab, a), sort_vocab->piece[b], key_len(sort_vocab, b));
    return c ? c : (a > b) - (a < b);
}

static Ref ref_new(const Vocab *v) {
    Ref r = {v, malloc((size_t)v->n * sizeof(int))};
    for (int i = 0; i < v->n; i++) r.order[i] = i;
    sort_vocab = v;
    qsort(r.order, (size_t)v->n, sizeof(int), order_cmp);
    return r;
}

static int ref_lookup(const Ref *r, const char *s, int n) {
    int lo = 0, hi = r->v->n; /* first entry whose key >= s */
    while (lo < hi) {
        int mid = (lo + hi) / 2, id = r->order[mid];
        if (key_cmp(r->v->piece[id], key_len(r->v, id), s, n) < 0) lo = mid + 1;
        else hi = mid;
    }
    if (lo < r->v->n) {
        int id = r->order[lo];
        if (key_cmp(r->v->piece[id], key_len(r->v, id), s, n) == 0) return id;
    }
    return -1;
}

static int ref_byte(const Ref *r, uint8_t b) { return b + 3 < r->v->n ? b + 3 : 0; }

/* Returns the token count; tokens must hold len + 3. */
static int ref_encode(const Ref *r, const char *text, int len, int bos, int eos, int *tokens) {
    int n = 0;
    if (bos) tokens[n++] = 1;
    if (len > 0) {
        int sp = ref_lookup(r, " ", 1);
        tokens[n++] = sp >= 0 ? sp : ref_byte(r, ' ');
    }
    char buf[8];
    int blen = 0;
    for (int i = 0; i < len; i++) {
        uint8_t c = (uint8_t)text[i];
        if ((c & 0xC0) != 0x80) blen = 0;
        buf[blen++] = (char)c;
        if (i + 1 < len && ((uint8_t)text[i + 1] & 0xC0) == 0x80 && blen < 4) continue;
        int id = ref_lookup(r, buf, blen);
        if (id >= 0) tokens[n++] = id;
        else for (int k = 0; k < blen; k++) tokens[n++] = ref_byte(r, (uint8_t)buf[k]);
        blen = 0;
    }
    /* BOS takes part in merges, as in llama2.c */
    int start = 0;
    char *cat = NULL;
    size_t catcap = 0;
    for (;;) {
        float best = -1e10f;
        int best_id = -1, best_i = -1;
        for (int i = start; i + 1 < n; i++) {
            const char *a = r->v->piece[tokens[i]], *b = r->v->piece[tokens[i + 1]];
            size_t na = strlen(a), nb = strlen(b);
            if (na + nb + 1 > catcap) { catcap = na + nb + 1; cat = realloc(cat, catcap); }
            memcpy(cat, a, na);
            memcpy(cat + na, b, nb);
            int id = ref_lookup(r, cat, (int)(na + nb));
            if (id >= 0 && r->v->score[id] > best) {
                best = r->v->score[id];
                best_id = id;
                best_i = i;
            }
        }
        if (best_i < 0) break;
        tokens[best_i] = best_id;
        memmove(&tokens[best_i + 1], &tokens[best_i + 2], (size_t)(n - best_i - 2) * sizeof(int));
        n--;
    }
    free(cat);
    if (eos) tokens[n++] = 2;
    return n;
}

/* ---- UTF-8 helpers for the decoder checks -------------------------------- */

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0 if invalid. */
static int utf8_seq(const uint8_t *s, int n) {
    uint8_t c = s[0];
    int need;
    uint32_t cp;
    if (c < 0x80) return 1;
    if ((c & 0xE0) == 0xC0) { need = 2; cp = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { need = 3; cp = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { need = 4; cp = c & 0x07; }
    else return 0;
    if (n < need) return 0;
    for (int i = 1; i < need; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[need] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return need;
}

static int valid_utf8(const char *s, int n) {
    for (int i = 0; i < n;) {
        int k = utf8_seq((const uint8_t *)s + i, n - i);
        if (!k) return 0;
        i += k;
    }
    return 1;
}

/* Replace invalid bytes: a valid sequence passes through; otherwise the
 * longest prefix that could still begin a valid sequence (at least 1 byte)
 * becomes one U+FFFD. Returns the output length (out holds 3 * n). */
static int could_begin(const uint8_t *s, int k) {
    /* does s[0..k) start some valid sequence? try all completions cheaply */
    uint8_t t[4];
    memcpy(t, s, (size_t)k);
    for (int need = k; need <= 4; need++) {
        if (need == k) {
            if (utf8_seq(t, k) == k) return 1;
            continue;
        }
        /* fill the rest with a continuation byte that keeps ranges valid */
        for (int f = 0x80; f <= 0xBF; f += 0x3F) {
            for (int i = k; i < need; i++) t[i] = (uint8_t)f;
            if (utf8_seq(t, need) == need) return 1;
        }
    }
    return 0;
}
static int ref_sanitize(const char *in, int n, char *out) {
    const uint8_t *s = (const uint8_t *)in;
    int o = 0;
    for (int i = 0; i < n;) {
        int k = utf8_seq(s + i, n - i);
        if (k) {
            memcpy(out + o, s + i, (size_t)k);
            o += k;
            i += k;
            continue;
        }
        int m = 1;
        while (m < 4 && i + m < n && could_begin(s + i, m + 1)) m++;
        memcpy(out + o, "\xEF\xBF\xBD", 3);
        o += 3;
        i += m;
    }
    return o;
}

/* The bytes llama2.c's decode() gives for (prev, id), before UTF-8 handling. */
static int ref_piece_bytes(const Vocab *v, int prev, int id, char *out) {
    const char *p = v->piece[id];
    int n = v->len[id];
    if (prev == 1 && n > 0 && p[0] == ' ') { p++; n--; }
    unsigned x;
    char tail;
    if (n == 6 && sscanf(p, "<0x%2x%c", &x, &tail) == 2 && tail == '>' &&
        strspn(p + 3, "0123456789ABCDEFabcdef") >= 2) {
        out[0] = (char)x;
        return 1;
    }
    memcpy(out, p, (size_t)n);
    return n;
}

/* ---- fixtures ------------------------------------------------------------ */

/* Characters for random text: ASCII, Cyrillic, emoji, and broken bytes. */
static const char *const alphabet[] = {
    "a", "a", "a", "b", "t", "h", "e", " ", " ", "n", "d", "i", "g", "x", ".", "\n",
    "п", "р", "и", "в", "е", "т", "м", "ё",
    "😀", "🙂", "é", "€",
    "\x80", "\xFF", "\xC3", "\xE2\x82", "\xF0\x9F\x98", "\xC0\xAF", "\xED\xA0\x80",
    "\xE0\x80\x80\x80\x80", /* lead + more continuations than fit in one group */
};
#define N_ALPHA (int)(sizeof alphabet / sizeof alphabet[0])

/* Single characters that exist as pieces in the main vocabulary. */
static const char *const chars[] = {
    " ", "a", "b", "t", "h", "e", "n", "d", "i", "g", ".", "\n",
    "п", "р", "и", "в", "е", "т", "м", "😀",
};

/* The main vocabulary: base + chars + merges, with deliberate score ties. */
static void vocab_main(Vocab *v) {
    vocab_base(v);
    for (size_t i = 0; i < sizeof chars / sizeof chars[0]; i++) vocab_adds(v, chars[i], -100);
    /* ties: "aa", "aaa", "aaaa" and "ab", "ba" all score 5 */
    vocab_adds(v, "aa", 5);
    vocab_adds(v, "aaa", 5);
    vocab_adds(v, "aaaa", 5);
    vocab_adds(v, "ab", 5);
    vocab_adds(v, "ba", 5);
    vocab_adds(v, " a", 1);
    vocab_adds(v, "th", 3);
    vocab_adds(v, "he", 3);
    vocab_adds(v, "the", 4);
    vocab_adds(v, " t", 2);
    vocab_adds(v, " the", 6);
    vocab_adds(v, "in", 2);
    vocab_adds(v, "ing", 2.5f);
    vocab_adds(v, "an", 2);
    vocab_adds(v, "and", 3);
    vocab_adds(v, " and", 3);
    vocab_adds(v, "th", 9);        /* duplicate piece: the lower id wins */
    vocab_adds(v, "пр", 1);
    vocab_adds(v, "ри", 1);
    vocab_adds(v, "при", 2);
    vocab_adds(v, "ве", 1);
    vocab_adds(v, "вет", 1);
    vocab_adds(v, "ет", 1);
    vocab_adds(v, " п", 0.5f);
    vocab_adds(v, "привет", 7);
    vocab_adds(v, "ив", 0.1f);
    vocab_adds(v, "😀😀", 1);
    vocab_adds(v, " 😀", 1);
    vocab_adds(v, "<0x80><0xFF>", 1); /* merges concatenate pieces, not text */
    vocab_adds(v, "e.", -1e11f);      /* below llama2.c's -1e10 floor: never merges */
    vocab_adds(v, "d.", NAN);         /* NaN never wins a '>' comparison */
    vocab_adds(v, "nd", -0.0f);
    vocab_adds(v, "dn", 0.0f);        /* -0 and +0 tie */
}

/* A random vocabulary over the alphabet: merges of existing pieces with
 * scores from a small set (ties everywhere), sometimes odd byte slots. */
static void vocab_random(Vocab *v, int variant) {
    vocab_base(v);
    if (variant & 1) { /* odd byte pieces: empty, a letter, a NUL inside */
        for (int k = 0; k < 8; k++) {
            int id = 3 + rnd_below(256);
            free(v->piece[id]);
            static const char *odd[] = {"", "a", "ab\0cd", " "};
            static const int oddlen[] = {0, 1, 5, 1};
            int w = rnd_below(4);
            v->piece[id] = malloc(6);
            memcpy(v->piece[id], odd[w], (size_t)oddlen[w]);
            v->len[id] = oddlen[w];
            v->piece[id][oddlen[w]] = '\0';
        }
    }
    int base_n = v->n;
    for (int i = 0; i < N_ALPHA; i++) {
        if ((variant & 2) && strcmp(alphabet[i], " ") == 0) continue; /* no " " piece */
        if (rnd_below(5) == 0) continue; /* some chars only by byte fallback */
        if (utf8_seq((const uint8_t *)alphabet[i], (int)strlen(alphabet[i])) == (int)strlen(alphabet[i]))
            vocab_adds(v, alphabet[i], (float)rnd_below(3) - 10);
    }
    int merges = 20 + rnd_below(60);
    for (int k = 0; k < merges && v->n > base_n; k++) {
        int a = base_n + rnd_below(v->n - base_n), b = base_n + rnd_below(v->n - base_n);
        if (a >= v->n || b >= v->n || v->len[a] + v->len[b] > 24) continue;
        char buf[64];
        memcpy(buf, v->piece[a], (size_t)v->len[a]);
        memcpy(buf + v->len[a], v->piece[b], (size_t)v->len[b]);
        float sc = (float)rnd_below(4);
        if (rnd_below(20) == 0) sc = -1e11f;
        vocab_add(v, buf, v->len[a] + v->len[b], sc);
    }
}

static int random_text(char *out, int maxlen) {
    int n = 0;
    int pieces = rnd_below(40);
    for (int k = 0; k < pieces; k++) {
        const char *s;
        if (rnd_below(10) == 0) { /* a run of one char */
            s = alphabet[rnd_below(4)];
            int reps = 1 + rnd_below(12);
            for (int r = 0; r < reps && n + 1 < maxlen; r++) out[n++] = s[0];
            continue;
        }
        s = alphabet[rnd_below(N_ALPHA)];
        int l = (int)strlen(s);
        if (rnd_below(50) == 0) { s = "\0"; l = 1; } /* a NUL byte inside */
        if (n + l >= maxlen) break;
        memcpy(out + n, s, (size_t)l);
        n += l;
    }
    return n;
}

/* Compare the real encoder with the reference on one text. */
static int compare_one(ar_tokenizer *t, const Ref *r, const char *text, int len, int bos, int eos,
                       const char *what) {
    int cap = len + 3;
    int32_t *got = malloc((size_t)cap * sizeof *got);
    int *want = malloc((size_t)cap * sizeof *want);
    int ng = ar_tokenizer_encode(t, text, len, bos, eos, got, cap);
    int nw = ref_encode(r, text, len, bos, eos, want);
    int same = ng == nw;
    for (int i = 0; same && i < nw; i++) same = got[i] == want[i];
    if (!same) {
        fprintf(stderr, "mismatch (%s) on %d bytes:", what, len);
        for (int i = 0; i < len; i++) fprintf(stderr, " %02x", (uint8_t)text[i]);
        fprintf(stderr, "\n  got %d:", ng);
        for (int i = 0; i < ng; i++) fprintf(stderr, " %d", got[i]);
        fprintf(stderr, "\n  want %d:", nw);
        for (int i = 0; i < nw; i++) fprintf(stderr, " %d", want[i]);
        fprintf(stderr, "\n");
    }
    free(got);
    free(want);
    return same;
}

/* ---- tests --------------------------------------------------------------- */

static void test_known_answers(void) {
    Vocab v = {0};
    vocab_main(&v);
    ar_tokenizer *t = open_vocab(&v, "main.bin");
    CHECK(t != NULL, "open main vocab");
    if (!t) { vocab_free(&v); return; }
    CHECK(ar_tokenizer_vocab_size(t) == v.n, "vocab size");

    int32_t out[64];
    int n = ar_tokenizer_encode(t, "", 0, 1, 1, out, 64);
    CHECK(n == 2 && out[0] == 1 && out[1] == 2, "empty text gives BOS EOS (n=%d)", n);
    n = ar_tokenizer_encode(t, "", -1, 0, 0, out, 64);
    CHECK(n == 0, "empty text without BOS/EOS gives nothing (n=%d)", n);

    /* " the": dummy prefix + t h e merges to the " the" piece */
    n = ar_tokenizer_encode(t, "the", -1, 1, 0, out, 64);
    CHECK(n == 2 && out[0] == 1 && out[1] == vocab_id(&v, " the"), "'the' -> BOS ' the' (n=%d)", n);

    /* "aaaaa" with " a"(1) and aa/aaa/aaaa all at 5, leftmost tie first:
     * [ ][a][a][a][a][a] -> [ ][aa][a][a][a] -> [ ][aaa][a][a] -> [ ][aaaa][a]
     * (and not [ ][aa][aa][a] or [ ][a][aaaa]). */
    n = ar_tokenizer_encode(t, "aaaaa", -1, 0, 0, out, 64);
    int sp = vocab_id(&v, " ");
    CHECK(n == 3 && out[0] == sp && out[1] == vocab_id(&v, "aaaa") && out[2] == vocab_id(&v, "a"),
          "'aaaaa' leftmost tie-breaking (n=%d: %d %d %d)", n, out[0], out[1], out[2]);

    /* the duplicate "th" resolves to its first id */
    n = ar_tokenizer_encode(t, "thx", -1, 0, 0, out, 64);
    CHECK(n == 3 && out[1] == vocab_id(&v, "th"), "duplicate piece -> lowest id");

    /* byte fallback: "€" (E2 82 AC) is not a piece */
    n = ar_tokenizer_encode(t, "€", -1, 0, 0, out, 64);
    CHECK(n == 4 && out[1] == 0xE2 + 3 && out[2] == 0x82 + 3 && out[3] == 0xAC + 3, "byte fallback");

    /* merges concatenate piece strings: <0x80><0xFF> is a piece */
    n = ar_tokenizer_encode(t, "\x80\xFF", 2, 0, 0, out, 64);
    CHECK(n == 2 && out[1] == vocab_id(&v, "<0x80><0xFF>"), "merge of byte pieces (n=%d)", n);

    /* scores at or below -1e10 and NaN never merge */
    n = ar_tokenizer_encode(t, "e.", -1, 0, 0, out, 64);
    CHECK(n == 3, "-1e11 score does not merge (n=%d)", n);
    n = ar_tokenizer_encode(t, "d.", -1, 0, 0, out, 64);
    CHECK(n == 3, "NaN score does not merge (n=%d)", n);

    n = ar_tokenizer_encode(t, "привет", -1, 1, 1, out, 64);
    CHECK(n == 4 && out[2] == vocab_id(&v, "привет"), "Cyrillic merge (n=%d)", n);

    /* output buffer too small */
    n = ar_tokenizer_encode(t, "hello world", -1, 1, 1, out, 3);
    CHECK(n == AR_E_BUFFER && ar_last_error_code() == AR_E_BUFFER && ar_last_error()[0],
          "small buffer -> AR_E_BUFFER (%d)", n);
    n = ar_tokenizer_encode(t, NULL, 0, 1, 0, out, 64);
    CHECK(n == AR_E_ARG, "NULL text -> AR_E_ARG");
    n = ar_tokenizer_encode(NULL, "x", 1, 1, 0, out, 64);
    CHECK(n == AR_E_ARG, "NULL tokenizer -> AR_E_ARG");

    /* pieces */
    char buf[64];
    n = ar_tokenizer_piece(t, vocab_id(&v, " the"), buf, sizeof buf);
    CHECK(n == 4 && memcmp(buf, " the", 4) == 0, "piece ' the'");
    n = ar_tokenizer_piece(t, 1, buf, sizeof buf);
    CHECK(n == 5 && memcmp(buf, "\n<s>\n", 5) == 0, "piece BOS raw");
    CHECK(ar_tokenizer_piece(t, v.n, buf, sizeof buf) == AR_E_ARG, "piece id out of range");
    CHECK(ar_tokenizer_piece(t, -1, buf, sizeof buf) == AR_E_ARG, "piece id -1");
    CHECK(ar_tokenizer_piece(t, vocab_id(&v, " the"), buf, 2) == AR_E_BUFFER, "piece small buffer");

    ar_tokenizer_free(t);
    vocab_free(&v);
}

static void test_random_vs_reference(void) {
    Vocab v = {0};
    vocab_main(&v);
    ar_tokenizer *t = open_vocab(&v, "main.bin");
    Ref r = ref_new(&v);
    char text[512];
    int bad = 0, total = 0;
    for (int k = 0; k < 1500 && t; k++) {
        int n = random_text(text, sizeof text);
        total++;
        if (!compare_one(t, &r, text, n, k & 1, (k >> 1) & 1, "main")) bad++;
    }
    /* edge cases */
    static const char *edges[] = {"", "a", " ", "  ", "\x80", "\xC3", "\xF0\x9F\x98\x80", "\xF0\x9F\x98",
                                  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                                  "abababababababababababab", "babababababa", "ппппппп", "😀😀😀😀😀",
                                  "\xE0\x80\x80\x80\x80\x80\x80", "\n\n\n", "привет привет"};
    for (size_t k = 0; k < sizeof edges / sizeof edges[0] && t; k++) {
        total++;
        if (!compare_one(t, &r, edges[k], (int)strlen(edges[k]), 1, 0, "edge")) bad++;
    }
    CHECK(t && bad == 0, "main vocab: %d of %d texts differ from the reference", bad, total);
    free(r.order);
    ar_tokenizer_free(t);
    vocab_free(&v);

    /* random vocabularies */
    bad = 0;
    total = 0;
    for (int voc = 0; voc < 24; voc++) {
        Vocab rv = {0};
        vocab_random(&rv, voc & 3);
        ar_tokenizer *rt = open_vocab(&rv, "random.bin");
        CHECK(rt != NULL, "open random vocab %d", voc);
        Ref rr = ref_new(&rv);
        for (int k = 0; k < 150 && rt; k++) {
            int n = random_text(text, sizeof text);
            total++;
            if (!compare_one(rt, &rr, text, n, k & 1, 0, "random vocab")) bad++;
        }
        free(rr.order);
        ar_tokenizer_free(rt);
        vocab_free(&rv);
    }
    CHECK(bad == 0, "random vocabs: %d of %d texts differ from the reference", bad, total);

    /* a vocabulary too small for byte fallback: bytes map to <unk> */
    Vocab sv = {0};
    vocab_adds(&sv, "<unk>", 0);
    vocab_adds(&sv, "<s>", 0);
    vocab_adds(&sv, "</s>", 0);
    vocab_adds(&sv, "a", 0);
    vocab_adds(&sv, "aa", 1);
    ar_tokenizer *st = open_vocab(&sv, "small.bin");
    Ref sr = ref_new(&sv);
    int32_t out[16];
    int n = st ? ar_tokenizer_encode(st, "aaa b", -1, 1, 0, out, 16) : -1;
    /* " " missing -> byte id 35 >= 5 -> unk; then "aa","a"; ' ' and 'b' -> unk */
    CHECK(n == 6 && out[1] == 0 && out[2] == 4 && out[3] == 3 && out[4] == 0 && out[5] == 0,
          "tiny vocab byte fallback to unk (n=%d)", n);
    CHECK(st && compare_one(st, &sr, "aaa b\xFF", 6, 1, 1, "small"), "tiny vocab vs reference");
    free(sr.order);
    ar_tokenizer_free(st);
    vocab_free(&sv);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void test_long_prompt(void) {
    Vocab v = {0};
    vocab_main(&v);
    ar_tokenizer *t = open_vocab(&v, "main.bin");
    if (!t) { CHECK(0, "open"); vocab_free(&v); return; }
    static const char *words[] = {"the ", "and ", "привет ", "aaaa", "ing ", "😀", "b", "\n", "thin", "€ "};
    int len = 100 * 1024;
    char *text = malloc((size_t)len + 16);
    int n = 0;
    while (n < len) {
        const char *w = words[rnd_below(10)];
        int l = (int)strlen(w);
        if (n + l > len) break;
        memcpy(text + n, w, (size_t)l);
        n += l;
    }
    int32_t *out = malloc(((size_t)n + 3) * sizeof *out);
    double t0 = now_s();
    int got = ar_tokenizer_encode(t, text, n, 1, 0, out, n + 3);
    double dt = now_s() - t0;
    printf("encode of a %d-byte prompt: %d tokens in %.1f ms\n", n, got, dt * 1e3);
    CHECK(got > 0 && dt < 5.0, "100 KB prompt encodes (%d tokens, %.3f s)", got, dt);

    /* a 100 KB run of one char: every pair ties */
    memset(text, 'a', (size_t)len);
    t0 = now_s();
    got = ar_tokenizer_encode(t, text, len, 1, 0, out, len + 3);
    dt = now_s() - t0;
    printf("encode of a %d-byte run of 'a': %d tokens in %.1f ms\n", len, got, dt * 1e3);
    CHECK(got == 1 + 1 + len / 4, "run of 'a' -> aaaa pieces (%d)", got);

    /* a round trip through the decoder gives the text back */
    int total = 0, ok = 1;
    char *back = malloc((size_t)len * 3 + 64);
    ar_decoder *d = ar_decoder_new(t);
    n = (int)strlen(strcpy(text, "the привет 😀 and € things\nthe end"));
    got = ar_tokenizer_encode(t, text, n, 1, 0, out, n + 3);
    for (int i = 1; i < got; i++) {
        int k = ar_decoder_push(d, out[i - 1], out[i], back + total, 64);
        if (k < 0) { ok = 0; break; }
        total += k;
    }
    total += ar_decoder_flush(d, back + total, 64);
    CHECK(ok && total == n && memcmp(back, text, (size_t)n) == 0, "encode/decode round trip");
    ar_decoder_free(d);
    free(back);
    free(out);
    free(text);
    ar_tokenizer_free(t);
    vocab_free(&v);
}

static int decode_all(ar_decoder *d, const int *ids, int n, char *out, int *chunks_ok) {
    int total = 0;
    *chunks_ok = 1;
    for (int i = 0; i < n; i++) {
        int k = ar_decoder_push(d, i ? ids[i - 1] : -1, ids[i], out + total, 64);
        if (k < 0) { *chunks_ok = 0; return total; }
        if (!valid_utf8(out + total, k)) *chunks_ok = 0;
        total += k;
    }
    int k = ar_decoder_flush(d, out + total, 64);
    if (k < 0 || !valid_utf8(out + total, k)) *chunks_ok = 0;
    return total + (k > 0 ? k : 0);
}

static void test_decoder(void) {
    Vocab v = {0};
    vocab_main(&v);
    ar_tokenizer *t = open_vocab(&v, "main.bin");
    if (!t) { CHECK(0, "open"); vocab_free(&v); return; }
    ar_decoder *d = ar_decoder_new(t);
    CHECK(d != NULL, "decoder_new");
    CHECK(ar_decoder_new(NULL) == NULL && ar_last_error_code() == AR_E_ARG, "decoder_new(NULL)");
    char out[4096];
    int ok;

    /* é = C3 A9 split over two byte tokens */
    int n = ar_decoder_push(d, 5, 0xC3 + 3, out, 64);
    CHECK(n == 0, "first half of é held back (%d)", n);
    n = ar_decoder_push(d, 0xC3 + 3, 0xA9 + 3, out, 64);
    CHECK(n == 2 && memcmp(out, "é", 2) == 0, "é completes (%d)", n);

    /* 😀 = F0 9F 98 80 over four byte tokens, after a text piece */
    int ids[] = {vocab_id(&v, "the"), 0xF0 + 3, 0x9F + 3, 0x98 + 3, 0x80 + 3, vocab_id(&v, " and")};
    n = decode_all(d, ids, 6, out, &ok);
    CHECK(ok && n == 3 + 4 + 4 && memcmp(out, "the😀 and", (size_t)n) == 0, "emoji over byte tokens");

    /* BOS strips one leading space; other prev tokens do not */
    n = ar_decoder_push(d, 1, vocab_id(&v, " the"), out, 64);
    CHECK(n == 3 && memcmp(out, "the", 3) == 0, "space stripped after BOS");
    n = ar_decoder_push(d, 7, vocab_id(&v, " the"), out, 64);
    CHECK(n == 4 && memcmp(out, " the", 4) == 0, "space kept after non-BOS");

    /* an interrupted sequence: F0 9F then 'a' -> U+FFFD 'a' */
    ar_decoder_reset(d);
    int ids2[] = {0xF0 + 3, 0x9F + 3, vocab_id(&v, "a")};
    n = decode_all(d, ids2, 3, out, &ok);
    CHECK(ok && n == 4 && memcmp(out, "\xEF\xBF\xBD" "a", 4) == 0, "interrupted sequence -> U+FFFD");

    /* invalid bytes, surrogates, overlongs */
    int ids3[] = {0xFF + 3, 0x80 + 3, 0xED + 3, 0xA0 + 3, 0x80 + 3, 0xC0 + 3, 0xAF + 3};
    n = decode_all(d, ids3, 7, out, &ok);
    CHECK(ok && n == 7 * 3, "invalid bytes -> 7 x U+FFFD (%d)", n);

    /* flush of an incomplete tail */
    ar_decoder_reset(d);
    ar_decoder_push(d, 5, 0xE2 + 3, out, 64);
    ar_decoder_push(d, 5, 0x82 + 3, out, 64);
    n = ar_decoder_flush(d, out, 64);
    CHECK(n == 3 && memcmp(out, "\xEF\xBF\xBD", 3) == 0, "flush of E2 82 -> U+FFFD");
    n = ar_decoder_flush(d, out, 64);
    CHECK(n == 0, "second flush is empty");

    /* reset drops held bytes */
    ar_decoder_push(d, 5, 0xE2 + 3, out, 64);
    ar_decoder_reset(d);
    n = ar_decoder_push(d, 5, vocab_id(&v, "a"), out, 64);
    CHECK(n == 1 && out[0] == 'a', "reset forgets held bytes");

    /* buffer and argument errors */
    CHECK(ar_decoder_push(d, 5, 10, out, 63) == AR_E_BUFFER && ar_last_error_code() == AR_E_BUFFER,
          "cap < 64 -> AR_E_BUFFER");
    CHECK(ar_decoder_flush(d, out, 10) == AR_E_BUFFER, "flush cap < 64 -> AR_E_BUFFER");
    CHECK(ar_decoder_push(d, 5, v.n, out, 64) == AR_E_ARG, "push id out of range");
    CHECK(ar_decoder_push(d, 5, -3, out, 64) == AR_E_ARG, "push negative id");

    /* random streams: valid chunks, joined = sanitize(raw bytes) */
    int bad = 0;
    char raw[8192], want[3 * 8192];
    for (int k = 0; k < 400; k++) {
        int m = 1 + rnd_below(60), s[64], nraw = 0;
        for (int i = 0; i < m; i++) {
            int r = rnd_below(4);
            s[i] = r == 0 ? rnd_below(v.n) : r == 1 ? 3 + 0x80 + rnd_below(0x80) : r == 2 ? 3 + rnd_below(0x80) : 1;
        }
        ar_decoder_reset(d);
        n = decode_all(d, s, m, out, &ok);
        for (int i = 0; i < m; i++) nraw += ref_piece_bytes(&v, i ? s[i - 1] : -1, s[i], raw + nraw);
        int nw = ref_sanitize(raw, nraw, want);
        if (!ok || n != nw || memcmp(out, want, (size_t)n) != 0) bad++;
    }
    CHECK(bad == 0, "random token streams: %d of 400 decode wrongly", bad);

    /* a piece longer than the buffer can take whole: AR_E_BUFFER, state kept */
    Vocab lv = {0};
    vocab_base(&lv);
    char big[200];
    memset(big, 0xFF, sizeof big); /* 200 invalid bytes -> 600 output bytes */
    vocab_add(&lv, big, 200, 0);
    ar_tokenizer *lt = open_vocab(&lv, "long.bin");
    ar_decoder *ld = lt ? ar_decoder_new(lt) : NULL;
    if (ld) {
        ar_decoder_push(ld, 5, 0xE2 + 3, out, 64);
        n = ar_decoder_push(ld, 5, lv.n - 1, out, 64);
        CHECK(n == AR_E_BUFFER, "long piece into 64 bytes -> AR_E_BUFFER (%d)", n);
        n = ar_decoder_push(ld, 5, lv.n - 1, out, sizeof out);
        CHECK(n == 3 + 600, "long piece with room -> %d bytes", n);
    } else {
        CHECK(0, "open long vocab");
    }
    ar_decoder_free(ld);
    ar_tokenizer_free(lt);
    vocab_free(&lv);

    ar_decoder_free(d);
    ar_tokenizer_free(t);
    vocab_free(&v);
}

/* Write raw bytes as a tokenizer file and expect AR_E_TOKENIZER. */
static void expect_broken(const char *name, const void *data, size_t n, int vocab, const char *must_say) {
    char path[512];
    path_for(path, sizeof path, name);
    write_bytes(path, data, n);
    ar_tokenizer *t = ar_tokenizer_open(path, vocab);
    const char *msg = ar_last_error();
    CHECK(t == NULL && ar_last_error_code() == AR_E_TOKENIZER && msg[0] && strstr(msg, must_say),
          "%s: expected AR_E_TOKENIZER mentioning '%s', got code %d: %s", name, must_say,
          ar_last_error_code(), msg);
    ar_tokenizer_free(t);
}

/* A header + 3 well-formed entries, then `tail`. */
static size_t build_file(uint8_t *buf, uint32_t maxlen, const void *tail, size_t tail_n) {
    size_t o = 0;
    memcpy(buf + o, &maxlen, 4);
    o += 4;
    for (int i = 0; i < 3; i++) {
        float sc = 0;
        int32_t l = 2;
        memcpy(buf + o, &sc, 4);
        memcpy(buf + o + 4, &l, 4);
        memcpy(buf + o + 8, "xy", 2);
        o += 10;
    }
    memcpy(buf + o, tail, tail_n);
    return o + tail_n;
}

static void test_broken_files(void) {
    uint8_t buf[256];
    expect_broken("empty.bin", "", 0, 3, "too short");
    expect_broken("short_header.bin", "\x10\x00", 2, 3, "too short");
    expect_broken("header_only.bin", "\x10\x00\x00\x00", 4, 3, "cannot hold");

    /* entry 3: score + length 5, but only 2 piece bytes (plus padding so the
     * size check for 5 entries passes) */
    struct { float s; int32_t l; } e = {0, 5};
    uint8_t tail[64];
    memcpy(tail, &e, 8);
    memcpy(tail + 8, "ab", 2);
    size_t n = build_file(buf, 16, tail, 10);
    expect_broken("truncated_piece.bin", buf, n, 4, "token 3");
    expect_broken("truncated_piece2.bin", buf, n, 4, "truncated");

    /* entry 3 header cut in the middle: 4 entries need more bytes than given */
    n = build_file(buf, 16, &e, 6);
    expect_broken("truncated_entry.bin", buf, n, 4, "token 3");

    e.l = -1;
    memcpy(tail, &e, 8);
    n = build_file(buf, 16, tail, 8);
    memset(buf + n, 'z', 40);
    expect_broken("negative_len.bin", buf, n + 40, 4, "negative length");

    e.l = 17;
    memcpy(tail, &e, 8);
    memset(tail + 8, 'q', 17);
    n = build_file(buf, 16, tail, 25);
    expect_broken("too_long.bin", buf, n, 4, "exceeds max_token_length");

    e.l = 0x7fffffff;
    memcpy(tail, &e, 8);
    n = build_file(buf, 0xffffffffu, tail, 8);
    memset(buf + n, 'z', 40);
    expect_broken("huge_len.bin", buf, n + 40, 4, "truncated");

    /* the model wants more tokens than the file holds */
    n = build_file(buf, 16, "", 0);
    expect_broken("mismatch.bin", buf, n, 32000, "vocab_size");

    /* trailing bytes after the last entry are ignored */
    n = build_file(buf, 16, "garbage!", 8);
    char path[512];
    path_for(path, sizeof path, "trailing.bin");
    write_bytes(path, buf, n);
    ar_tokenizer *t = ar_tokenizer_open(path, 3);
    CHECK(t != NULL && ar_last_error_code() == AR_OK, "trailing garbage accepted: %s", ar_last_error());
    ar_tokenizer_free(t);

    /* other failures */
    path_for(path, sizeof path, "does-not-exist.bin");
    t = ar_tokenizer_open(path, 3);
    CHECK(t == NULL && ar_last_error_code() == AR_E_IO && ar_last_error()[0], "missing file -> AR_E_IO");
    t = ar_tokenizer_open(tmpdir, 3);
    CHECK(t == NULL && ar_last_error_code() == AR_E_IO, "directory -> AR_E_IO");
    path_for(path, sizeof path, "fifo.bin");
    CHECK(mkfifo(path, 0600) == 0, "mkfifo");
    t = ar_tokenizer_open(path, 3); /* blocked forever before O_NONBLOCK */
    CHECK(t == NULL && ar_last_error_code() == AR_E_IO, "a FIFO -> AR_E_IO, without blocking");
    unlink(path);
    path_for(path, sizeof path, "trailing.bin");
    t = ar_tokenizer_open(path, 0);
    CHECK(t == NULL && ar_last_error_code() == AR_E_ARG, "vocab_size 0 -> AR_E_ARG");
    t = ar_tokenizer_open(NULL, 3);
    CHECK(t == NULL && ar_last_error_code() == AR_E_ARG, "NULL path -> AR_E_ARG");
}

/* Odd vocabularies of the kind fuzz_tokenizer.c generates (its crashing
 * inputs, if any ever turn up, belong here too). */
static void test_fuzz_regressions(void) {
    /* BOS takes part in merges, as in llama2.c (whose merge loop starts at
     * index 0, BOS included) */
    Vocab b = {0};
    vocab_base(&b);
    vocab_adds(&b, "x", 0);
    vocab_adds(&b, " ", 0);
    vocab_adds(&b, "\n<s>\n ", 1);
    ar_tokenizer *bt = open_vocab(&b, "bosmerge.bin");
    int32_t out[8];
    int n = bt ? ar_tokenizer_encode(bt, "x", 1, 1, 1, out, 8) : -1;
    CHECK(n == 3 && out[0] == b.n - 1 && out[1] == b.n - 3 && out[2] == 2, "BOS merges like llama2.c (n=%d)", n);
    ar_tokenizer_free(bt);
    vocab_free(&b);

    /* a vocab whose BOS, EOS and byte slots are empty pieces: symbols with
     * empty keys concatenate to their neighbour's key */
    Vocab v = {0};
    vocab_adds(&v, "<unk>", 0);
    vocab_adds(&v, "", 0);
    vocab_adds(&v, "", 0);
    for (int i = 0; i < 256; i++) vocab_add(&v, "", 0, (float)(i % 3));
    vocab_adds(&v, "a", 1);
    ar_tokenizer *t = open_vocab(&v, "empties.bin");
    Ref r = ref_new(&v);
    CHECK(t && compare_one(t, &r, "a\xFF" "a\x80\x80 b", 8, 1, 1, "empties"), "empty pieces vs reference");
    free(r.order);
    ar_tokenizer_free(t);
    vocab_free(&v);
}

static void rm_tmpdir(void) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
}

int main(void) {
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/ar_tok_XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) { perror("mkdtemp"); return 2; }

    test_known_answers();
    test_random_vs_reference();
    test_long_prompt();
    test_decoder();
    test_broken_files();
    test_fuzz_regressions();

    rm_tmpdir();
    return check_summary("tokenizer");
}
