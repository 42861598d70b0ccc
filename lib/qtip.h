/*
 * qtip.h — the public API of libqtip.
 *
 * libqtip turns the weights of a trained model into QTIP (bitshift trellis) and
 * QuIP# (E8P lattice) quantized layers. Programs include this header only; it pulls
 * in the module sections below, which are installed beside it under include/qtip/.
 *
 * Conventions, for every function in every section:
 *  - Functions that can fail return `qtip_status` (QTIP_OK == 0) and, on failure,
 *    leave a message in the calling thread's error buffer: `qtip_last_error()`.
 *    Messages follow git's style: lowercase, no final full stop, what failed first,
 *    subjects (files, tensors) in single quotes, expected versus found values.
 *  - The library never prints and never exits. Diagnostics go through the log
 *    callback set by `qtip_log_set()`; QTIP_ASSERT (abort) is reserved for broken
 *    invariants, i.e. bugs in libqtip itself.
 *  - Objects are opaque: `qtip_x_create()` / `qtip_x_free()` pairs; free accepts NULL.
 *  - Stable and experimental: functions inside `#ifdef QTIP_EXPERIMENTAL` blocks are
 *    building blocks (shared by lib/'s stages, exercised by the tests) whose
 *    signatures may change; define QTIP_EXPERIMENTAL (CMake: link qtip_experimental)
 *    to see them. Everything else is the stable API (docs/contributing.md,
 *    "Public API: stable and experimental").
 *  - Shape letters used in comments across lib/ and kernels/ (docs/shapes.md):
 *    m = out features, n = in features, T = tokens, K = bits per weight,
 *    L = trellis state bits, V = values per trellis step.
 */
#ifndef QTIP_H
#define QTIP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------
 * Version
 * ------------------------------------------------------------------------- */
#define QTIP_VERSION_MAJOR 0
#define QTIP_VERSION_MINOR 1
#define QTIP_VERSION_PATCH 0
#define QTIP_VERSION_NUMBER \
    (QTIP_VERSION_MAJOR * 10000 + QTIP_VERSION_MINOR * 100 + QTIP_VERSION_PATCH)
#define QTIP_STR_(x) #x
#define QTIP_STR(x) QTIP_STR_(x)
#define QTIP_VERSION_STRING \
    QTIP_STR(QTIP_VERSION_MAJOR) "." QTIP_STR(QTIP_VERSION_MINOR) "." QTIP_STR(QTIP_VERSION_PATCH)

const char *qtip_version_string(void);

/* ---------------------------------------------------------------------------
 * Status codes. Values are pinned: never renumber, only append.
 * ------------------------------------------------------------------------- */
typedef enum {
    QTIP_OK = 0,
    QTIP_E_IO = 1,             /* a file could not be opened, read, written or renamed */
    QTIP_E_FORMAT = 2,         /* a file's contents break its format's rules */
    QTIP_E_SHAPE = 3,          /* shapes or dimensions disagree */
    QTIP_E_PARAM = 4,          /* a parameter is out of bounds or inconsistent */
    QTIP_E_NOT_PD = 5,         /* a Hessian is not positive definite even after damping */
    QTIP_E_CUDA = 6,           /* a CUDA, cuBLAS or cuSOLVER call failed */
    QTIP_E_NOMEM = 7,          /* an allocation failed */
    QTIP_E_UNSUPPORTED = 8,    /* valid but not supported (dtype, size, device) */
    QTIP_E_MISMATCH = 9,       /* a checksum or verification check failed */
    QTIP_E_NONFINITE = 10,     /* NaN or Inf where finite values are required */
    QTIP_E_NOT_FOUND = 11,     /* a named tensor, key or layer does not exist */
    QTIP_E_INTERNAL = 12,      /* an invariant broke: a bug in libqtip */
    QTIP_STATUS_COUNT_
} qtip_status;

/* Short fixed name of a status, e.g. "format error". Never NULL. */
const char *qtip_status_name(qtip_status s);

/* The calling thread's message for the most recent failure ("" if none).
 * Valid until the next libqtip call on this thread. */
const char *qtip_last_error(void);

/* Clear the calling thread's error message. */
void qtip_clear_error(void);

/* ---------------------------------------------------------------------------
 * Logging: the library's only way to talk. Default: no output.
 * ------------------------------------------------------------------------- */
typedef enum {
    QTIP_LOG_ERROR = 1,
    QTIP_LOG_WARN = 2,
    QTIP_LOG_INFO = 3,
    QTIP_LOG_DEBUG = 4
} qtip_log_level;

typedef void (*qtip_log_fn)(qtip_log_level level, const char *msg, void *user);

/* Install a log callback (NULL silences the library). Not thread-safe against
 * concurrent logging: call it once at start-up. */
void qtip_log_set(qtip_log_fn fn, void *user);

/* ---------------------------------------------------------------------------
 * Threads. 0 = all cores (the default). Results never depend on this number:
 * every parallel reduction in libqtip has a fixed order.
 * ------------------------------------------------------------------------- */
void qtip_set_threads(int n);
int qtip_get_threads(void);

/* ---------------------------------------------------------------------------
 * Progress: long operations report done/total through this callback, from the
 * thread that called the operation. NULL (the default) disables it.
 * ------------------------------------------------------------------------- */
typedef void (*qtip_progress_fn)(const char *what, uint64_t done, uint64_t total, void *user);
void qtip_progress_set(qtip_progress_fn fn, void *user);

/* ---------------------------------------------------------------------------
 * Module sections (each is a public header of its own, installed beside this one)
 * ------------------------------------------------------------------------- */
#ifdef __cplusplus
}
#endif

#include "qtip_io.h"        /* files: atomic writes, zstd streams, checksums */
#include "qtip_tensor.h"    /* safetensors, npy, dtypes */
#include "qtip_hessian.h"   /* H = E[x x^T]: accumulate, merge, files */
#include "qtip_hadamard.h"  /* Hadamard matrices and the randomized Hadamard transform */
#include "qtip_trellis.h"   /* bitshift trellis codes and tail-biting Viterbi */
#include "qtip_e8p.h"       /* E8P12 lattice codebook and RVQ variants */
#include "qtip_quant.h"     /* BlockLDLQ, one-layer quantization, per-layer artifact */
#include "qtip_pack.h"      /* packed model directories and their verification */
#include "qtip_matvec.h"    /* a packed layer run on the CPU: decode-on-the-fly matvec */

#endif /* QTIP_H */
