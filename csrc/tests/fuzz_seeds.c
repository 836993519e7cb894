/*
 * fuzz_seeds.c — writes the small seed corpus for the loader fuzzer: one
 * valid model of each format (tools/fuzz.sh runs it when the corpus folder is
 * empty; the fuzzer mutates from these).
 */
#include <stdio.h>

#include "reference.h"

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    ref_config c = {16, 32, 1, 2, 1, 24, 8};
    char path[1024];
    for (int format = 0; format <= 2; format++) {
        for (int shared = 0; shared <= 1; shared++) {
            snprintf(path, sizeof path, "%s/seed-v%d-%s.bin", argv[1], format, shared ? "shared" : "separate");
            if (ref_write_model(path, &c, format, 8, shared, (uint64_t)(format * 2 + shared + 1)) != 0) return 1;
        }
    }
    return 0;
}
