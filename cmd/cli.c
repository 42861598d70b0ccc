/*
 * cli.c — shared command-line machinery (see cli.h).
 */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

cli_globals cli_g = {1, -1, 0, 0};
const char *cli_prog = "qtip";

static const char *opt_value_name(const cli_option *o)
{
    if (o->argname) return o->argname;
    switch (o->type) {
    case CLI_INT: case CLI_U64: case CLI_INT_IN: return "<n>";
    case CLI_DOUBLE: case CLI_DOUBLE_IN: return "<x>";
    default: return "<value>";
    }
}

static void print_option(FILE *out, char s, const char *l, const char *arg, const char *help)
{
    char left[96];
    int n = 0;
    if (s) n += snprintf(left + n, sizeof left - n, "-%c%s", s, l ? ", " : "");
    else n += snprintf(left + n, sizeof left - n, "    ");
    if (l) n += snprintf(left + n, sizeof left - n, "--%s", l);
    if (arg) snprintf(left + n, sizeof left - n, " %s", arg);
    if (strlen(left) > 26) fprintf(out, "    %s\n    %-26s  %s\n", left, "", help);
    else fprintf(out, "    %-26s  %s\n", left, help);
}

void cli_help(const cli_command *cmd)
{
    for (int i = 0; cmd->usage && cmd->usage[i]; i++)
        printf("%s %s\n", i == 0 ? "usage:" : "   or:", cmd->usage[i]);
    if (cmd->description) printf("\n%s\n", cmd->description);
    if (cmd->options && cmd->options[0].long_name) printf("\noptions:\n");
    for (const cli_option *o = cmd->options; o && o->long_name; o++)
        print_option(stdout, o->short_name, o->long_name,
                     o->type == CLI_FLAG ? NULL : opt_value_name(o), o->help);
    printf("\ncommon options:\n");
    print_option(stdout, 'h', "help", NULL, "show this help and exit");
    print_option(stdout, 0, "version", NULL, "show versions and exit");
    print_option(stdout, 'q', "quiet", NULL, "print errors only");
    print_option(stdout, 'v', "verbose", NULL, "print more (repeat for debug output)");
    print_option(stdout, 0, "progress", NULL, "show progress even when stderr is not a terminal");
    print_option(stdout, 0, "no-progress", NULL, "never show progress");
    print_option(stdout, 0, "threads", "<n>", "worker threads (default: all cores); results do not depend on it");
    print_option(stdout, 0, "json", NULL, "machine-readable output on stdout");
    printf("\nexit codes: 0 success, 1 failure, 2 bad usage, 3 verification mismatch\n");
}

static void print_version(void)
{
    printf("%s (qtip) %s\nlibqtip %s\n", cli_prog, QTIP_VERSION_STRING, qtip_version_string());
}

static void vmsg(const char *kind, const char *fmt, va_list ap)
{
    fprintf(stderr, "%s: %s", cli_prog, kind);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void cli_warn(const char *fmt, ...)
{
    if (cli_g.verbosity < 1) return;
    va_list ap;
    va_start(ap, fmt);
    vmsg("warning: ", fmt, ap);
    va_end(ap);
}

void cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg("error: ", fmt, ap);
    va_end(ap);
}

void cli_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg("fatal: ", fmt, ap);
    va_end(ap);
    exit(CLI_EXIT_FAIL);
}

void cli_usage_error(const cli_command *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg("error: ", fmt, ap);
    va_end(ap);
    for (int i = 0; cmd && cmd->usage && cmd->usage[i]; i++)
        fprintf(stderr, "%s %s\n", i == 0 ? "usage:" : "   or:", cmd->usage[i]);
    fprintf(stderr, "try '%s --help' for more information\n", cmd ? cmd->prog : cli_prog);
    exit(CLI_EXIT_USAGE);
}

void cli_bad_value(const cli_command *cmd, const char *opt, const char *expected, const char *got)
{
    cli_usage_error(cmd, "%s: expected %s, got '%s'", opt, expected, got);
}

void cli_require(const cli_command *cmd, const void *value, const char *opt)
{
    if (!value) cli_usage_error(cmd, "missing %s", opt);
}

void cli_expect_args(const cli_command *cmd, int npos, int min, int max, const char *what)
{
    if (npos >= min && (max < 0 || npos <= max)) return;
    if (min == max) cli_usage_error(cmd, "expected %d %s, got %d", min, what, npos);
    if (max < 0) cli_usage_error(cmd, "expected at least %d %s, got %d", min, what, npos);
    cli_usage_error(cmd, "expected %d to %d %s, got %d", min, max, what, npos);
}

json_t *cli_json_number(double v) { return isfinite(v) ? json_real(v) : json_null(); }

