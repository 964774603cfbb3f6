#include "cli/given.h"

#include <stdio.h>
#include <string.h>

static bool test_bit(const uint64_t *bits, int code)
{
    return code >= 0 && code < LPS_CLI_GIVEN_CODES &&
           (bits[code / LPS_CLI_GIVEN_WORD_BITS] >> (code % LPS_CLI_GIVEN_WORD_BITS)) & 1;
}

void lps_cli_given_begin_recipe(lps_cli_given *g, const char *path)
{
    g->recipe_path = path;
    g->in_recipe = true;
}

void lps_cli_given_end_recipe(lps_cli_given *g)
{
    g->in_recipe = false;
}

void lps_cli_given_mark(lps_cli_given *g, int code)
{
    uint64_t *bits = g->in_recipe ? g->recipe : g->command_line;
    if (code >= 0 && code < LPS_CLI_GIVEN_CODES)
        bits[code / LPS_CLI_GIVEN_WORD_BITS] |= (uint64_t)1 << (code % LPS_CLI_GIVEN_WORD_BITS);
}

bool lps_cli_given_has(const lps_cli_given *g, int code)
{
    return test_bit(g->command_line, code) || test_bit(g->recipe, code);
}

void lps_cli_given_where(const lps_cli_given *g, int code, const char *name, char *out,
                         size_t size)
{
    if (test_bit(g->command_line, code) || !g->recipe_path)
        snprintf(out, size, "--%s", name);
    else
        snprintf(out, size, "%s: %s", g->recipe_path, name);
}

int lps_cli_option_code(const struct option *options, const char *name)
{
    for (const struct option *o = options; o->name; o++)
        if (strcmp(o->name, name) == 0)
            return o->val;
    return -1;
}
