/* Image folders: decoding (PNG/JPEG written here with libpng/libjpeg),
 * input adaptation, the folder index and its bad inputs, the validation
 * split and seeded augmentation. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jpeglib.h>
#include <omp.h>
#include <png.h>

#include "data/adapt.h"
#include "data/image.h"
#include "test_fs.h"
#include "test_suite.h"

#define SIDE 8
#define JPEG_QUALITY 95
/* JPEG is lossy: a flat grey image comes back within a few levels. */
#define JPEG_TOLERANCE 4

/* A PNG of w x h pixels in format (PNG_FORMAT_GRAY, _RGB, _RGBA, ...) with
 * value v everywhere; *len gets its size. */
static uint8_t *png_bytes(int w, int h, png_uint_32 format, uint8_t v, size_t *len)
{
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = (png_uint_32)w;
    img.height = (png_uint_32)h;
    img.format = format;
    size_t n = PNG_IMAGE_SIZE(img);
    uint8_t *pixels = malloc(n);
    memset(pixels, v, n);
    ck_assert(png_image_write_get_memory_size(img, *len, 0, pixels, 0, NULL));
    uint8_t *out = malloc(*len);
    ck_assert(png_image_write_to_memory(&img, out, len, 0, pixels, 0, NULL));
    free(pixels);
    return out;
}

/* A baseline or progressive JPEG, grey or RGB, flat value v. */
static uint8_t *jpeg_bytes(int w, int h, int channels, bool progressive, uint8_t v, size_t *len)
{
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    unsigned char *out = NULL;
    unsigned long size = 0;
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, &out, &size);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = channels;
    c.in_color_space = channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, JPEG_QUALITY, TRUE);
    if (progressive)
        jpeg_simple_progression(&c);
    jpeg_start_compress(&c, TRUE);
    uint8_t *row = malloc((size_t)w * (size_t)channels);
    memset(row, v, (size_t)w * (size_t)channels);
    while (c.next_scanline < c.image_height) {
        JSAMPROW r[1] = {row};
        jpeg_write_scanlines(&c, r, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    free(row);
    *len = size;
    return out;
}

static void write_bytes(const char *path, const uint8_t *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(b, 1, n, f), n);
    fclose(f);
}

START_TEST(decodes_every_png_and_jpeg_kind)
{
    static const struct {
        png_uint_32 format;
        int channels;
    } pngs[] = {
        {PNG_FORMAT_GRAY, 1}, {PNG_FORMAT_GA, 1}, {PNG_FORMAT_RGB, 3}, {PNG_FORMAT_RGBA, 3},
        {PNG_FORMAT_LINEAR_Y, 1}, {PNG_FORMAT_LINEAR_RGB_ALPHA, 3},
    };
    for (size_t i = 0; i < sizeof pngs / sizeof pngs[0]; i++) {
        size_t len = 0;
        uint8_t *b = png_bytes(SIDE, SIDE + 1, pngs[i].format, 200, &len);
        lps_image img;
        lps_error err;
        ck_assert_int_eq(lps_image_decode(b, len, "x.png", &img, &err), LPS_OK);
        ck_assert_int_eq(img.width, SIDE);
        ck_assert_int_eq(img.height, SIDE + 1);
        ck_assert_int_eq(img.channels, pngs[i].channels);
        lps_image_release(&img);
        free(b);
    }
    for (int channels = 1; channels <= 3; channels += 2)
        for (int progressive = 0; progressive < 2; progressive++) {
            size_t len = 0;
            uint8_t *b = jpeg_bytes(SIDE, SIDE, channels, progressive, 100, &len);
            lps_image img;
            lps_error err;
            ck_assert_int_eq(lps_image_decode(b, len, "x.jpg", &img, &err), LPS_OK);
            ck_assert_int_eq(img.channels, channels);
            ck_assert_int_le(abs(img.pixels[0] - 100), JPEG_TOLERANCE);
            lps_image_release(&img);
            free(b);
        }
}
END_TEST