int cli_fail(qtip_status s)
{
    const char *msg = qtip_last_error();
    cli_error("%s", msg && *msg ? msg : qtip_status_name(s));
    return CLI_EXIT_FAIL;
}

void cli_print_json(json_t *v)
{
    char *s = json_dumps(v, JSON_INDENT(2) | JSON_REAL_PRECISION(17));
    if (s) {
        fputs(s, stdout);
        fputc('\n', stdout);
        free(s);
    }
    json_decref(v);
}

/* --- progress -------------------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Rate-limited (about 6 a second), delayed by half a second, stderr only. */
static void progress_cb(const char *what, uint64_t done, uint64_t total, void *user)
{
    static double start, last;
    static int shown;
    double t = now_s();
    if (done == 0 || start == 0) {
        start = t;
        shown = 0;
    }
    int final = total && done >= total;
    if (!final && (t - start < 0.5 || t - last < 0.16)) return;
    if (final && !shown) return;
    last = t;
    shown = 1;
    if (total)
        fprintf(stderr, "\r%s: %s %llu/%llu (%.0f%%)%s", cli_prog, what, (unsigned long long)done,
                (unsigned long long)total, 100.0 * done / total, final ? "\n" : "");
    else
        fprintf(stderr, "\r%s: %s %llu", cli_prog, what, (unsigned long long)done);
    fflush(stderr);
    (void)user;
}

static void log_cb(qtip_log_level level, const char *msg, void *user)
{
    (void)user;
    if ((int)level > cli_g.verbosity + 1) return; /* 1 -> errors+warnings */
    const char *kind = level == QTIP_LOG_ERROR ? "error: " : level == QTIP_LOG_WARN ? "warning: " : "";
    fprintf(stderr, "%s: %s%s\n", cli_prog, kind, msg);
}

/* --- parsing ------------------------------------------------------------------ */

/* Whole-string integer in [lo, hi]; 0 on any defect. */
static int parse_ll(const char *arg, long long lo, long long hi, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(arg, &end, 0);
    if (errno || end == arg || *end || v < lo || v > hi) return 0;
    *out = v;
    return 1;
}

static int parse_double(const char *arg, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(arg, &end);
    if ((errno && !isinf(v)) || end == arg || *end || isnan(v)) return 0;
    *out = v;
    return 1;
}

static void set_int_in(const cli_command *cmd, const char *name, const cli_int_spec *sp, const char *arg)
{
    long long v;
    if (!parse_ll(arg, sp->min, sp->max, &v)) {
        char what[96];
        snprintf(what, sizeof what, "an integer from %d to %d", sp->min, sp->max);
        cli_bad_value(cmd, name, what, arg);
    }
    *sp->value = (int)v;
}

static void set_double_in(const cli_command *cmd, const char *name, const cli_double_spec *sp,
                          const char *arg)
{
    double v;
    if (!parse_double(arg, &v) || !isfinite(v) || v < sp->min || v > sp->max) {
        char what[96];
        if (isinf(sp->max)) snprintf(what, sizeof what, "a number >= %g", sp->min);
        else if (isinf(sp->min)) snprintf(what, sizeof what, "a number <= %g", sp->max);
        else snprintf(what, sizeof what, "a number from %g to %g", sp->min, sp->max);
        cli_bad_value(cmd, name, what, arg);
    }
    *sp->value = v;
}

static void set_enum(const cli_command *cmd, const char *name, const cli_enum_spec *sp, const char *arg)
{
    char what[256];
    int n = snprintf(what, sizeof what, "one of");
    for (int i = 0; sp->names[i]; i++) {
        if (!strcmp(sp->names[i], arg)) {
            *sp->value = i;
            return;
        }
        if (n > 0 && (size_t)n < sizeof what)
            n += snprintf(what + n, sizeof what - (size_t)n, "%s %s", i ? "," : "", sp->names[i]);
    }
    cli_bad_value(cmd, name, what, arg);
}

static void add_to_list(cli_list *l, const char *arg)
{
    const char **items = realloc(l->items, sizeof *items * (size_t)(l->count + 1));
    if (!items) cli_die("out of memory");
    items[l->count++] = arg;
    l->items = items;
}

