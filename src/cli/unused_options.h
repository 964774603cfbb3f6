/* The sparsify options that only some methods read (docs/cli.md): given
 * with a method that never reads them, on the command line or in a
 * --recipe file, they are refused rather than silently ignored. */
#ifndef LPS_CLI_UNUSED_OPTIONS_H
#define LPS_CLI_UNUSED_OPTIONS_H

#include "cli/given.h"
#include "lpsparsify/error.h"
#include "sparsity/sparsify.h"
#include "train/trainer.h"

/* Checked right after the parse, before any file is read. options is the
 * command's getopt table (the names are looked up in it), given what the
 * parse recorded. LPS_ERR_INVALID with a one-line message naming the
 * option and why: --finetune given with a method that is not one-shot or
 * with --epochs 0; --p, --p-layer, --lpsgd-lr, --freeze-gain given where
 * LpSGD does not train (--method gmp, or a one-shot method without
 * --finetune lpss); --prune-every with a one-shot method without
 * --finetune lpss. LPS_OK otherwise. */
lps_status lps_cli_check_unused_options(const lps_cli_given *given, const struct option *options,
                                        const lps_sparsify_options *o,
                                        const lps_train_options *train, lps_error *err);

#endif