START_TEST(bad_images_are_one_line_errors)
{
    size_t len = 0;
    uint8_t *png = png_bytes(SIDE, SIDE, PNG_FORMAT_RGB, 7, &len);
    size_t jlen = 0;
    uint8_t *jpg = jpeg_bytes(SIDE * 4, SIDE * 4, 3, false, 9, &jlen);
    lps_image img;
    lps_error err;
    ck_assert_int_eq(lps_image_decode(png, len / 2, "half.png", &img, &err), LPS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "half.png: "));
    ck_assert_ptr_null(strchr(err.msg, '\n'));
    ck_assert_int_eq(lps_image_decode(jpg, jlen / 2, "half.jpg", &img, &err), LPS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "half.jpg: corrupt JPEG"));
    ck_assert_int_eq(lps_image_decode(png, 0, "empty.png", &img, &err), LPS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "empty file"));
    ck_assert_int_eq(lps_image_decode((const uint8_t *)"hello", 5, "a.txt", &img, &err),
                     LPS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "neither PNG nor JPEG"));
    ck_assert_ptr_null(img.pixels);
    free(png);
    free(jpg);
}
END_TEST

static lps_adapt_view grey_view(const uint8_t *px, int64_t h, int64_t w)
{
    return (lps_adapt_view){.height = h, .width = w, .channels = 1, .channels_last = true,
                            .bytes = px};
}

START_TEST(adaptation_keeps_same_size_and_converts_channels)
{
    uint8_t px[SIDE * SIDE];
    for (int i = 0; i < SIDE * SIDE; i++)
        px[i] = (uint8_t)(i * 3);
    lps_adapt_view v = grey_view(px, SIDE, SIDE);
    lps_adapt_target_shape t = {.height = SIDE, .width = SIDE, .channels = 3};
    lps_adapt_opts o = {0};
    lps_adapt_box box;
    float out[3 * SIDE * SIDE];
    lps_error err;
    lps_adapt_region(&v, &t, &o, true, 0, &box);
    ck_assert_int_eq(lps_adapt_apply(&v, &t, &box, out, &err), LPS_OK);
    /* Same size: exact copy into each of the three channels. */
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < SIDE * SIDE; i++)
            ck_assert_float_eq_tol(out[c * SIDE * SIDE + i], px[i], 1e-4);
    /* NHWC output holds the same values channel-last. */
    t.channels_last = true;
    ck_assert_int_eq(lps_adapt_apply(&v, &t, &box, out, &err), LPS_OK);
    ck_assert_float_eq_tol(out[3 * 5 + 2], px[5], 1e-4);
}
END_TEST

START_TEST(resize_of_flat_image_stays_flat_and_flip_mirrors)
{
    uint8_t flat[4 * SIDE * 4 * SIDE];
    memset(flat, 77, sizeof flat);
    lps_adapt_view v = grey_view(flat, 4 * SIDE, 4 * SIDE);
    lps_adapt_target_shape t = {.height = SIDE, .width = SIDE, .channels = 1};
    lps_adapt_opts o = {0};
    lps_adapt_box box;
    float out[SIDE * SIDE];
    lps_error err;
    lps_adapt_region(&v, &t, &o, false, 0, &box);
    ck_assert_int_eq(lps_adapt_apply(&v, &t, &box, out, &err), LPS_OK);
    for (int i = 0; i < SIDE * SIDE; i++)
        ck_assert_float_eq_tol(out[i], 77, 1e-3);
    /* A ramp mirrored by the flip. */
    uint8_t ramp[SIDE * SIDE];
    for (int y = 0; y < SIDE; y++)
        for (int x = 0; x < SIDE; x++)
            ramp[y * SIDE + x] = (uint8_t)(x * 10);
    v = grey_view(ramp, SIDE, SIDE);
    box = (lps_adapt_box){0, 0, SIDE, SIDE, true};
    ck_assert_int_eq(lps_adapt_apply(&v, &t, &box, out, &err), LPS_OK);
    ck_assert_float_eq_tol(out[0], (SIDE - 1) * 10, 1e-3);
    ck_assert_float_eq_tol(out[SIDE - 1], 0, 1e-3);
}
END_TEST