/* Convert and check one option's value; any defect is a usage error (exit 2). */
static void set_value(const cli_command *cmd, const cli_option *o, const char *name, const char *arg)
{
    long long v;
    switch (o->type) {
    case CLI_FLAG: *(int *)o->value = 1; break;
    case CLI_INT:
        if (!parse_ll(arg, -2147483647LL, 2147483647LL, &v)) cli_bad_value(cmd, name, "an integer", arg);
        *(int *)o->value = (int)v;
        break;
    case CLI_U64: {
        char *end;
        errno = 0;
        unsigned long long u = arg[0] == '-' ? 0 : strtoull(arg, &end, 0);
        if (arg[0] == '-' || errno || end == arg || *end)
            cli_bad_value(cmd, name, "a non-negative integer", arg);
        *(uint64_t *)o->value = u;
        break;
    }
    case CLI_DOUBLE:
        if (!parse_double(arg, (double *)o->value)) cli_bad_value(cmd, name, "a number", arg);
        break;
    case CLI_STRING: *(const char **)o->value = arg; break;
    case CLI_LIST: add_to_list(o->value, arg); break;
    case CLI_INT_IN: set_int_in(cmd, name, o->value, arg); break;
    case CLI_DOUBLE_IN: set_double_in(cmd, name, o->value, arg); break;
    case CLI_ENUM: set_enum(cmd, name, o->value, arg); break;
    }
}

static cli_int_spec threads_spec = {&cli_g.threads, 0, 4096};
static const cli_option common_options[] = {
    {0, "threads", CLI_INT_IN, &threads_spec, "<n>", NULL},
    {0, "json", CLI_FLAG, &cli_g.json, NULL, NULL},
    CLI_END,
};

/* The common options without a value; returns 0 when `a` is none of them. */
static int common_flag(const cli_command *cmd, const char *a)
{
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) { cli_help(cmd); exit(CLI_EXIT_OK); }
    if (!strcmp(a, "--version")) { print_version(); exit(CLI_EXIT_OK); }
    if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) cli_g.verbosity = 0;
    else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) cli_g.verbosity++;
    else if (!strcmp(a, "-vv")) cli_g.verbosity += 2;
    else if (!strcmp(a, "--progress")) cli_g.progress = 1;
    else if (!strcmp(a, "--no-progress")) cli_g.progress = 0;
    else return 0;
    return 1;
}

/* The row for argument `a` ("--name[=v]" or "-x[v]"); its spelling goes to name,
 * an inline value to *inline_val. Unknown options are usage errors. */
static const cli_option *find_option(const cli_command *cmd, const char *a, char *name, size_t cap,
                                     const char **inline_val)
{
    const cli_option *o = NULL;
    *inline_val = NULL;
    if (a[1] == '-') {
        const char *eq = strchr(a + 2, '=');
        size_t len = eq ? (size_t)(eq - a) : strlen(a);
        snprintf(name, cap, "%.*s", (int)len, a);
        if (eq) *inline_val = eq + 1;
        for (const cli_option *p = cmd->options; p && p->long_name; p++)
            if (!strcmp(p->long_name, name + 2)) o = p;
        for (const cli_option *p = common_options; !o && p->long_name; p++)
            if (!strcmp(p->long_name, name + 2)) o = p;
    } else {
        snprintf(name, cap, "-%c", a[1]);
        if (a[2]) *inline_val = a + 2;
        for (const cli_option *p = cmd->options; p && p->long_name; p++)
            if (p->short_name && p->short_name == a[1]) o = p;
    }
    if (!o) cli_usage_error(cmd, "unknown option '%s'", a);
    return o;
}

/* Messages carry the command's name: the first word of cmd->prog. */
static void set_prog(const cli_command *cmd)
{
    static char prog[64];
    if (!strcmp(cli_prog, "qtip") && cmd->prog) {
        snprintf(prog, sizeof prog, "%.*s", (int)strcspn(cmd->prog, " "), cmd->prog);
        cli_prog = prog;
    }
}

int cli_parse(const cli_command *cmd, int argc, char **argv)
{
    set_prog(cmd);
    int npos = 0, only_pos = 0;
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (only_pos || a[0] != '-' || a[1] == 0) { /* "-" is stdin: positional */
            argv[1 + npos++] = a;
            continue;
        }
        if (!strcmp(a, "--")) { only_pos = 1; continue; }
        if (common_flag(cmd, a)) continue;
        char name[128];
        const char *val;
        const cli_option *o = find_option(cmd, a, name, sizeof name, &val);
        if (o->type == CLI_FLAG) {
            if (val) cli_usage_error(cmd, "%s: takes no value", name);
            if (o->value) *(int *)o->value = 1;
            continue;
        }
        if (!val) {
            if (i + 1 >= argc) cli_usage_error(cmd, "%s: requires a value", name);
            val = argv[++i];
        }
        set_value(cmd, o, name, val);
    }
    qtip_set_threads(cli_g.threads);
    qtip_log_set(log_cb, NULL);
    int show = cli_g.progress < 0 ? isatty(2) : cli_g.progress;
    if (show && cli_g.verbosity > 0) qtip_progress_set(progress_cb, NULL);
    return npos;
}
