/* libFuzzer harness: arbitrary bytes as an ONNX model loaded from memory
 * (external data refused), then compiled, run once and saved again. */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_onnx_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_model(data, size, NULL);
    return 0;
}
