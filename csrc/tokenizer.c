/*
 * tokenizer.c — llama2.c tokenizer.bin: loading, BPE encoding, streaming
 * decoding.
 *
 * Encoding gives exactly the ids of llama2.c's run.c encode(): BOS, a dummy
 * prefix " ", one lookup per UTF-8 character (with <0xXX> byte fallback),
 * then "merge the best-scoring adjacent pair, leftmost on ties" until no pair
 * merges. llama2.c rescans the whole sequence for every merge (quadratic);
 * here the symbols live in a doubly-linked list and the candidate merges in a
 * binary heap, so a long prompt costs O(n log n).
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arianna.h"
#include "internal.h"

/* A tokenizer.bin larger than this is not a tokenizer (llama2's is ~430 KB). */
#define MAX_FILE_BYTES ((size_t)1 << 30)

struct ar_tokenizer {
    int vocab_size;
    uint32_t max_token_length; /* from the file header                      */
    int max_key_len;           /* longest lookup key (see `klen` below)      */
    char **piece;              /* NUL-terminated copies of the raw pieces    */
    int *len;                  /* raw piece length in bytes                  */
    int *klen;                 /* length up to the first NUL: llama2.c keeps
                                  pieces as C strings, so that is the key it
                                  compares and concatenates                  */
    float *score;
    int *slot;                 /* open-addressing hash table: id or -1       */
    uint32_t mask;             /* table size - 1 (a power of two)            */
    int space_id;              /* the dummy prefix token                     */
};

/* ---- loading ------------------------------------------------------------ */

static int read_file(const char *path, uint8_t **data, size_t *size) {
    size_t n;
    int fd = ar_open_file(path, "tokenizer ", &n);
    if (fd < 0) return fd;
    if ((uint64_t)n > MAX_FILE_BYTES) {
        close(fd);
        return ar_fail(AR_E_TOKENIZER, "tokenizer %s is %zu bytes, implausibly large", path, n);
    }
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) {
        close(fd);
        return ar_fail(AR_E_NOMEM, "out of memory reading tokenizer %s (%zu bytes)", path, n);
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int e = errno;
            free(buf);
            close(fd);
            return ar_fail(AR_E_IO, "cannot read tokenizer %s: %s", path, strerror(e));
        }
        if (r == 0) break; /* the file shrank under us: parse what we have */
        got += (size_t)r;
    }
    close(fd);
    *data = buf;
    *size = got;
    return AR_OK;
}

