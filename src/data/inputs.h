/* The multi-input forms of the --data spec (docs/data.md, "Several model
 * inputs"), called by spec.c. */
#ifndef LPS_DATA_INPUTS_H
#define LPS_DATA_INPUTS_H

#include <stdbool.h>

#include "lpsparsify/data.h"

/* Loads dir/STEM.NAME.npy for every model input NAME of opt (and
 * dir/STEM_labels.npy when present). *found is false, and ds empty, when
 * there is no such file at all; some but not all of them is LPS_ERR_INVALID
 * naming the missing one, as are mismatched sample counts. */
lps_status lps_data_open_named_dir(lps_dataset *ds, const char *dir, const char *stem,
                                   const lps_data_options *opt, bool *found, lps_error *err);

/* Loads "NAME=FILE,..." (key `labels` names the labels file unless the
 * model has an input of that name). LPS_ERR_INVALID names an unknown or
 * repeated input, a model input without a file, a missing file or a sample
 * count that differs from the first file's. */
lps_status lps_data_open_pairs(lps_dataset *ds, const char *spec, const lps_data_options *opt,
                               lps_error *err);

#endif
