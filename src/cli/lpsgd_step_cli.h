/* The sparsify report's `lpsgd_step` key (docs/report.md): the LpSGD step
 * scale the run trained with and, when the probe chose it, the probe's
 * candidates, scores and cost. */
#ifndef LPS_CLI_LPSGD_STEP_CLI_H
#define LPS_CLI_LPSGD_STEP_CLI_H

#include <cJSON.h>

#include "sparsity/sparsify.h"

/* Adds `lpsgd_step` to report: null when the method trains no LpSGD state. */
void lps_cli_report_lpsgd_step(cJSON *report, const lps_sparsify *s,
                               const lps_sparsify_options *o);

#endif
