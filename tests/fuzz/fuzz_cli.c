/* libFuzzer harness for the CLI's number and list parsing (src/cli/options.c
 * is compiled in). The first byte picks a data or training option, the rest
 * is its argument; the argument also goes through the bare integer and
 * number parsers with the ranges of --target and -p. A value that is
 * accepted must lie in its range; a refusal must be a one-line message. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli/options.h"

#define FUZZ_INT_MIN (-1000)
#define FUZZ_INT_MAX 1000000
/* --target S lies in (0, 1); the norm exponent p in (1, 2]. */
#define TARGET_MIN 0.0
#define TARGET_MAX 1.0
#define P_MIN 1.0
#define P_MAX 2.0

static void check_refusal(const lps_error *err, const char *option)
{
    if (err->status == LPS_OK || strchr(err->msg, '\n')
        || strncmp(err->msg, option, strlen(option)) != 0)
        abort();
}

static void bare_parsers(const char *text)
{
    lps_error err;
    int64_t i;
    double v;
    if (lps_cli_parse_int("--n", text, FUZZ_INT_MIN, FUZZ_INT_MAX, &i, &err) == LPS_OK) {
        if (i < FUZZ_INT_MIN || i > FUZZ_INT_MAX)
            abort();
    } else {
        check_refusal(&err, "--n");
    }
    if (lps_cli_parse_double("--target", text, TARGET_MIN, true, TARGET_MAX, true, &v, &err)
        == LPS_OK) {
        if (!(v > TARGET_MIN && v < TARGET_MAX))
            abort();
    } else {
        check_refusal(&err, "--target");
    }
    if (lps_cli_parse_double("-p", text, P_MIN, true, P_MAX, false, &v, &err) == LPS_OK) {
        if (!(v > P_MIN && v <= P_MAX) || !isfinite(v))
            abort();
    } else {
        check_refusal(&err, "-p");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    char *text = malloc(size);
    if (!text)
        return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    int n_codes = LPS_OPT_FIRST_COMMAND_SPECIFIC - LPS_OPT_DATA;
    int code = LPS_OPT_DATA + data[0] % n_codes;
    lps_error err;
    bool handled = false;
    lps_cli_data d;
    lps_cli_data_default(&d);
    if (lps_cli_data_option(&d, code, text, &handled, &err) != LPS_OK)
        check_refusal(&err, "--");
    if (!handled) {
        lps_train_options o;
        lps_train_options_default(&o);
        if (lps_cli_train_option(&o, 0, code, text, &handled, &err) != LPS_OK)
            check_refusal(&err, "--");
    }
    bare_parsers(text);
    free(text);
    return 0;
}
