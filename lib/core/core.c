/*
 * core.c — version, status names, per-thread error messages, logging, threads.
 */
#include "core/internal.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

const char *qtip_version_string(void) { return QTIP_VERSION_STRING; }

/* One table of names, indexed by the pinned status values. */
static const char *const status_names[QTIP_STATUS_COUNT_] = {
    [QTIP_OK] = "ok",
    [QTIP_E_IO] = "i/o error",
    [QTIP_E_FORMAT] = "format error",
    [QTIP_E_SHAPE] = "shape mismatch",
    [QTIP_E_PARAM] = "invalid parameter",
    [QTIP_E_NOT_PD] = "matrix not positive definite",
    [QTIP_E_CUDA] = "cuda error",
    [QTIP_E_NOMEM] = "out of memory",
    [QTIP_E_UNSUPPORTED] = "unsupported",
    [QTIP_E_MISMATCH] = "verification mismatch",
    [QTIP_E_NONFINITE] = "non-finite value",
    [QTIP_E_NOT_FOUND] = "not found",
    [QTIP_E_INTERNAL] = "internal error",
};

const char *qtip_status_name(qtip_status s)
{
    if ((unsigned)s >= QTIP_STATUS_COUNT_ || !status_names[s]) return "unknown status";
    return status_names[s];
}

#define QTIP_ERRMSG_MAX 2048
static _Thread_local char errmsg[QTIP_ERRMSG_MAX];

const char *qtip_last_error(void) { return errmsg; }
void qtip_clear_error(void) { errmsg[0] = 0; }

qtip_status qtip_error_(qtip_status s, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(errmsg, sizeof errmsg, fmt, ap);
    va_end(ap);
#ifdef QTIP_DEBUG
    if (n >= 0 && (size_t)n < sizeof errmsg)
        snprintf(errmsg + n, sizeof errmsg - (size_t)n, " [%s:%d]", file, line);
#else
    (void)n;
    (void)file;
    (void)line;
#endif
    return s;
}

void qtip_error_prefix(const char *fmt, ...)
{
    char prefix[512], old[QTIP_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, errmsg, sizeof old);
    size_t np = strlen(prefix);
    if (np + 2 >= sizeof errmsg) np = sizeof errmsg - 3;
    memcpy(errmsg, prefix, np);
    memcpy(errmsg + np, ": ", 2);
    size_t room = sizeof errmsg - np - 3, no = strlen(old);
    if (no > room) no = room;
    memcpy(errmsg + np + 2, old, no);
    errmsg[np + 2 + no] = 0;
}

void qtip_assert_fail_(const char *cond, const char *file, int line)
{
    fprintf(stderr, "qtip: internal error: assertion '%s' failed at %s:%d\n", cond, file, line);
    abort();
}

static qtip_log_fn log_fn;
static void *log_user;

void qtip_log_set(qtip_log_fn fn, void *user)
{
    log_fn = fn;
    log_user = user;
}

void qtip_log(qtip_log_level level, const char *fmt, ...)
{
    if (!log_fn) return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    log_fn(level, buf, log_user);
}

static qtip_progress_fn progress_fn;
static void *progress_user;

void qtip_progress_set(qtip_progress_fn fn, void *user)
{
    progress_fn = fn;
    progress_user = user;
}

void qtip_progress(const char *what, uint64_t done, uint64_t total)
{
    if (progress_fn) progress_fn(what, done, total, progress_user);
}

static int n_threads; /* 0: all cores */

void qtip_set_threads(int n) { n_threads = n < 0 ? 0 : n; }
int qtip_get_threads(void) { return n_threads; }

int qtip_threads(void)
{
    if (n_threads > 0) return n_threads;
    long c = sysconf(_SC_NPROCESSORS_ONLN);
    return c > 0 ? (int)c : 1;
}

void *qtip_alloc(size_t count, size_t size, const char *what)
{
    if (size && count > SIZE_MAX / size) {
        qtip_error(QTIP_E_NOMEM, "cannot allocate %s: %zu x %zu bytes overflows", what, count, size);
        return NULL;
    }
    size_t bytes = count * size;
    bytes = (bytes + 63) & ~(size_t)63;
    if (bytes == 0) bytes = 64;
    void *p = NULL;
    if (posix_memalign(&p, 64, bytes) != 0) {
        qtip_error(QTIP_E_NOMEM, "cannot allocate %zu bytes for %s", bytes, what);
        return NULL;
    }
    return p;
}

void *qtip_calloc(size_t count, size_t size, const char *what)
{
    void *p = qtip_alloc(count, size, what);
    if (p) memset(p, 0, count * size);
    return p;
}