START_TEST(augmentation_depends_on_seed_epoch_and_index_only)
{
    uint8_t px[SIDE * SIDE] = {0};
    lps_adapt_view v = grey_view(px, SIDE, SIDE);
    lps_adapt_target_shape t = {.height = SIDE, .width = SIDE, .channels = 1};
    lps_adapt_opts o = {.augment = LPS_AUGMENT_STANDARD};
    lps_adapt_box a, b, c;
    lps_adapt_region(&v, &t, &o, true, lps_adapt_sample_seed(5, 2, 17), &a);
    lps_adapt_region(&v, &t, &o, true, lps_adapt_sample_seed(5, 2, 17), &b);
    /* Field by field: the struct has padding bytes. */
    ck_assert(a.x == b.x && a.y == b.y && a.w == b.w && a.h == b.h && a.flip == b.flip);
    int differ = 0;
    for (int64_t i = 0; i < 32; i++) {
        lps_adapt_region(&v, &t, &o, true, lps_adapt_sample_seed(5, 3, i), &c);
        differ += c.x != a.x || c.y != a.y || c.flip != a.flip;
    }
    ck_assert_int_gt(differ, 16);
}
END_TEST

/* Makes root/split/<class>/<n>.png for classes "a" and "b". */
static void make_split(const char *root, const char *split, int per_class)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", root, split);
    mkdir(path, 0755);
    const char *classes[] = {"b", "a"};
    for (int c = 0; c < 2; c++) {
        snprintf(path, sizeof path, "%s/%s/%s", root, split, classes[c]);
        mkdir(path, 0755);
        for (int i = 0; i < per_class; i++) {
            size_t len = 0;
            uint8_t *b = png_bytes(SIDE, SIDE, PNG_FORMAT_GRAY, (uint8_t)(c * 100 + i), &len);
            snprintf(path, sizeof path, "%s/%s/%s/%d.png", root, split, classes[c], i);
            write_bytes(path, b, len);
            free(b);
        }
    }
}

START_TEST(folder_index_sorts_classes_and_splits_validation)
{
    char *root = test_tmpdir_new();
    make_split(root, "train", 10);
    char dir[512];
    snprintf(dir, sizeof dir, "%s/train", root);
    lps_dataset ds, val;
    lps_error err;
    ck_assert_int_eq(lps_dataset_open_image_folder(&ds, dir, NULL, &err), LPS_OK);
    ck_assert_int_eq(lps_dataset_size(&ds), 20);
    ck_assert_int_eq(ds.n_classes, 2);
    ck_assert_str_eq(ds.class_names[0], "a");
    ck_assert_int_eq(ds.labels[0], 0);
    ck_assert_int_eq(ds.labels[19], 1);
    ck_assert_int_eq(ds.files->height, SIDE);
    ck_assert_int_eq(lps_dataset_split_validation(&ds, 0.25, 3, &val, &err), LPS_OK);
    ck_assert_int_eq(lps_dataset_size(&val), 5);
    ck_assert_int_eq(lps_dataset_size(&ds), 15);
    ck_assert_str_eq(val.class_names[1], "b");
    lps_dataset_release(&val);
    lps_dataset_release(&ds);
    test_tmpdir_free(root);
}
END_TEST

