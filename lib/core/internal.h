/*
 * internal.h — private helpers shared by every lib/ file (not installed).
 *
 * Error propagation in the style of zstd's error_private.h:
 *   QTIP_RETURN_ERROR_IF(cond, status, fmt, ...)  set the thread's message, return status
 *   QTIP_FORWARD_IF_ERROR(expr)                   return expr's status if it failed
 * Debug builds (QTIP_DEBUG) append file:line to the message.
 */
#ifndef QTIP_INTERNAL_H
#define QTIP_INTERNAL_H

#include "qtip.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#if defined(__GNUC__)
#define QTIP_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define QTIP_UNUSED __attribute__((unused))
#else
#define QTIP_PRINTF(a, b)
#define QTIP_UNUSED
#endif

/* Set the calling thread's error message and return `s` (so it can be returned
 * directly). The message is formatted like printf. */
qtip_status qtip_error_(qtip_status s, const char *file, int line, const char *fmt, ...)
    QTIP_PRINTF(4, 5);
/* Prefix the current message with "prefix: " (adds context on the way up). */
void qtip_error_prefix(const char *fmt, ...) QTIP_PRINTF(1, 2);

#define qtip_error(s, ...) qtip_error_((s), __FILE__, __LINE__, __VA_ARGS__)

#define QTIP_RETURN_ERROR_IF(cond, s, ...)                                     \
    do {                                                                       \
        if (cond) return qtip_error((s), __VA_ARGS__);                         \
    } while (0)

#define QTIP_FORWARD_IF_ERROR(expr)                                            \
    do {                                                                       \
        qtip_status qtip_fwd_s_ = (expr);                                      \
        if (qtip_fwd_s_ != QTIP_OK) return qtip_fwd_s_;                        \
    } while (0)

/* Broken invariant: a bug in libqtip. Prints file:line and aborts. */
#define QTIP_ASSERT(cond)                                                      \
    do {                                                                       \
        if (!(cond)) qtip_assert_fail_(#cond, __FILE__, __LINE__);             \
    } while (0)
void qtip_assert_fail_(const char *cond, const char *file, int line);

/* Logging through the user's callback (no-op when none is set). */
void qtip_log(qtip_log_level level, const char *fmt, ...) QTIP_PRINTF(2, 3);

/* Progress through the user's callback (no-op when none is set). */
void qtip_progress(const char *what, uint64_t done, uint64_t total);

/* Allocation that reports QTIP_E_NOMEM with a message naming `what`.
 * Returns NULL on failure (the message is set). Sizes are overflow-checked.
 * Memory from qtip_alloc is 64-byte aligned and released with free(). */
void *qtip_alloc(size_t count, size_t size, const char *what);
void *qtip_calloc(size_t count, size_t size, const char *what);

/* Number of threads to use for a parallel region (>= 1). */
int qtip_threads(void);

#endif /* QTIP_INTERNAL_H */
