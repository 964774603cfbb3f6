/* PNG and JPEG decoding into lps_image (image.h). */
#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jpeglib.h>
#include <png.h>

#include "data/image.h"

static const uint8_t PNG_SIGNATURE[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
static const uint8_t JPEG_SIGNATURE[] = {0xFF, 0xD8, 0xFF};
#define GREY 1
#define RGB 3
#define CMYK 4
#define MAX_SAMPLE 255u
/* Image files larger than this are not read (decoded size is bounded by
 * LPS_IMAGE_MAX_PIXELS anyway). */
#define MAX_FILE_BYTES ((size_t)1 << 30)

static lps_status too_large(const char *name, int64_t w, int64_t h, lps_error *err)
{
    return lps_fail(err, LPS_ERR_INVALID, "%s: %lldx%lld pixels is more than the %lld allowed",
                    name, (long long)w, (long long)h, (long long)LPS_IMAGE_MAX_PIXELS);
}

static lps_status alloc_pixels(lps_image *img, int w, int h, int c, const char *name,
                               lps_error *err)
{
    if (w <= 0 || h <= 0)
        return lps_fail(err, LPS_ERR_INVALID, "%s: image has no pixels (%dx%d)", name, w, h);
    if ((int64_t)w * h > LPS_IMAGE_MAX_PIXELS)
        return too_large(name, w, h, err);
    img->pixels = malloc((size_t)w * (size_t)h * (size_t)c);
    if (!img->pixels)
        return lps_fail(err, LPS_ERR_NOMEM, "%s: out of memory for %dx%d pixels", name, w, h);
    img->width = w;
    img->height = h;
    img->channels = c;
    return LPS_OK;
}

/* ---- PNG: libpng's simplified API reports errors in image.message and
 * keeps its setjmp inside libpng. */
static lps_status decode_png(const uint8_t *bytes, size_t len, const char *name, lps_image *img,
                             lps_error *err)
{
    png_image png;
    memset(&png, 0, sizeof png);
    png.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&png, bytes, len))
        return lps_fail(err, LPS_ERR_INVALID, "%s: not a readable PNG: %s", name, png.message);
    bool color = (png.format & PNG_FORMAT_FLAG_COLOR) != 0;
    /* Read with alpha kept, then drop it: alpha is not composited. */
    png.format = color ? PNG_FORMAT_RGBA : PNG_FORMAT_GA;
    int in_channels = color ? 4 : 2;
    lps_status st = LPS_OK;
    uint8_t *raw = NULL;
    if ((int64_t)png.width * png.height > LPS_IMAGE_MAX_PIXELS) {
        st = too_large(name, png.width, png.height, err);
        goto cleanup;
    }
    raw = malloc(PNG_IMAGE_SIZE(png));
    if (!raw) {
        st = lps_fail(err, LPS_ERR_NOMEM, "%s: out of memory", name);
        goto cleanup;
    }
    if (!png_image_finish_read(&png, NULL, raw, 0, NULL)) {
        st = lps_fail(err, LPS_ERR_INVALID, "%s: corrupt PNG: %s", name, png.message);
        goto cleanup;
    }
    st = alloc_pixels(img, (int)png.width, (int)png.height, color ? RGB : GREY, name, err);
    if (st != LPS_OK)
        goto cleanup;
    size_t n = (size_t)png.width * png.height;
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < img->channels; c++)
            img->pixels[i * (size_t)img->channels + (size_t)c] = raw[i * (size_t)in_channels + (size_t)c];
cleanup:
    png_image_free(&png);
    free(raw);
    return st;
}

/* ---- JPEG: libjpeg's error_exit longjmps back into decode_jpeg, never
 * further. */
typedef struct jpeg_guard {
    struct jpeg_error_mgr mgr;
    jmp_buf escape;
    char message[JMSG_LENGTH_MAX];
} jpeg_guard;

static void jpeg_error_exit(j_common_ptr cinfo)
{
    jpeg_guard *g = (jpeg_guard *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, g->message);
    longjmp(g->escape, 1);
}

/* Warnings (a corrupt but decodable stream) are treated as errors: a
 * truncated JPEG otherwise decodes to grey padding without complaint. */
static void jpeg_emit_message(j_common_ptr cinfo, int level)
{
    if (level < 0)
        jpeg_error_exit(cinfo);
}

/* CMYK as libjpeg returns it (Adobe files store it inverted) into RGB. */
static void cmyk_row_to_rgb(const uint8_t *cmyk, uint8_t *rgb, int width, bool inverted)
{
    for (int x = 0; x < width; x++, cmyk += CMYK, rgb += RGB) {
        unsigned k = inverted ? cmyk[3] : MAX_SAMPLE - cmyk[3];
        for (int c = 0; c < RGB; c++) {
            unsigned v = inverted ? cmyk[c] : MAX_SAMPLE - cmyk[c];
            rgb[c] = (uint8_t)((v * k + MAX_SAMPLE / 2) / MAX_SAMPLE);
        }
    }
}

