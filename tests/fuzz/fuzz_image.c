/* libFuzzer harness: arbitrary bytes through the PNG/JPEG decoder, then
 * the decoded image through evaluation and augmented input adaptation. */
#include <stddef.h>
#include <stdint.h>

#include "data/adapt.h"
#include "data/image.h"

/* A small model input, so that adaptation of a huge image stays quick. */
#define TARGET_SIDE 16
#define RGB 3

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lps_image img;
    lps_error err;
    if (lps_image_decode(data, size, "fuzz.img", &img, &err) != LPS_OK)
        return 0;
    lps_adapt_view v = {.height = img.height, .width = img.width, .channels = img.channels,
                        .channels_last = true, .bytes = img.pixels};
    lps_adapt_target_shape t = {.height = TARGET_SIDE, .width = TARGET_SIDE, .channels = RGB};
    static float out[RGB * TARGET_SIDE * TARGET_SIDE];
    for (int augment = LPS_AUGMENT_NONE; augment <= LPS_AUGMENT_STANDARD; augment++) {
        lps_adapt_opts o = {.augment = (lps_augment)augment};
        lps_adapt_box box;
        lps_adapt_region(&v, &t, &o, false, lps_adapt_sample_seed(1, 0, (int64_t)size), &box);
        lps_adapt_apply(&v, &t, &box, out, &err);
    }
    lps_image_release(&img);
    return 0;
}
