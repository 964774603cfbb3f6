/* The dataset file readers. Each reads from an lps_source (a file or a
 * memory buffer) so that the fuzzers and tests can feed bytes directly.
 * `remaining` is the memory budget still available; a reader subtracts what
 * it allocates and fails with LPS_ERR_NOMEM rather than exceed it. Every
 * message names the source. On failure the output tensors are released. */
#ifndef LPS_DATA_FORMATS_H
#define LPS_DATA_FORMATS_H

#include <stddef.h>

#include "data/source.h"
#include "lpsparsify/data.h"
#include "lpsparsify/error.h"
#include "lpsparsify/tensor.h"

/* Reads one IDX array (uint8, int8, int16, int32, float32 or float64; rank
 * 1..LPS_MAX_RANK) into out, converted to host byte order. LPS_ERR_INVALID
 * for a wrong magic, an unknown element type, a short payload or trailing
 * bytes; LPS_ERR_NOMEM over budget; LPS_ERR_IO on read errors. */
lps_status lps_idx_read(lps_source *src, size_t *remaining, lps_tensor *out, lps_error *err);

/* Reads one NPY array (format versions 1 and 2; dtypes '<f4', '|u1', '<i8';
 * C order) into out. Errors as for lps_idx_read, plus LPS_ERR_INVALID for a
 * malformed header dict, Fortran order or another dtype. */
lps_status lps_npy_read(lps_source *src, size_t *remaining, lps_tensor *out, lps_error *err);

/* Parses len bytes of CSV text named name. samples receives float32
 * [rows, feature columns]; labels receives int64 [rows] when opt asks for a
 * label column and is left zeroed otherwise. opt may be NULL (header
 * auto-detected, no labels). LPS_ERR_INVALID names the line for ragged rows,
 * non-numeric fields, NaN/Inf values and non-integer labels. */
lps_status lps_csv_parse(const char *text, size_t len, const char *name,
                         const lps_data_options *opt, size_t *remaining, lps_tensor *samples,
                         lps_tensor *labels, lps_error *err);

#endif
