/* libFuzzer harness: the first byte picks the CSV options (header mode,
 * label column), the rest is parsed as CSV text, validated and batched. */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_common.h"

/* Bits of the option byte. */
#define OPT_HEADER_MASK 0x3u
#define OPT_HAS_LABELS 0x4u
#define OPT_LABEL_SHIFT 3
#define OPT_LABEL_BIAS 8 /* label column in -8..23 */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    lps_data_options opt = {0};
    unsigned bits = data[0];
    unsigned header = bits & OPT_HEADER_MASK;
    opt.csv_header = header == 1 ? LPS_CSV_HEADER_PRESENT
                   : header == 2 ? LPS_CSV_HEADER_ABSENT : LPS_CSV_HEADER_AUTO;
    opt.csv_has_labels = (bits & OPT_HAS_LABELS) != 0;
    opt.csv_label_column = (int)(bits >> OPT_LABEL_SHIFT) - OPT_LABEL_BIAS;
    lps_tensor samples = {0};
    lps_tensor labels = {0};
    lps_error err;
    size_t remaining = FUZZ_BUDGET;
    if (lps_csv_parse((const char *)data + 1, size - 1, "fuzz.csv", &opt, &remaining, &samples,
                      &labels, &err) == LPS_OK)
        fuzz_exercise(&samples, labels.dtype != LPS_DT_UNDEFINED ? &labels : NULL);
    lps_tensor_release(&samples);
    lps_tensor_release(&labels);
    return 0;
}
