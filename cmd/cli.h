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

typedef enum {
    CLI_FLAG,    /* int*: set to 1 (no argument) */
    CLI_INT,     /* int* */
    CLI_U64,     /* uint64_t* */
    CLI_DOUBLE,  /* double* */
    CLI_STRING,  /* const char**: points into argv */
    CLI_LIST,    /* cli_list*: repeatable string option */
} cli_type;

typedef struct {
    const char **items;
    int count;
} cli_list;

typedef struct {
    char short_name;      /* 0 for none */
    const char *long_name;
    cli_type type;
    void *value;
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

/* Messages (stderr, prefixed "<prog>: "). cli_die* exit 1; cli_usage_error exits 2. */
void cli_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cli_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void cli_usage_error(const cli_command *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));
/* Report a failed library call: "<prog>: error: <qtip_last_error()>"; returns CLI_EXIT_FAIL. */
int cli_fail(qtip_status s);

/* Print a JSON value to stdout (indented, one trailing newline) and decref it. */
void cli_print_json(json_t *v);

/* Parse helpers for values inside subcommands ("4096", "1e-2"); exit 2 on error. */
int64_t cli_parse_i64(const cli_command *cmd, const char *what, const char *s);

#endif /* QTIP_CLI_H */