static uint32_t hash_bytes(const char *s, int n) {
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a, then a final mix */
    for (int i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 0x100000001b3ull;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 32;
    return (uint32_t)h;
}

/* The id of the piece whose key is exactly s[0..n), or -1. Duplicate pieces
 * resolve to the lowest id. */
static int lookup(const ar_tokenizer *t, const char *s, int n) {
    if (n > t->max_key_len) return -1;
    for (uint32_t i = hash_bytes(s, n) & t->mask;; i = (i + 1) & t->mask) {
        int id = t->slot[i];
        if (id < 0) return -1;
        if (t->klen[id] == n && memcmp(t->piece[id], s, (size_t)n) == 0) return id;
    }
}

static void insert(ar_tokenizer *t, int id) {
    const char *s = t->piece[id];
    int n = t->klen[id];
    for (uint32_t i = hash_bytes(s, n) & t->mask;; i = (i + 1) & t->mask) {
        int other = t->slot[i];
        if (other < 0) { t->slot[i] = id; return; }
        if (t->klen[other] == n && memcmp(t->piece[other], s, (size_t)n) == 0) return;
    }
}

/* Byte fallback: <0xXX> is id XX + 3. A vocabulary too small to hold the
 * byte pieces gets <unk> (0) instead of an out-of-range id. */
static int byte_id(const ar_tokenizer *t, uint8_t b) {
    return (int)b + 3 < t->vocab_size ? (int)b + 3 : 0;
}

AR_EXPORT void ar_tokenizer_free(ar_tokenizer *t) {
    if (!t) return;
    if (t->piece) free(t->piece[0]); /* piece[0] is the start of one block */
    free(t->piece);
    free(t->len);
    free(t->klen);
    free(t->score);
    free(t->slot);
    free(t);
}

/* Pass 1: validate each entry against the bytes that are really there, and
 * note where its piece starts (src[i]). Returns the bytes the NUL-terminated
 * pieces will take, or 0 after a recorded failure. */
static size_t scan_entries(ar_tokenizer *t, const uint8_t *data, size_t size, size_t *src, const char *path) {
    size_t off = 4, total = 0;
    for (int i = 0; i < t->vocab_size; i++) {
        if (size - off < 8) {
            ar_fail(AR_E_TOKENIZER,
                    "tokenizer %s: token %d at offset %zu: entry header truncated (file is %zu bytes)",
                    path, i, off, size);
            return 0;
        }
        int32_t n;
        memcpy(&t->score[i], data + off, 4);
        memcpy(&n, data + off + 4, 4);
        if (n < 0) {
            ar_fail(AR_E_TOKENIZER, "tokenizer %s: token %d at offset %zu: negative length %d",
                    path, i, off, (int)n);
            return 0;
        }
        if ((uint32_t)n > t->max_token_length) {
            ar_fail(AR_E_TOKENIZER,
                    "tokenizer %s: token %d at offset %zu: length %d exceeds max_token_length %u",
                    path, i, off, (int)n, t->max_token_length);
            return 0;
        }
        off += 8;
        if ((size_t)n > size - off) {
            ar_fail(AR_E_TOKENIZER,
                    "tokenizer %s: token %d at offset %zu: piece of %d bytes truncated (%zu left)",
                    path, i, off - 8, (int)n, size - off);
            return 0;
        }
        src[i] = off;
        t->len[i] = n;
        off += (size_t)n;
        total += (size_t)n + 1;
    }
    /* Bytes after the last entry are ignored, as llama2.c does. */
    return total;
}

/* Pass 2: copy the pieces, NUL-terminated, into one block of `total` bytes. */
static int copy_pieces(ar_tokenizer *t, const uint8_t *data, const size_t *src, size_t total) {
    char *block = malloc(total);
    if (!block) return AR_E_NOMEM;
    for (int i = 0; i < t->vocab_size; i++) {
        t->piece[i] = block;
        memcpy(block, data + src[i], (size_t)t->len[i]);
        block[t->len[i]] = '\0';
        t->klen[i] = (int)strlen(block);
        if (t->klen[i] > t->max_key_len) t->max_key_len = t->klen[i];
        block += t->len[i] + 1;
    }
    return AR_OK;
}

/* The hash table over the pieces' keys, at most half full. */
static int index_pieces(ar_tokenizer *t) {
    uint32_t cap = 16;
    while (cap < 2u * (uint32_t)t->vocab_size) cap <<= 1;
    t->slot = malloc((size_t)cap * sizeof *t->slot);
    if (!t->slot) return AR_E_NOMEM;
    memset(t->slot, 0xff, (size_t)cap * sizeof *t->slot);
    t->mask = cap - 1;
    for (int i = 0; i < t->vocab_size; i++) insert(t, i);
    return AR_OK;
}

AR_EXPORT ar_tokenizer *ar_tokenizer_open(const char *path, int vocab_size) {
    ar_clear_error();
    if (!path) { ar_fail(AR_E_ARG, "tokenizer path is NULL"); return NULL; }
    if (vocab_size < 3) {
        ar_fail(AR_E_ARG, "vocab_size %d is too small (ids 0..2 are unk/BOS/EOS)", vocab_size);
        return NULL;
    }
    uint8_t *data = NULL;
    size_t size = 0;
    if (read_file(path, &data, &size) != AR_OK) return NULL;

    ar_tokenizer *t = NULL;
    size_t *src = NULL; /* offset of each piece in `data` */
    if (size < 4) {
        ar_fail(AR_E_TOKENIZER, "tokenizer %s is %zu bytes: too short for the 4-byte header",
                path, size);
        goto fail;
    }
    /* Every entry takes at least 8 bytes: refuse absurd vocab sizes before
     * allocating for them. */
    if ((size_t)vocab_size > (size - 4) / 8) {
        ar_fail(AR_E_TOKENIZER,
                "tokenizer %s (%zu bytes) cannot hold %d tokens (the model's vocab_size); "
                "wrong tokenizer for this model?", path, size, vocab_size);
        goto fail;
    }
    t = calloc(1, sizeof *t);
    src = malloc((size_t)vocab_size * sizeof *src);
    if (!t || !src) goto nomem;
    t->vocab_size = vocab_size;
    memcpy(&t->max_token_length, data, 4);
    t->len = malloc((size_t)vocab_size * sizeof *t->len);
    t->klen = malloc((size_t)vocab_size * sizeof *t->klen);
    t->score = malloc((size_t)vocab_size * sizeof *t->score);
    t->piece = calloc((size_t)vocab_size, sizeof *t->piece);
    if (!t->len || !t->klen || !t->score || !t->piece) goto nomem;

    size_t total = scan_entries(t, data, size, src, path);
    if (!total) goto fail;
    if (copy_pieces(t, data, src, total) != AR_OK) goto nomem;
    free(src);
    src = NULL;
    free(data);
    data = NULL;
    if (index_pieces(t) != AR_OK) goto nomem;

    /* llama2.c looks up " " for the dummy prefix; a vocabulary without it
     * gets the byte-fallback id of ' ' (llama2.c would use id -1). */
    t->space_id = lookup(t, " ", 1);
    if (t->space_id < 0) t->space_id = byte_id(t, ' ');
    return t;

nomem:
    ar_fail(AR_E_NOMEM, "out of memory loading tokenizer %s", path);
fail:
    free(src);
    free(data);
    ar_tokenizer_free(t);
    return NULL;
}

AR_EXPORT int ar_tokenizer_vocab_size(const ar_tokenizer *t) {
    ar_clear_error();
    if (!t) return ar_fail(AR_E_ARG, "tokenizer is NULL");
    return t->vocab_size;
}

AR_EXPORT int ar_tokenizer_piece(const ar_tokenizer *t, int id, char *out, int cap) {
    ar_clear_error();
    if (!t) return ar_fail(AR_E_ARG, "tokenizer is NULL");
    if (id < 0 || id >= t->vocab_size)
        return ar_fail(AR_E_ARG, "token id %d out of range [0, %d)", id, t->vocab_size);
    if (cap < 0 || (!out && cap > 0)) return ar_fail(AR_E_ARG, "bad output buffer");
    if (t->len[id] > cap)
        return ar_fail(AR_E_BUFFER, "piece %d is %d bytes, buffer holds %d", id, t->len[id], cap);
    if (t->len[id]) memcpy(out, t->piece[id], (size_t)t->len[id]);
    return t->len[id];
}

/* ---- encoding ----------------------------------------------------------- */

/* One symbol of the sequence being merged. Nodes stay in their original
 * array slots, so a node's index is also its left-to-right rank: a merge
 * keeps the left node and unlinks the right one. */
typedef struct {
    int id;       /* token id, -1 once merged away          */
    int prev, next;
    uint32_t ver; /* bumped when id changes: stales old heap entries */
} Sym;

/* A candidate merge of the adjacent pair (l, r) into `id`. */
typedef struct {
    float score;
    int l, r, id;
    uint32_t vl, vr; /* versions of l and r when the entry was made */
} Cand;

/* Heap order = llama2.c's choice: highest score, and on equal scores the
 * leftmost pair (it scans left to right and only replaces on '>'). */
static int before(const Cand *a, const Cand *b) {
    if (a->score != b->score) return a->score > b->score;
    return a->l < b->l;
}

typedef struct {
    Cand *c;
    int n;
} Heap;

static void heap_push(Heap *h, Cand x) {
    int i = h->n++;
    while (i > 0) {
        int p = (i - 1) / 2;
        if (!before(&x, &h->c[p])) break;
        h->c[i] = h->c[p];
        i = p;
    }
    h->c[i] = x;
}

static Cand heap_pop(Heap *h) {
    Cand top = h->c[0], x = h->c[--h->n];
    int i = 0;
    for (;;) {
        int k = 2 * i + 1;
        if (k >= h->n) break;
        if (k + 1 < h->n && before(&h->c[k + 1], &h->c[k])) k++;
        if (!before(&h->c[k], &x)) break;
        h->c[i] = h->c[k];
        i = k;
    }
    if (h->n > 0) h->c[i] = x;
    return top;
}

/* Queue the merge of l and r if their concatenation is a piece that llama2.c
 * would accept (its running best starts at -1e10, so lower scores and NaN
 * never merge). `buf` holds 2 * max_key_len bytes. */
static void try_pair(const ar_tokenizer *t, const Sym *s, Heap *h, char *buf, int l, int r) {
    int a = s[l].id, b = s[r].id;
    int na = t->klen[a], nb = t->klen[b];
    if (na + nb > t->max_key_len) return;
    memcpy(buf, t->piece[a], (size_t)na);
    memcpy(buf + na, t->piece[b], (size_t)nb);
    int id = lookup(t, buf, na + nb);
    if (id < 0 || !(t->score[id] > -1e10f)) return;
    Cand c = {t->score[id], l, r, id, s[l].ver, s[r].ver};
    heap_push(h, c);
}

AR_EXPORT int ar_tokenizer_encode(ar_tokenizer *t, const char *text, int len,
                                  int bos, int eos, int32_t *out, int max_out) {
    ar_clear_error();
    if (!t) return ar_fail(AR_E_ARG, "tokenizer is NULL");
    if (!text) return ar_fail(AR_E_ARG, "text is NULL");
    if (max_out < 0 || (!out && max_out > 0)) return ar_fail(AR_E_ARG, "bad output buffer");
    size_t n = len < 0 ? strlen(text) : (size_t)len;
    if (n > (size_t)INT_MAX / 4) return ar_fail(AR_E_ARG, "text of %zu bytes is too long", n);

    /* At most one symbol per byte, plus BOS and the dummy prefix. */
    Sym *s = malloc((n + 2) * sizeof *s);
    Heap h = {malloc((3 * n + 6) * sizeof(Cand)), 0}; /* n+1 pairs + 2 per merge */
    char *buf = malloc(2 * (size_t)t->max_key_len + 1);
    if (!s || !h.c || !buf) {
        free(s); free(h.c); free(buf);
        return ar_fail(AR_E_NOMEM, "out of memory encoding %zu bytes", n);
    }

    /* 1. One symbol per character: BOS, the dummy prefix, then each UTF-8
     *    character (a byte plus up to 3 continuation bytes, exactly as
     *    llama2.c groups them), or its bytes when it is not in the vocab.
     *    BOS is a symbol like the others because llama2.c lets it merge too
     *    (no real vocabulary has a piece that starts with BOS's piece). */
    int ns = 0;
    if (bos) s[ns++].id = 1;
    if (n > 0) s[ns++].id = t->space_id;
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && ((uint8_t)text[j] & 0xC0) == 0x80 && j - i < 4) j++;
        int id = lookup(t, text + i, (int)(j - i));
        if (id >= 0) {
            s[ns++].id = id;
        } else {
            for (size_t k = i; k < j; k++) s[ns++].id = byte_id(t, (uint8_t)text[k]);
        }
        i = j;
    }
    for (int i = 0; i < ns; i++) {
        s[i].prev = i - 1;
        s[i].next = i + 1 < ns ? i + 1 : -1;
        s[i].ver = 0;
    }

    /* 2. Merge the best pair until none is left. Heap entries are never
     *    removed early: an entry whose nodes changed since it was queued is
     *    simply skipped when it surfaces. */
    for (int i = 0; i + 1 < ns; i++) try_pair(t, s, &h, buf, i, i + 1);
    int alive = ns;
    while (h.n > 0) {
        Cand c = heap_pop(&h);
        Sym *l = &s[c.l], *r = &s[c.r];
        if (l->id < 0 || r->id < 0 || l->ver != c.vl || r->ver != c.vr || l->next != c.r)
            continue;
        l->id = c.id;
        l->ver++;
        r->id = -1;
        l->next = r->next;
        if (r->next >= 0) s[r->next].prev = c.l;
        alive--;
        if (l->prev >= 0) try_pair(t, s, &h, buf, l->prev, c.l);
        if (l->next >= 0) try_pair(t, s, &h, buf, c.l, l->next);
    }

    /* 3. Write the symbols, then EOS (which llama2.c appends after merging). */
    int total = alive + (eos != 0);
    int rc = total;
    if (total > max_out) {
        rc = ar_fail(AR_E_BUFFER, "encoding needs %d tokens, buffer holds %d", total, max_out);
    } else {
        int k = 0;
        for (int i = ns > 0 ? 0 : -1; i >= 0; i = s[i].next) out[k++] = s[i].id;
        if (eos) out[k++] = 2;
    }
    free(s);
    free(h.c);
    free(buf);
    return rc;
}

