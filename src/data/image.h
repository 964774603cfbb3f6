/* Decoded images and the geometry that turns them into model inputs
 * (docs/data.md, "Image folders" and "Input adaptation").
 *
 * An lps_image is 8-bit, interleaved (HWC), grey (1 channel) or RGB (3).
 * Decoding takes PNG (grey, RGB, palette, with or without alpha, 8 or 16
 * bit) and JPEG (baseline or progressive; grey, YCbCr or CMYK) through
 * Debian's libpng and libjpeg-turbo; their errors become one-line
 * messages, and no longjmp leaves this module. */
#ifndef LPS_DATA_IMAGE_H
#define LPS_DATA_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "lpsparsify/data.h"
#include "lpsparsify/error.h"

/* Images larger than this many pixels are refused before decoding
 * (a few bytes of header can claim gigapixels). */
#define LPS_IMAGE_MAX_PIXELS ((int64_t)1 << 27)

typedef struct lps_image {
    int width;
    int height;
    int channels;      /* 1 or 3 */
    uint8_t *pixels;   /* height * width * channels bytes, row-major HWC */
} lps_image;

/* Decodes len bytes of PNG or JPEG (told apart by their signature) into
 * img. name prefixes every message. Alpha is dropped (as PIL's
 * convert("RGB") does), 16-bit samples are reduced to 8, palettes expanded,
 * CMYK converted to RGB. Returns LPS_OK, or LPS_ERR_INVALID "NAME: reason"
 * for a file that is not PNG/JPEG, is corrupt or truncated, or too large,
 * LPS_ERR_NOMEM; img is zeroed on failure. Release with lps_image_release. */
lps_status lps_image_decode(const uint8_t *bytes, size_t len, const char *name, lps_image *img,
                            lps_error *err);

/* Reads and decodes the file at path (errors name it). */
lps_status lps_image_load(const char *path, lps_image *img, lps_error *err);

/* Frees the pixels and zeroes img. img may be NULL. */
void lps_image_release(lps_image *img);

/* The file list behind an image-folder dataset: sample i is paths[i]. */
struct lps_image_files {
    int64_t n;
    char **paths;
    int64_t height, width;   /* the size every file has, or 0 when sizes differ */
};

/* Frees the list and its paths. f may be NULL. */
void lps_image_files_free(lps_image_files *f);

#endif
