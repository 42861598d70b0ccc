/*
 * cli.h — what every qtip command shares: option parsing, messages, exit codes,
 * progress on stderr, JSON on stdout. Commands use only this and qtip.h.
 *
 * Exit codes (docs/cmd/exit-codes.md):
 *   0  success
 *   1  failure (bad input file, I/O error, numerical failure); message on stderr
 *   2  bad usage (unknown option, missing argument, bad value)
 *   3  verification found a mismatch or a threshold was exceeded (qtip-verify)
 */
#ifndef QTIP_CLI_H
#define QTIP_CLI_H

#include "qtip.h"

#include <jansson.h>
#include <stdint.h>

enum { CLI_EXIT_OK = 0, CLI_EXIT_FAIL = 1, CLI_EXIT_USAGE = 2, CLI_EXIT_MISMATCH = 3 };

/* An option row declares its type; cli_parse converts and checks the value once,
 * with one wording per kind ("<prog>: error: --K: expected an integer from 1 to 4,
 * got 'x'"). The ranged and enum kinds take a spec (below) as `value`, so a row
 * stays six fields: {0, "K", CLI_INT_IN, &(cli_int_spec){&k, 1, 4}, "<bits>", "..."}. */
typedef enum {
    CLI_FLAG,    /* int*: set to 1 (no argument) */
    CLI_INT,     /* int*: any int */
    CLI_U64,     /* uint64_t*: any non-negative integer */
    CLI_DOUBLE,  /* double*: any number but NaN ("inf" allowed: no threshold) */
    CLI_STRING,  /* const char**: points into argv */
    CLI_LIST,    /* cli_list*: repeatable string option */
    CLI_INT_IN,  /* cli_int_spec*: an int from min to max */
    CLI_DOUBLE_IN, /* cli_double_spec*: a finite number from min to max (a bound may be +-INFINITY) */
    CLI_ENUM,    /* cli_enum_spec*: one of names; *value receives its index */
} cli_type;

typedef struct {
    const char **items;
    int count;
} cli_list;

typedef struct {
    int *value;
    int min, max;
} cli_int_spec;

typedef struct {
    double *value;
    double min, max;
} cli_double_spec;

typedef struct {
    int *value;
    const char *const *names; /* NULL-terminated */
} cli_enum_spec;

typedef struct {
    char short_name;      /* 0 for none */
    const char *long_name;
    cli_type type;
    void *value;          /* see cli_type */
    const char *argname;  /* "<n>" shown in help; NULL for flags */
    const char *help;
} cli_option;

#define CLI_END {0, NULL, CLI_FLAG, NULL, NULL, NULL}

typedef struct {
    const char *prog;        /* "qtip-hessian" or "qtip-hessian accumulate" */
    const char *const *usage; /* synopsis lines, git's grammar, NULL-terminated */
    const char *description; /* one paragraph, may be NULL */
    const cli_option *options;
} cli_command;

/* Global state set by the common options every command has:
 * -q/--quiet, -v/--verbose, --progress/--no-progress, --threads <n>, --json. */
typedef struct {
    int verbosity;   /* 0 quiet, 1 errors+warnings (default), 2 info, 3 debug */
    int progress;    /* -1 auto (stderr is a terminal), 0 off, 1 on */
    int threads;     /* 0: all cores */
    int json;        /* --json given */
} cli_globals;
extern cli_globals cli_g;
extern const char *cli_prog; /* for messages */

/* Parse argv[1..] against cmd->options plus the common options and -h/--help,
 * --version (which print and exit 0). Bad usage prints a message naming the
 * argument, the synopsis, and exits 2. Positional arguments are moved to the front
 * of argv[1..]; returns their count. "--" ends options. */
int cli_parse(const cli_command *cmd, int argc, char **argv);

/* Print the help text of cmd to stdout. */
void cli_help(const cli_command *cmd);

/* Messages (stderr, prefixed "<prog>: "). cli_die* exit 1; cli_usage_error exits 2
 * ("<prog>: error: <message>", the synopsis and a pointer to --help). */
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cli_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void cli_usage_error(const cli_command *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));
/* The one wording of a bad option value, for checks a row cannot declare:
 * "<opt>: expected <expected>, got '<got>'" (exit 2). */
void cli_bad_value(const cli_command *cmd, const char *opt, const char *expected, const char *got)
    __attribute__((noreturn));
/* The one wording of missing arguments (exit 2): "missing <opt>" when a required
 * option's value is NULL; "expected <count> <what>, got <npos>" when the number of
 * positional arguments is outside min..max (max < 0: no upper bound). */
void cli_require(const cli_command *cmd, const void *value, const char *opt);
void cli_expect_args(const cli_command *cmd, int npos, int min, int max, const char *what);
/* Report a failed library call: "<prog>: error: <qtip_last_error()>"; returns CLI_EXIT_FAIL. */
int cli_fail(qtip_status s);

/* A JSON number, or null for NaN and infinities (which JSON cannot hold). */
json_t *cli_json_number(double v);
/* Print a JSON value to stdout (indented, one trailing newline) and decref it. */
void cli_print_json(json_t *v);

#endif /* QTIP_CLI_H */