/* ---- streaming decoder -------------------------------------------------- */

struct ar_decoder {
    const ar_tokenizer *t;
    uint8_t pend[4]; /* the start of an incomplete UTF-8 sequence */
    int npend;
    int need;        /* its full length (2..4) */
};

AR_EXPORT ar_decoder *ar_decoder_new(const ar_tokenizer *t) {
    ar_clear_error();
    if (!t) { ar_fail(AR_E_ARG, "tokenizer is NULL"); return NULL; }
    ar_decoder *d = calloc(1, sizeof *d);
    if (!d) { ar_fail(AR_E_NOMEM, "out of memory"); return NULL; }
    d->t = t;
    return d;
}

AR_EXPORT void ar_decoder_free(ar_decoder *d) { free(d); }

AR_EXPORT void ar_decoder_reset(ar_decoder *d) {
    ar_clear_error();
    if (d) d->npend = d->need = 0;
}

/* Output cursor that refuses to overflow. */
typedef struct {
    char *p;
    int n, cap, full;
} Out;

static void put(Out *o, const void *src, int n) {
    if (o->n + n > o->cap) { o->full = 1; return; }
    memcpy(o->p + o->n, src, (size_t)n);
    o->n += n;
}

static void put_replacement(Out *o) { put(o, "\xEF\xBF\xBD", 3); }

