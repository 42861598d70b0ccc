/*
 * hadamard_private.h — what lib/hadamard_*.c and lib/rht.c share (not installed).
 */
#ifndef QTIP_HADAMARD_PRIVATE_H
#define QTIP_HADAMARD_PRIVATE_H

#include "internal.h"

/* *H receives the verified H_K of a supported special order (built once, cached
 * for the process's lifetime, thread-safe; K = 1 gives [1]). Errors:
 * QTIP_E_UNSUPPORTED, QTIP_E_NOMEM, QTIP_E_INTERNAL (a construction failed its check). */
qtip_status qtip_had_special_get_(int64_t K, const int8_t **H);

/* Fail with QTIP_E_UNSUPPORTED, naming N, `what` and the nearest supported orders. */
qtip_status qtip_had_unsupported_error_(int64_t N, const char *what);

#endif /* QTIP_HADAMARD_PRIVATE_H */
