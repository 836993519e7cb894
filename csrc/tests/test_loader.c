/*
 * test_loader.c — the loader refuses every kind of broken model file with an
 * error code and a message, and never crashes (this runs under ASan/UBSan).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arianna.h"
#include "check.h"
#include "reference.h"

static char dir[256];

static unsigned char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(*n + 64);
    if (fread(b, 1, *n, f) != *n) abort();
    fclose(f);
    return b;
}

static void spill(const char *path, const unsigned char *b, size_t n) {
    FILE *f = fopen(path, "wb");
    fwrite(b, 1, n, f);
    fclose(f);
}

static void set_i32(unsigned char *b, size_t off, int32_t v) { memcpy(b + off, &v, 4); }

/* Write `bytes` to a file and expect the loader to refuse it with `code`. */
static void expect_rejected(const char *kind, const unsigned char *bytes, size_t n, int code) {
    char path[512];
    snprintf(path, sizeof path, "%s/bad.bin", dir);
    spill(path, bytes, n);
    ar_model *m = ar_model_open(path, 1);
    CHECK(m == NULL, "%s: accepted a broken file", kind);
    CHECK(ar_last_error_code() == code, "%s: code %d, wanted %d (%s)", kind, ar_last_error_code(), code,
          ar_last_error());
    CHECK(strlen(ar_last_error()) > 10, "%s: has a message", kind);
    printf("  %-32s -> %s\n", kind, ar_last_error());
    ar_model_free(m);
    unlink(path);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/arianna-test-loader-XXXXXX");
    if (!mkdtemp(dir)) return 2;
    char v1path[512], v2path[512], v0path[512], v3path[512];
    snprintf(v1path, sizeof v1path, "%s/good-v1.bin", dir);
    snprintf(v2path, sizeof v2path, "%s/good-v2.bin", dir);
    snprintf(v0path, sizeof v0path, "%s/good-v0.bin", dir);
    snprintf(v3path, sizeof v3path, "%s/good-v3.bin", dir);
    ref_config c = {32, 96, 2, 4, 2, 64, 16};
    CHECK(ref_write_model(v1path, &c, 1, 0, 1, 1) == 0, "write v1");
    CHECK(ref_write_model(v2path, &c, 2, 32, 0, 2) == 0, "write v2");
    CHECK(ref_write_model(v0path, &c, 0, 0, 0, 3) == 0, "write v0");
    CHECK(ref_write_model(v3path, &c, 3, 32, 0, 4) == 0, "write v3");

    const char *goods[] = {v0path, v1path, v2path, v3path};
    for (int i = 0; i < 4; i++) {
        ar_model *m = ar_model_open(goods[i], 1);
        CHECK(m != NULL, "good file %d opens: %s", i, ar_last_error());
        CHECK(ar_model_info(m, AR_INFO_FORMAT) == i, "format %d reported", i);
        CHECK(ar_model_info(m, AR_INFO_DIM) == 32 && ar_model_info(m, AR_INFO_VOCAB_SIZE) == 64, "dims");
        CHECK(ar_model_info(m, AR_INFO_SHARED_CLASSIFIER) == (i == 1), "shared flag");
        CHECK(ar_model_info(m, 999) == -1, "unknown info key");
        ar_model_free(m);
    }
    ar_model *none = ar_model_open(NULL, 1);
    CHECK(none == NULL && ar_last_error_code() == AR_E_ARG, "NULL path");

    size_t n1, n2, n0;
    unsigned char *v1 = slurp(v1path, &n1), *v2 = slurp(v2path, &n2), *v0 = slurp(v0path, &n0);
    size_t biggest = n0 > n1 ? (n0 > n2 ? n0 : n2) : (n1 > n2 ? n1 : n2);
    unsigned char *b = malloc(biggest + 64);
    char path[512];

    /* files that cannot be read as files */
    snprintf(path, sizeof path, "%s/missing.bin", dir);
    CHECK(ar_model_open(path, 1) == NULL && ar_last_error_code() == AR_E_IO, "missing file -> E_IO");
    CHECK(ar_model_open(dir, 1) == NULL && ar_last_error_code() == AR_E_IO, "a directory -> E_IO");
    snprintf(path, sizeof path, "%s/loop", dir);
    symlink(path, path);
    CHECK(ar_model_open(path, 1) == NULL && ar_last_error_code() == AR_E_IO, "symlink loop -> E_IO");
    unlink(path);
    snprintf(path, sizeof path, "%s/fifo", dir);
    CHECK(mkfifo(path, 0600) == 0, "mkfifo");
    /* blocked forever before O_NONBLOCK */
    CHECK(ar_model_open(path, 1) == NULL && ar_last_error_code() == AR_E_IO, "a FIFO -> E_IO, without blocking");
    unlink(path);

    expect_rejected("empty file", v1, 0, AR_E_FORMAT);
    expect_rejected("3 bytes", v1, 3, AR_E_FORMAT);
    expect_rejected("truncated v1 header", v1, 100, AR_E_FORMAT);
    expect_rejected("truncated v1 body", v1, n1 - 1, AR_E_FORMAT);
    expect_rejected("truncated v2 mid-scales", v2, n2 - 7, AR_E_FORMAT);
    size_t n3;
    unsigned char *v3 = slurp(v3path, &n3);
    expect_rejected("truncated v3 mid-scales", v3, n3 - 7, AR_E_FORMAT);
    expect_rejected("truncated v3 nibbles", v3, 256 + (2 * 2 * 32 + 32) * 4 + 100, AR_E_FORMAT);
    {
        unsigned char *b3 = malloc(n3);
        memcpy(b3, v3, n3); set_i32(b3, 37, 16);
        expect_rejected("v3 group size 16", b3, n3, AR_E_FORMAT);
        memcpy(b3, v3, n3); set_i32(b3, 4, 2);
        expect_rejected("v3 body under a v2 header", b3, n3, AR_E_FORMAT);
        memcpy(b3, v3, n3); set_i32(b3, 8, 48); set_i32(b3, 8 + 4 * 3, 6);
        expect_rejected("v3 dim not a multiple of 32", b3, n3, AR_E_FORMAT);
        free(b3);
    }
    free(v3);
    unlink(v3path);
    expect_rejected("truncated v0", v0, n0 / 2, AR_E_FORMAT);
    memcpy(b, v1, n1); memset(b + n1, 0, 16);
    expect_rejected("trailing bytes", b, n1 + 16, AR_E_FORMAT);

    uint64_t s = 12345;
    for (size_t i = 0; i < n1; i++) { s ^= s << 13; s ^= s >> 7; s ^= s << 17; b[i] = (unsigned char)s; }
    expect_rejected("random bytes", b, n1, AR_E_FORMAT);

    memcpy(b, v1, n1); b[0] ^= 0xFF;
    expect_rejected("wrong magic", b, n1, AR_E_FORMAT);
    memcpy(b, v1, n1); set_i32(b, 4, 4);
    expect_rejected("unknown version 4", b, n1, AR_E_FORMAT);
    memcpy(b, v1, n1); set_i32(b, 8, 0);
    expect_rejected("zero dim", b, n1, AR_E_FORMAT);
    memcpy(b, v1, n1); set_i32(b, 8 + 4 * 2, -2);
    expect_rejected("negative layers", b, n1, AR_E_FORMAT);
    memcpy(b, v1, n1); set_i32(b, 8, 1 << 30); set_i32(b, 12, 1 << 30);
    expect_rejected("huge dims", b, n1, AR_E_FORMAT);
    memcpy(b, v1, n1); set_i32(b, 8 + 4 * 5, 0x7fffffff);
    expect_rejected("huge vocab", b, n1, AR_E_FORMAT);
    memcpy(b, v1, n1); set_i32(b, 8 + 4 * 3, 5);
    expect_rejected("dim not a multiple of heads", b, n1, AR_E_FORMAT);
    memcpy(b, v1, n1); set_i32(b, 8, 36); set_i32(b, 8 + 4 * 3, 12);
    expect_rejected("odd head size", b, n1, AR_E_FORMAT);
    memcpy(b, v1, n1); set_i32(b, 8 + 4 * 4, 3);
    expect_rejected("kv heads do not divide heads", b, n1, AR_E_FORMAT);
    memcpy(b, v1, n1); set_i32(b, 8 + 4 * 4, 8);
    expect_rejected("more kv heads than heads", b, n1, AR_E_FORMAT);
    memcpy(b, v0, n0); set_i32(b, 24, 17); /* v0 carries seq_len-sized RoPE tables */
    expect_rejected("v0 seq_len disagrees with size", b, n0, AR_E_FORMAT);
    memcpy(b, v1, n1); b[36] = 7;
    expect_rejected("shared flag 7", b, n1, AR_E_FORMAT);
    memcpy(b, v2, n2); set_i32(b, 37, 0);
    expect_rejected("v2 group size 0", b, n2, AR_E_FORMAT);
    memcpy(b, v2, n2); set_i32(b, 37, -32);
    expect_rejected("v2 negative group size", b, n2, AR_E_FORMAT);
    memcpy(b, v2, n2); set_i32(b, 37, 64);
    expect_rejected("v2 group size > dim", b, n2, AR_E_FORMAT);
    memcpy(b, v2, n2); set_i32(b, 37, 12);
    expect_rejected("v2 group size not dividing dim", b, n2, AR_E_FORMAT);
    memcpy(b, v2, n2); b[256 + (2 * 2 * 32 + 32) * 4] = 0x80; /* first int8 of tok_emb */
    expect_rejected("v2 int8 value -128", b, n2, AR_E_FORMAT);
    memcpy(b, v0, n0); set_i32(b, 20, (int32_t)0x80000000);
    expect_rejected("v0 vocab INT_MIN", b, n0, AR_E_FORMAT);

    /* v2 with hidden_dim % group_size != 0 (llama2.c's runq bug): refused. */
    ref_config odd = {32, 80, 1, 4, 4, 64, 8};
    snprintf(path, sizeof path, "%s/odd-hidden.bin", dir);
    ref_write_model(path, &odd, 2, 16, 1, 4);
    size_t no;
    unsigned char *ob = slurp(path, &no);
    set_i32(ob, 37, 32);
    unlink(path);
    expect_rejected("v2 group not dividing hidden", ob, no, AR_E_FORMAT);
    free(ob);

    free(b); free(v0); free(v1); free(v2);
    unlink(v0path); unlink(v1path); unlink(v2path);
    rmdir(dir);
    return check_summary("loader");
}
