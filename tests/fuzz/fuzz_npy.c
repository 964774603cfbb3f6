/* libFuzzer harness: arbitrary bytes through the NPY reader, then through
 * dataset validation and one preprocessed batch. */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_array_reader(lps_npy_read, data, size, "fuzz.npy");
    return 0;
}
