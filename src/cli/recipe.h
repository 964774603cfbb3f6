/* Recipe files (docs/recipe.md): `--recipe FILE.json` carries the sparsify
 * command's options as a JSON object, plus per-layer rules. The keys are
 * the long option names; the values go through the same parsers as the
 * command line, so a recipe and the equivalent flags configure the same
 * run. Every error names the file and the key path
 * ("r.json: layers[2].target: expected a number"). */
#ifndef LPS_CLI_RECIPE_H
#define LPS_CLI_RECIPE_H

#include <getopt.h>

#include <cJSON.h>

#include "lpsparsify/error.h"
#include "sparsity/sparsify.h"

#define LPS_RECIPE_SCHEMA "lpsparsify.recipe/1"

/* Applies one option (getopt code, its argument or NULL for a flag) as the
 * command line would; returns LPS_ERR_INVALID naming the option as
 * "--NAME: ..." on a bad value. */
typedef lps_status (*lps_recipe_option_fn)(void *user, int code, char *arg, lps_error *err);

/* Reads the recipe at path and applies it: every key except `schema` and
 * `layers` must be an option of `options` (getopt's table, NULL-terminated)
 * that docs/recipe.md lists, of the JSON type it lists; its value is
 * passed to apply(user, code, text). `layers` become rules appended to
 * o->rules (naming path, which must outlive them). On success *keep
 * receives the parsed tree, which the strings given to apply and the rules
 * point into: the caller frees it with cJSON_Delete after the run. On
 * failure nothing is kept (options already applied stay applied: the
 * caller exits) and err names PATH and the key. */
lps_status lps_recipe_load(const char *path, const struct option *options,
                           lps_recipe_option_fn apply, void *user, lps_sparsify_options *o,
                           cJSON **keep, lps_error *err);

#endif