/* The valid range of the byte after a lead byte (RFC 3629: no overlongs,
 * no surrogates, nothing above U+10FFFF). */
static int second_ok(uint8_t lead, uint8_t b) {
    switch (lead) {
    case 0xE0: return b >= 0xA0 && b <= 0xBF;
    case 0xED: return b >= 0x80 && b <= 0x9F;
    case 0xF0: return b >= 0x90 && b <= 0xBF;
    case 0xF4: return b >= 0x80 && b <= 0x8F;
    default:   return (b & 0xC0) == 0x80;
    }
}

/* Feed one byte through the UTF-8 assembler. An interrupted sequence becomes
 * one U+FFFD and the interrupting byte starts afresh. */
static void feed(ar_decoder *d, Out *o, uint8_t b) {
    if (d->npend > 0) {
        int ok = d->npend == 1 ? second_ok(d->pend[0], b) : (b & 0xC0) == 0x80;
        if (ok) {
            d->pend[d->npend++] = b;
            if (d->npend == d->need) {
                put(o, d->pend, d->need);
                d->npend = 0;
            }
            return;
        }
        put_replacement(o);
        d->npend = 0;
    }
    if (b < 0x80) {
        put(o, &b, 1);
    } else if (b >= 0xC2 && b <= 0xF4) {
        d->pend[0] = b;
        d->npend = 1;
        d->need = b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
    } else {
        put_replacement(o); /* stray continuation, C0/C1, F5..FF */
    }
}

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

