/* Helpers every subcommand uses to report problems the same way: one line
 * on stderr, "lpsparsify: FILE: what is wrong", and the documented exit
 * code (0 ok, 1 runtime failure, 2 bad usage or bad input). */
#ifndef LPS_CLI_UTIL_H
#define LPS_CLI_UTIL_H

#include <stdbool.h>

#include "lpsparsify/error.h"

#define LPS_PROGRAM "lpsparsify"
#define LPS_EXIT_USAGE 2

/* Prints "lpsparsify: <err->msg>" and returns the exit code of err->status. */
int lps_cli_report(const lps_error *err);

/* Prints "lpsparsify: [cmd: ]<message> (see 'lpsparsify [cmd ]--help')" and
 * returns LPS_EXIT_USAGE. cmd may be NULL for the top level. */
int lps_cli_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Reports the getopt_long failure c ('?' unknown option, ':' missing
 * argument; the optstring must start with ':') for command cmd and returns
 * LPS_EXIT_USAGE. argv is what getopt_long scanned. */
int lps_cli_option_error(const char *cmd, int c, char **argv);

/* Checks that path names a readable regular file before anything is
 * loaded, so that a typo is reported as bad input (exit 2) naming the
 * file. Returns LPS_ERR_INVALID with "PATH: reason" otherwise. */
lps_status lps_cli_check_input_file(const char *path, lps_error *err);

/* True when both paths exist and name one file, also through links. */
bool lps_cli_same_file(const char *a, const char *b);
/* Refuses an output path that names the same file as input, also through
 * links, so that no output ever replaces an input: LPS_ERR_INVALID with
 * "OUTPUT: would overwrite the input INPUT". LPS_OK when output does not
 * exist yet or is another file. */
lps_status lps_cli_check_not_input(const char *output, const char *input, lps_error *err);

#endif
