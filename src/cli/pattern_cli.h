/* The sparsify command's side of --pattern N:M (docs/cli.md): the target
 * it implies, the storage it implies, the layers it leaves dense (a note on
 * stderr and the report keys of docs/report.md). */
#ifndef LPS_CLI_PATTERN_CLI_H
#define LPS_CLI_PATTERN_CLI_H

#include <stdbool.h>

#include <cJSON.h>

#include "lpsparsify/model.h"
#include "sparsity/sparsify.h"

/* With a pattern and no --target (target 0), sets the target to the
 * pattern's sparsity; a different --target is left for
 * lps_sparsify_create to refuse. Always LPS_OK today; err for symmetry
 * with the other option checks. */
lps_status lps_cli_pattern_target(lps_sparsify_options *o, lps_error *err);

/* --storage auto with a pattern writes dense initializers: N:M kernels
 * read dense weights (and COO of 2:4 would be larger). Otherwise storage. */
lps_storage lps_cli_pattern_storage(const lps_sparsify_options *o, lps_storage storage);

/* Prints one line on stderr per layer the pattern does not fit (unless
 * quiet or without a pattern). */
void lps_cli_print_pattern_misfits(const lps_sparsify *s, const lps_sparsify_options *o,
                                   bool quiet);

/* Adds the per-layer `pattern` key and the top-level `pattern` summary
 * (null without a pattern) to a sparsify report. */
void lps_cli_report_pattern(cJSON *report, const lps_sparsify *s, const lps_sparsify_options *o);

#endif
