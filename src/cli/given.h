/* Which options a command was given, on its command line or in a --recipe
 * file, so that a check after the parse can tell an option that was set
 * from its default and name where it was set (docs/cli.md: an option that
 * the chosen method never reads is refused, not silently ignored). */
#ifndef LPS_CLI_GIVEN_H
#define LPS_CLI_GIVEN_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Room for every getopt code: the short options' ASCII and the long
 * options' codes from LPS_OPT_DATA (options.h) on. */
#define LPS_CLI_GIVEN_CODES 1024
#define LPS_CLI_GIVEN_WORD_BITS 64
#define LPS_CLI_GIVEN_WORDS (LPS_CLI_GIVEN_CODES / LPS_CLI_GIVEN_WORD_BITS)

/* Zero-initialise; no resources to release. */
typedef struct lps_cli_given {
    uint64_t command_line[LPS_CLI_GIVEN_WORDS];
    uint64_t recipe[LPS_CLI_GIVEN_WORDS];
    const char *recipe_path;   /* the --recipe file, once one is applied */
    bool in_recipe;            /* between begin_recipe and end_recipe */
} lps_cli_given;

/* Options marked between these two calls were given in the recipe at
 * path (which must outlive g); the others on the command line. */
void lps_cli_given_begin_recipe(lps_cli_given *g, const char *path);
void lps_cli_given_end_recipe(lps_cli_given *g);

/* Records that the option with getopt code `code` was given. A code
 * outside [0, LPS_CLI_GIVEN_CODES) is not recorded (none is). */
void lps_cli_given_mark(lps_cli_given *g, int code);

/* True when lps_cli_given_mark recorded code (from either source). */
bool lps_cli_given_has(const lps_cli_given *g, int code);

/* Where the option was given, in the form of the parse's own errors:
 * "--NAME" from the command line (which overrides the recipe), else
 * "RECIPE: NAME" (recipe.h). Truncated to size. */
void lps_cli_given_where(const lps_cli_given *g, int code, const char *name, char *out,
                         size_t size);

/* The getopt code of the long option called name in options (ended by a
 * NULL name), or -1 when there is none. */
int lps_cli_option_code(const struct option *options, const char *name);

#endif