START_TEST(folder_bad_inputs_name_the_file)
{
    char *root = test_tmpdir_new();
    make_split(root, "train", 2);
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s/train", root);
    lps_dataset ds;
    lps_error err;
    /* A truncated image fails the load, or is skipped and listed. */
    snprintf(path, sizeof path, "%s/a/bad.png", dir);
    write_bytes(path, (const uint8_t *)"\x89PNG\r\n\x1a\n\0\0", 10);
    ck_assert_int_eq(lps_dataset_open_image_folder(&ds, dir, NULL, &err), LPS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "a/bad.png: "));
    lps_data_options skip = {.skip_bad = true};
    ck_assert_int_eq(lps_dataset_open_image_folder(&ds, dir, &skip, &err), LPS_OK);
    ck_assert_int_eq(ds.n_skipped, 1);
    ck_assert_int_eq(lps_dataset_size(&ds), 4);
    lps_dataset_release(&ds);
    unlink(path);
    /* A non-image file, an empty class, a file beside the classes, a loop. */
    snprintf(path, sizeof path, "%s/a/notes.txt", dir);
    write_bytes(path, (const uint8_t *)"x", 1);
    ck_assert_int_eq(lps_dataset_open_image_folder(&ds, dir, NULL, &err), LPS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "notes.txt: not an image file"));
    unlink(path);
    snprintf(path, sizeof path, "%s/c", dir);
    mkdir(path, 0755);
    ck_assert_int_eq(lps_dataset_open_image_folder(&ds, dir, NULL, &err), LPS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "/c: empty class folder"));
    rmdir(path);
    snprintf(path, sizeof path, "%s/a/loop", dir);
    ck_assert_int_eq(symlink("..", path), 0);
    ck_assert_int_eq(lps_dataset_open_image_folder(&ds, dir, NULL, &err), LPS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "symlink loop"));
    unlink(path);
    snprintf(path, sizeof path, "%s/stray.png", dir);
    write_bytes(path, (const uint8_t *)"x", 1);
    ck_assert_int_eq(lps_dataset_open_image_folder(&ds, dir, NULL, &err), LPS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "stray.png: not a class folder"));
    test_tmpdir_free(root);
}
END_TEST

/* One augmented batch of an in-memory grey dataset, with threads workers. */
static void augmented_batch(int threads, float *out, int64_t batch)
{
    lps_tensor samples = {0};
    lps_error err;
    int64_t dims[] = {batch, SIDE, SIDE};
    ck_assert_int_eq(lps_tensor_alloc(&samples, LPS_DT_UINT8, 3, dims, &err), LPS_OK);
    for (int64_t i = 0; i < batch * SIDE * SIDE; i++)
        ((uint8_t *)samples.data)[i] = (uint8_t)(i * 7);
    lps_dataset ds;
    ck_assert_int_eq(lps_dataset_from_tensors(&ds, "mem", &samples, NULL, NULL, &err), LPS_OK);
    ds.adapt.augment = LPS_AUGMENT_STANDARD;
    lps_batch_iter it;
    ck_assert_int_eq(lps_batch_iter_init(&it, &ds, batch, true, 11, &err), LPS_OK);
    lps_batch_iter_start_epoch(&it, 2);
    lps_tensor x = {0};
    int64_t xdims[] = {batch, 3, SIDE + 4, SIDE + 4};
    ck_assert_int_eq(lps_tensor_alloc(&x, LPS_DT_FLOAT, 4, xdims, &err), LPS_OK);
    int64_t count = 0;
    omp_set_num_threads(threads);
    ck_assert_int_eq(lps_batch_next(&it, NULL, &x, NULL, &count, &err), LPS_OK);
    ck_assert_int_eq(count, batch);
    memcpy(out, x.data, x.nbytes);
    lps_tensor_release(&x);
    lps_batch_iter_release(&it);
    lps_dataset_release(&ds);
}

START_TEST(augmented_batches_do_not_depend_on_threads)
{
    enum { BATCH = 16, VALUES = BATCH * 3 * (SIDE + 4) * (SIDE + 4) };
    float *one = malloc(VALUES * sizeof *one), *two = malloc(VALUES * sizeof *two);
    augmented_batch(1, one, BATCH);
    augmented_batch(2, two, BATCH);
    ck_assert(memcmp(one, two, VALUES * sizeof *one) == 0);
    free(one);
    free(two);
}
END_TEST

int main(void)
{
    const test_entry tests[] = {
        {"image", decodes_every_png_and_jpeg_kind, 1},
        {"image", bad_images_are_one_line_errors, 1},
        {"image", adaptation_keeps_same_size_and_converts_channels, 1},
        {"image", resize_of_flat_image_stays_flat_and_flip_mirrors, 1},
        {"image", augmentation_depends_on_seed_epoch_and_index_only, 1},
        {"image", folder_index_sorts_classes_and_splits_validation, 1},
        {"image", folder_bad_inputs_name_the_file, 1},
        {"image", augmented_batches_do_not_depend_on_threads, 1},
    };
    return test_run_table("data_image", tests, TEST_COUNT(tests), TEST_DEFAULT_TIMEOUT);
}