AR_EXPORT int ar_decoder_push(ar_decoder *d, int prev, int id, char *out, int cap) {
    ar_clear_error();
    if (!d || !out) return ar_fail(AR_E_ARG, "decoder or output buffer is NULL");
    if (cap < 64) return ar_fail(AR_E_BUFFER, "decoder output buffer of %d bytes (need >= 64)", cap);
    const ar_tokenizer *t = d->t;
    if (id < 0 || id >= t->vocab_size)
        return ar_fail(AR_E_ARG, "token id %d out of range [0, %d)", id, t->vocab_size);

    const char *p = t->piece[id];
    int n = t->len[id];
    /* After BOS, llama2.c drops the piece's leading space (the dummy prefix). */
    if (prev == 1 && n > 0 && p[0] == ' ') { p++; n--; }
    /* A byte piece <0xXX> stands for the raw byte. */
    uint8_t raw;
    if (n == 6 && p[0] == '<' && p[1] == '0' && p[2] == 'x' && p[5] == '>' &&
        hex_digit(p[3]) >= 0 && hex_digit(p[4]) >= 0) {
        raw = (uint8_t)(hex_digit(p[3]) * 16 + hex_digit(p[4]));
        p = (const char *)&raw;
        n = 1;
    }

    ar_decoder saved = *d;
    Out o = {out, 0, cap, 0};
    for (int i = 0; i < n; i++) feed(d, &o, (uint8_t)p[i]);
    if (o.full) {
        *d = saved; /* nothing consumed: the caller may retry with more room */
        return ar_fail(AR_E_BUFFER, "decoded text of token %d does not fit in %d bytes", id, cap);
    }
    return o.n;
}

AR_EXPORT int ar_decoder_flush(ar_decoder *d, char *out, int cap) {
    ar_clear_error();
    if (!d || !out) return ar_fail(AR_E_ARG, "decoder or output buffer is NULL");
    if (cap < 64) return ar_fail(AR_E_BUFFER, "decoder output buffer of %d bytes (need >= 64)", cap);
    Out o = {out, 0, cap, 0};
    if (d->npend > 0) put_replacement(&o);
    d->npend = d->need = 0;
    return o.n;
}
