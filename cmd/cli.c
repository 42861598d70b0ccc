/*
 * cli.c — shared command-line machinery (see cli.h).
 */
#include "cli.h"

#include <errno.h>
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
    case CLI_INT: case CLI_U64: return "<n>";
    case CLI_DOUBLE: return "<x>";
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

void cli_info(const char *fmt, ...)
{
    if (cli_g.verbosity < 2) return;
    va_list ap;
    va_start(ap, fmt);
    vmsg("", fmt, ap);
    va_end(ap);
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
    vmsg("", fmt, ap);
    va_end(ap);
    for (int i = 0; cmd && cmd->usage && cmd->usage[i]; i++)
        fprintf(stderr, "%s %s\n", i == 0 ? "usage:" : "   or:", cmd->usage[i]);
    fprintf(stderr, "try '%s --help' for more information\n", cmd ? cmd->prog : cli_prog);
    exit(CLI_EXIT_USAGE);
}

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

int64_t cli_parse_i64(const cli_command *cmd, const char *what, const char *s)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 0);
    if (errno || end == s || *end) cli_usage_error(cmd, "invalid number '%s' for %s", s, what);
    return v;
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

static void set_value(const cli_command *cmd, const cli_option *o, const char *name, const char *arg)
{
    char *end;
    errno = 0;
    switch (o->type) {
    case CLI_FLAG: *(int *)o->value = 1; break;
    case CLI_INT: {
        long v = strtol(arg, &end, 0);
        if (errno || end == arg || *end || v < -2147483647L || v > 2147483647L)
            cli_usage_error(cmd, "option '%s' expects an integer, got '%s'", name, arg);
        *(int *)o->value = (int)v;
        break;
    }
    case CLI_U64: {
        if (arg[0] == '-') cli_usage_error(cmd, "option '%s' expects a non-negative integer, got '%s'", name, arg);
        unsigned long long v = strtoull(arg, &end, 0);
        if (errno || end == arg || *end)
            cli_usage_error(cmd, "option '%s' expects a non-negative integer, got '%s'", name, arg);
        *(uint64_t *)o->value = v;
        break;
    }
    case CLI_DOUBLE: {
        double v = strtod(arg, &end);
        if (errno || end == arg || *end)
            cli_usage_error(cmd, "option '%s' expects a number, got '%s'", name, arg);
        *(double *)o->value = v;
        break;
    }
    case CLI_STRING: *(const char **)o->value = arg; break;
    case CLI_LIST: {
        cli_list *l = o->value;
        const char **items = realloc(l->items, sizeof *items * (l->count + 1));
        if (!items) cli_die("out of memory");
        items[l->count++] = arg;
        l->items = items;
        break;
    }
    }
}

int cli_parse(const cli_command *cmd, int argc, char **argv)
{
    /* messages carry the command's name: the first word of cmd->prog */
    static char prog[64];
    if (!strcmp(cli_prog, "qtip") && cmd->prog) {
        snprintf(prog, sizeof prog, "%.*s", (int)strcspn(cmd->prog, " "), cmd->prog);
        cli_prog = prog;
    }
    static const cli_option common[] = {
        {'q', "quiet", CLI_FLAG, NULL, NULL, NULL},
        {'v', "verbose", CLI_FLAG, NULL, NULL, NULL},
        {0, "progress", CLI_FLAG, NULL, NULL, NULL},
        {0, "no-progress", CLI_FLAG, NULL, NULL, NULL},
        {0, "threads", CLI_INT, &cli_g.threads, "<n>", NULL},
        {0, "json", CLI_FLAG, &cli_g.json, NULL, NULL},
        CLI_END,
    };
    int npos = 0, only_pos = 0;
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (only_pos || a[0] != '-' || a[1] == 0) { /* "-" is stdin: positional */
            argv[1 + npos++] = a;
            continue;
        }
        if (!strcmp(a, "--")) { only_pos = 1; continue; }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { cli_help(cmd); exit(CLI_EXIT_OK); }
        if (!strcmp(a, "--version")) { print_version(); exit(CLI_EXIT_OK); }
        if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) { cli_g.verbosity = 0; continue; }
        if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) { cli_g.verbosity++; continue; }
        if (!strcmp(a, "-vv")) { cli_g.verbosity += 2; continue; }
        if (!strcmp(a, "--progress")) { cli_g.progress = 1; continue; }
        if (!strcmp(a, "--no-progress")) { cli_g.progress = 0; continue; }

        const cli_option *o = NULL;
        const char *inline_val = NULL;
        char name[128];
        if (a[1] == '-') {
            const char *eq = strchr(a + 2, '=');
            size_t len = eq ? (size_t)(eq - (a + 2)) : strlen(a + 2);
            if (len >= sizeof name) len = sizeof name - 1;
            memcpy(name, a + 2, len);
            name[len] = 0;
            if (eq) inline_val = eq + 1;
            for (const cli_option *p = cmd->options; p && p->long_name; p++)
                if (!strcmp(p->long_name, name)) o = p;
            for (const cli_option *p = common; !o && p->long_name; p++)
                if (!strcmp(p->long_name, name)) o = p;
            snprintf(name, sizeof name, "%.*s", (int)(eq ? eq - a : (long)strlen(a)), a);
        } else {
            for (const cli_option *p = cmd->options; p && p->long_name; p++)
                if (p->short_name && p->short_name == a[1]) o = p;
            snprintf(name, sizeof name, "-%c", a[1]);
            if (a[2]) inline_val = a + 2;
        }
        if (!o) cli_usage_error(cmd, "unknown option '%s'", a);
        if (o->type == CLI_FLAG) {
            if (inline_val) cli_usage_error(cmd, "option '%s' takes no value", name);
            if (o->value) *(int *)o->value = 1;
            continue;
        }
        const char *val = inline_val;
        if (!val) {
            if (i + 1 >= argc) cli_usage_error(cmd, "option '%s' requires a value", name);
            val = argv[++i];
        }
        set_value(cmd, o, name, val);
    }
    if (cli_g.threads < 0) cli_usage_error(cmd, "option '--threads' must be >= 0");
    qtip_set_threads(cli_g.threads);
    qtip_log_set(log_cb, NULL);
    int show = cli_g.progress < 0 ? isatty(2) : cli_g.progress;
    if (show && cli_g.verbosity > 0) qtip_progress_set(progress_cb, NULL);
    return npos;
}