static lps_status decode_jpeg(const uint8_t *bytes, size_t len, const char *name, lps_image *img,
                              lps_error *err)
{
    struct jpeg_decompress_struct cinfo;
    jpeg_guard guard;
    /* Written between setjmp and longjmp, read after: volatile. */
    uint8_t *volatile row = NULL;
    lps_status volatile st = LPS_OK;
    cinfo.err = jpeg_std_error(&guard.mgr);
    guard.mgr.error_exit = jpeg_error_exit;
    guard.mgr.emit_message = jpeg_emit_message;
    if (setjmp(guard.escape)) {
        st = lps_fail(err, LPS_ERR_INVALID, "%s: corrupt JPEG: %s", name, guard.message);
        goto cleanup;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, bytes, (unsigned long)len);
    jpeg_read_header(&cinfo, TRUE);
    bool cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
    cinfo.out_color_space = cmyk ? JCS_CMYK
                          : cinfo.jpeg_color_space == JCS_GRAYSCALE ? JCS_GRAYSCALE : JCS_RGB;
    if ((int64_t)cinfo.image_width * cinfo.image_height > LPS_IMAGE_MAX_PIXELS) {
        st = too_large(name, cinfo.image_width, cinfo.image_height, err);
        goto cleanup;
    }
    jpeg_start_decompress(&cinfo);
    st = alloc_pixels(img, (int)cinfo.output_width, (int)cinfo.output_height,
                      cinfo.out_color_space == JCS_GRAYSCALE ? GREY : RGB, name, err);
    if (st != LPS_OK)
        goto cleanup;
    row = malloc((size_t)cinfo.output_width * (size_t)cinfo.output_components);
    if (!row) {
        st = lps_fail(err, LPS_ERR_NOMEM, "%s: out of memory", name);
        goto cleanup;
    }
    size_t stride = (size_t)img->width * (size_t)img->channels;
    while (cinfo.output_scanline < cinfo.output_height) {
        uint8_t *dst = img->pixels + cinfo.output_scanline * stride;
        JSAMPROW rows[1] = {cmyk ? row : dst};
        jpeg_read_scanlines(&cinfo, rows, 1);
        if (cmyk)
            cmyk_row_to_rgb(row, dst, img->width, cinfo.saw_Adobe_marker);
    }
    jpeg_finish_decompress(&cinfo);
cleanup:
    jpeg_destroy_decompress(&cinfo);
    free(row);
    if (st != LPS_OK)
        lps_image_release(img);
    return st;
}

lps_status lps_image_decode(const uint8_t *bytes, size_t len, const char *name, lps_image *img,
                            lps_error *err)
{
    memset(img, 0, sizeof *img);
    lps_status st;
    if (len >= sizeof PNG_SIGNATURE && memcmp(bytes, PNG_SIGNATURE, sizeof PNG_SIGNATURE) == 0)
        st = decode_png(bytes, len, name, img, err);
    else if (len >= sizeof JPEG_SIGNATURE &&
             memcmp(bytes, JPEG_SIGNATURE, sizeof JPEG_SIGNATURE) == 0)
        st = decode_jpeg(bytes, len, name, img, err);
    else
        st = lps_fail(err, LPS_ERR_INVALID, "%s: not an image (%s)", name,
                      len == 0 ? "empty file" : "neither PNG nor JPEG");
    if (st != LPS_OK)
        lps_image_release(img);
    return st;
}

lps_status lps_image_load(const char *path, lps_image *img, lps_error *err)
{
    memset(img, 0, sizeof *img);
    FILE *f = fopen(path, "rb");
    if (!f)
        return lps_fail(err, LPS_ERR_INVALID, "%s: %s", path, strerror(errno));
    struct stat st;
    uint8_t *bytes = NULL;
    lps_status status = LPS_OK;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        status = lps_fail(err, LPS_ERR_INVALID, "%s: not a regular file", path);
        goto cleanup;
    }
    if ((size_t)st.st_size > MAX_FILE_BYTES) {
        status = lps_fail(err, LPS_ERR_INVALID, "%s: %lld bytes is too large for an image", path,
                          (long long)st.st_size);
        goto cleanup;
    }
    bytes = malloc((size_t)st.st_size + 1);
    if (!bytes) {
        status = lps_fail(err, LPS_ERR_NOMEM, "%s: out of memory", path);
        goto cleanup;
    }
    size_t got = fread(bytes, 1, (size_t)st.st_size, f);
    if (ferror(f)) {
        status = lps_fail(err, LPS_ERR_IO, "%s: read failed", path);
        goto cleanup;
    }
    status = lps_image_decode(bytes, got, path, img, err);
cleanup:
    free(bytes);
    fclose(f);
    return status;
}

void lps_image_release(lps_image *img)
{
    if (!img)
        return;
    free(img->pixels);
    memset(img, 0, sizeof *img);
}
