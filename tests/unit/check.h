/*
 * check.h — the unit tests' tiny harness (header only).
 *
 *   CHECK(cond, fmt, ...)        record a failure with file:line and a message
 *   CHECK_OK(expr)               expr must return QTIP_OK (prints qtip_last_error())
 *   CHECK_STATUS(expr, status)   expr must fail with exactly `status`
 *   CHECK_NEAR(a, b, tol)        |a - b| <= tol
 *   TEST(name) { ... }           a test case; RUN(name) in main runs it
 *   CHECK_SKIP(reason)           end the case as skipped (what it needs is missing)
 *   return check_summary();      prints "N passed, M failed, K skipped" and gives the
 *                                exit code: 1 on a failure, else 77 (ctest's skip
 *                                code, SKIP_RETURN_CODE) when a case was skipped
 *
 * Random inputs come from test_rng (splitmix64) with a printed seed, so a
 * failure replays with QTIP_TEST_SEED=<seed>.
 */
#ifndef QTIP_TEST_CHECK_H
#define QTIP_TEST_CHECK_H

#include "qtip.h"
#include "core/rng.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_failures_;
static int check_cases_passed_, check_cases_failed_, check_cases_skipped_;

#define CHECK(cond, ...)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            check_failures_++;                                                 \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                      \
            fputc('\n', stderr);                                               \
        }                                                                      \
    } while (0)

#define CHECK_OK(expr)                                                         \
    do {                                                                       \
        qtip_status s_ = (expr);                                               \
        CHECK(s_ == QTIP_OK, "%s -> %s: %s", #expr, qtip_status_name(s_),      \
              qtip_last_error());                                              \
    } while (0)

#define CHECK_STATUS(expr, want)                                               \
    do {                                                                       \
        qtip_status s_ = (expr);                                               \
        CHECK(s_ == (want), "%s -> %s (want %s): %s", #expr, qtip_status_name(s_), \
              qtip_status_name(want), qtip_last_error());                      \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                  \
    do {                                                                       \
        double a_ = (double)(a), b_ = (double)(b), t_ = (double)(tol);         \
        CHECK(fabs(a_ - b_) <= t_, "%s = %.17g, %s = %.17g, |diff| %.3g > %.3g", #a, a_, \
              #b, b_, fabs(a_ - b_), t_);                                      \
    } while (0)

#define CHECK_SKIP(reason)                                                     \
    do {                                                                       \
        check_cases_skipped_++;                                                \
        fprintf(stderr, "SKIPPED: %s\n", (reason));                            \
        return;                                                                \
    } while (0)

#define TEST(name) static void name(void)
#define RUN(name)                                                              \
    do {                                                                       \
        int before_ = check_failures_, skipped_ = check_cases_skipped_;        \
        fprintf(stderr, "-- %s\n", #name);                                     \
        name();                                                                \
        if (check_cases_skipped_ != skipped_) {}                               \
        else if (check_failures_ == before_) check_cases_passed_++;            \
        else { check_cases_failed_++; fprintf(stderr, "FAILED %s\n", #name); }  \
    } while (0)

static inline int check_summary(void)
{
    printf("%d passed, %d failed, %d skipped\n", check_cases_passed_, check_cases_failed_,
           check_cases_skipped_);
    return check_cases_failed_ ? 1 : check_cases_skipped_ ? 77 : 0;
}

/* splitmix64 (lib/core/rng.h): small, fast, platform independent. */
typedef struct { uint64_t s; } test_rng;

static inline uint64_t test_rng_next(test_rng *r) { return qtip_splitmix64(&r->s); }
static inline double test_rng_uniform(test_rng *r) /* [0, 1) */
{
    return (double)(test_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}
static inline double test_rng_normal(test_rng *r)
{
    double u1 = test_rng_uniform(r), u2 = test_rng_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}
/* Seed from QTIP_TEST_SEED or `dflt`, printed so a failure can be replayed. */
static inline test_rng test_rng_seeded(uint64_t dflt)
{
    const char *e = getenv("QTIP_TEST_SEED");
    uint64_t seed = e ? strtoull(e, NULL, 0) : dflt;
    fprintf(stderr, "seed %llu (QTIP_TEST_SEED to replay)\n", (unsigned long long)seed);
    test_rng r = {seed};
    return r;
}

/* A scratch directory for the test's files, removed by the caller if wanted. */
static inline const char *test_tmpdir(void)
{
    static char dir[256];
    if (!dir[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/qtip-test-XXXXXX", base ? base : "/tmp");
        if (!mkdtemp(dir)) { perror("mkdtemp"); exit(2); }
    }
    return dir;
}

/* "<test_tmpdir()>/<name>" in one of 8 rotating buffers (so a few can be live at once). */
static inline char *test_path(const char *name)
{
    static char buf[8][512];
    static int k;
    char *p = buf[k++ & 7];
    snprintf(p, 512, "%s/%s", test_tmpdir(), name);
    return p;
}

/* Write exactly `len` bytes to `path` (plain stdio, independent of libqtip's writers). */
static inline void test_write_file(const char *path, const void *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f) { perror(path); exit(2); }
    if (len && fwrite(buf, 1, len, f) != len) { perror(path); exit(2); }
    fclose(f);
}

#endif /* QTIP_TEST_CHECK_H */
