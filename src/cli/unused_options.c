#include "cli/unused_options.h"

#include <stdio.h>

typedef struct method_option {
    const char *name;    /* long option name */
    const char *what;    /* what it sets */
    bool gmp_reads;      /* GMP's mask schedule reads it too */
} method_option;

/* LpSGD and the semi-pruning schedule (docs/method.md) read these; the
 * one-shot methods' frozen fine-tuning is momentum SGD and reads none. */
static const method_option METHOD_OPTIONS[] = {
    {"p", "sets the LpSS exponent of every layer", false},
    {"p-layer", "sets a layer's LpSS exponent", false},
    {"lpsgd-lr", "sets the LpSGD step", false},
    {"freeze-gain", "keeps the LpSGD gains fixed", false},
    {"prune-every", "sets the steps between mask updates", true},
};

#define LPSGD_READERS "LpSGD reads (--method lpss, or --finetune lpss after a one-shot method)"
#define SCHEDULE_READERS "LpSS, GMP and --finetune lpss read"

static lps_status check_finetune(const lps_cli_given *given, const struct option *options,
                                 const lps_sparsify_options *o, const lps_train_options *train,
                                 lps_error *err)
{
    int code = lps_cli_option_code(options, "finetune");
    char where[LPS_ERROR_MSG_MAX];
    if (!lps_cli_given_has(given, code))
        return LPS_OK;
    lps_cli_given_where(given, code, "finetune", where, sizeof where);
    const char *value = lps_finetune_name(o->finetune);
    if (!lps_sparsify_method_is_oneshot(o->method))
        return lps_fail(err, LPS_ERR_INVALID, "%s %s: fine-tunes after a one-shot --method "
                        "(magnitude, wanda or sparsegpt), not %s", where, value,
                        lps_sparsify_method_name(o->method));
    if (train->epochs < 1)
        return lps_fail(err, LPS_ERR_INVALID, "%s %s: needs --epochs > 0 (--epochs 0 writes the "
                        "one-shot result untrained)", where, value);
    return LPS_OK;
}

lps_status lps_cli_check_unused_options(const lps_cli_given *given, const struct option *options,
                                        const lps_sparsify_options *o,
                                        const lps_train_options *train, lps_error *err)
{
    lps_status st = check_finetune(given, options, o, train, err);
    if (st != LPS_OK)
        return st;
    bool lpsgd = lps_sparsify_trains_lpsgd(o);
    bool oneshot = lps_sparsify_method_is_oneshot(o->method);
    for (size_t i = 0; i < sizeof METHOD_OPTIONS / sizeof METHOD_OPTIONS[0]; i++) {
        const method_option *m = &METHOD_OPTIONS[i];
        int code = lps_cli_option_code(options, m->name);
        char where[LPS_ERROR_MSG_MAX];
        if (lpsgd || (m->gmp_reads && o->method == LPS_METHOD_GMP) ||
            !lps_cli_given_has(given, code))
            continue;
        lps_cli_given_where(given, code, m->name, where, sizeof where);
        return lps_fail(err, LPS_ERR_INVALID, "%s: %s, which only %s; unused with --method %s%s",
                        where, m->what, m->gmp_reads ? SCHEDULE_READERS : LPSGD_READERS,
                        lps_sparsify_method_name(o->method),
                        oneshot ? " without --finetune lpss" : "");
    }
    return LPS_OK;
}
