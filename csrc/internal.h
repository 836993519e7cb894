/*
 * internal.h — what the core's C files share and callers never see.
 */
#ifndef ARIANNA_INTERNAL_H
#define ARIANNA_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* Record a failure for ar_last_error()/ar_last_error_code() on this thread.
 * Returns code, so callers can write `return ar_fail(AR_E_ARG, "...")`. */
int ar_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Clear the last failure (called at the start of every public entry point). */
void ar_clear_error(void);

/* Open a file a loader reads: read-only, never blocking on a FIFO, and only a
 * regular file. `what` names it in the messages ("" or "tokenizer "). Returns
 * the descriptor with its size in *size, or a failure code (recorded). */
int ar_open_file(const char *path, const char *what, size_t *size);

/* A read-only file mapping; the page size comes from sysconf, never assumed. */
typedef struct {
    const uint8_t *data;
    size_t size;
} ar_mapping;
/* Map a whole file read-only. Returns AR_OK or a failure code (recorded). */
int ar_map_file(const char *path, ar_mapping *out);
void ar_unmap_file(ar_mapping *m);

#endif /* ARIANNA_INTERNAL_H */
