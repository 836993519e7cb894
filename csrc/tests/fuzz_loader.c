/*
 * fuzz_loader.c — libFuzzer target for the model loader. Each input is a
 * model.bin; when it loads, one token is run through it so the weight
 * pointers the loader handed out are really read (ASan checks the bounds).
 *
 *   clang -fsanitize=fuzzer,address,undefined -I. tests/fuzz_loader.c \
 *       arianna.c tokenizer.c kernels_scalar.c kernels_x86.c -lm -pthread
 */
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "arianna.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* The loader maps a path, so hand it an in-memory file. */
    int fd = memfd_create("fuzz-model", MFD_CLOEXEC);
    if (fd < 0) return 0;
    if (size && write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ar_model *m = ar_model_open(path, 1);
    if (m) {
        /* Keep the KV cache small: seq_len is not bounded by the file size. */
        int64_t cache = ar_model_info(m, AR_INFO_N_LAYERS) * ar_model_info(m, AR_INFO_SEQ_LEN) *
                        ar_model_info(m, AR_INFO_DIM);
        if (cache < (1 << 22)) {
            ar_session *s = ar_session_new(m);
            if (s) {
                int vocab = (int)ar_model_info(m, AR_INFO_VOCAB_SIZE);
                ar_session_forward(s, (int)(size % (size_t)vocab));
                ar_session_free(s);
            }
        }
        ar_model_free(m);
    }
    close(fd);
    return 0;
}
