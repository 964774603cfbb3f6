/* The checkpoint stream (core/ckpt_stream.h): records round-trip, and a
 * truncated, damaged or mismatched file is refused with a message naming
 * it; component transfers (LpSGD state) round-trip through a file. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/ckpt_stream.h"
#include "sparsity/lpsgd.h"
#include "test_fs.h"
#include "test_suite.h"

#define N_VALUES 5

typedef struct sample_state {
    float f[N_VALUES];
    double d[N_VALUES];
    int64_t i;
    uint64_t u;
    double x;
    int k;
    bool flag;
    char *text;
} sample_state;

static lps_status transfer(lps_ckpt *c, sample_state *s, lps_error *err)
{
    lps_status st = lps_ckpt_floats(c, "f", s->f, N_VALUES, err);
    if (st == LPS_OK)
        st = lps_ckpt_doubles(c, "d", s->d, N_VALUES, err);
    if (st == LPS_OK)
        st = lps_ckpt_i64(c, "i", &s->i, err);
    if (st == LPS_OK)
        st = lps_ckpt_u64(c, "u", &s->u, err);
    if (st == LPS_OK)
        st = lps_ckpt_f64(c, "x", &s->x, err);
    if (st == LPS_OK)
        st = lps_ckpt_int(c, "k", &s->k, err);
    if (st == LPS_OK)
        st = lps_ckpt_bool(c, "flag", &s->flag, err);
    if (st == LPS_OK)
        st = lps_ckpt_string(c, "text", &s->text, err);
    return st;
}

static sample_state sample(void)
{
    sample_state s = {{1.5f, -2.0f, 0.0f, 3.25f, 1e-30f}, {0.1, 0.2, -0.3, 1e300, -0.0},
                      -42, 0xFEEDFACECAFEBEEFULL, 3.5, -7, true, strdup("--target 0.9")};
    return s;
}

static void write_sample(const char *path)
{
    lps_error err = {0};
    sample_state s = sample();
    lps_ckpt *c = lps_ckpt_create(path, &err);
    ck_assert_msg(c != NULL, "%s", err.msg);
    ck_assert_msg(transfer(c, &s, &err) == LPS_OK, "%s", err.msg);
    ck_assert_msg(lps_ckpt_commit(c, &err) == LPS_OK, "%s", err.msg);
    free(s.text);
}

START_TEST(records_round_trip)
{
    char *dir = test_tmpdir_new(), *path = test_path(dir, "c.lpsck");
    lps_error err = {0};
    write_sample(path);
    ck_assert_int_eq(test_dir_entries(dir), 1);   /* no temporary file left */
    sample_state want = sample(), got = {0};
    lps_ckpt *c = lps_ckpt_open(path, &err);
    ck_assert_msg(c != NULL, "%s", err.msg);
    ck_assert(lps_ckpt_reading(c));
    ck_assert_msg(transfer(c, &got, &err) == LPS_OK, "%s", err.msg);
    ck_assert_int_eq(lps_ckpt_finish_read(c, &err), LPS_OK);
    ck_assert_int_eq(memcmp(got.f, want.f, sizeof got.f), 0);
    ck_assert_int_eq(memcmp(got.d, want.d, sizeof got.d), 0);
    ck_assert(got.i == want.i && got.u == want.u && got.x == want.x && got.k == want.k);
    ck_assert(got.flag);
    ck_assert_str_eq(got.text, want.text);
    free(got.text);
    free(want.text);
    lps_ckpt_free(c);
    free(path);
    test_tmpdir_free(dir);
}
END_TEST

/* Opening path must fail with LPS_ERR_INVALID and a message holding want. */
static void expect_refused(const char *path, const char *want)
{
    lps_error err = {0};
    lps_ckpt *c = lps_ckpt_open(path, &err);
    ck_assert_ptr_null(c);
    ck_assert_int_eq(err.status, LPS_ERR_INVALID);
    ck_assert_msg(strstr(err.msg, path) && strstr(err.msg, want), "%s", err.msg);
}

START_TEST(truncated_and_damaged_files_are_refused)
{
    char *dir = test_tmpdir_new(), *path = test_path(dir, "c.lpsck");
    size_t len;
    write_sample(path);
    uint8_t *bytes = test_read_file(path, &len);
    /* every truncation, down to an empty file */
    for (size_t cut = 0; cut < len; cut += 7) {
        FILE *f = fopen(path, "wb");
        ck_assert(fwrite(bytes, 1, cut, f) == cut);
        fclose(f);
        expect_refused(path, cut < 16 ? "not an lpsparsify checkpoint" : "truncated");
    }
    /* one flipped bit anywhere in the records */
    for (size_t at = 16; at + 20 < len; at += 11) {
        bytes[at] ^= 0x10;
        FILE *f = fopen(path, "wb");
        ck_assert(fwrite(bytes, 1, len, f) == len);
        fclose(f);
        expect_refused(path, "CRC mismatch");
        bytes[at] ^= 0x10;
    }
    free(bytes);
    free(path);
    test_tmpdir_free(dir);
}
END_TEST

START_TEST(unexpected_records_are_refused)
{
    char *dir = test_tmpdir_new(), *path = test_path(dir, "c.lpsck");
    lps_error err = {0};
    float wrong_size[N_VALUES + 1];
    double d[N_VALUES];
    write_sample(path);
    lps_ckpt *c = lps_ckpt_open(path, &err);
    ck_assert_int_eq(lps_ckpt_doubles(c, "f", d, N_VALUES, &err), LPS_ERR_INVALID);
    ck_assert_msg(strstr(err.msg, "holds 20 bytes, 40 expected"), "%s", err.msg);
    /* a failed stream stays failed */
    ck_assert_int_eq(lps_ckpt_floats(c, "f", wrong_size, N_VALUES, &err), LPS_ERR_INVALID);
    lps_ckpt_free(c);
    c = lps_ckpt_open(path, &err);
    ck_assert_int_eq(lps_ckpt_floats(c, "g", wrong_size, N_VALUES, &err), LPS_ERR_INVALID);
    ck_assert_msg(strstr(err.msg, "record 'f' where 'g' belongs"), "%s", err.msg);
    lps_ckpt_free(c);
    c = lps_ckpt_open(path, &err);
    ck_assert_int_eq(lps_ckpt_floats(c, "f", wrong_size, N_VALUES, &err), LPS_OK);
    ck_assert_int_eq(lps_ckpt_finish_read(c, &err), LPS_ERR_INVALID);
    ck_assert_msg(strstr(err.msg, "records left over"), "%s", err.msg);
    lps_ckpt_free(c);
    free(path);
    test_tmpdir_free(dir);
}
END_TEST

START_TEST(an_abandoned_write_leaves_nothing)
{
    char *dir = test_tmpdir_new(), *path = test_path(dir, "c.lpsck");
    lps_error err = {0};
    float x[N_VALUES] = {0};
    write_sample(path);
    size_t before_len, after_len;
    uint8_t *before = test_read_file(path, &before_len);
    lps_ckpt *c = lps_ckpt_create(path, &err);
    ck_assert_int_eq(lps_ckpt_floats(c, "f", x, N_VALUES, &err), LPS_OK);
    ck_assert_int_eq(test_dir_entries(dir), 2);    /* the temporary file */
    lps_ckpt_free(c);                               /* not committed */
    ck_assert_int_eq(test_dir_entries(dir), 1);
    uint8_t *after = test_read_file(path, &after_len);
    ck_assert(before_len == after_len && memcmp(before, after, before_len) == 0);
    free(before);
    free(after);
    free(path);
    test_tmpdir_free(dir);
}
END_TEST

START_TEST(lpsgd_state_round_trips)
{
    static const float w[2][6] = {{0.5f, -1.0f, 0.25f, 2.0f, 0.0f, -0.75f},
                                  {1.0f, 1.0f, -3.0f, 0.5f, 0.125f, 4.0f}};
    lps_row_layout layout = {.n_rows = 2, .row_len = 3, .row_stride = 3, .elem_stride = 1};
    lps_lpsgd_state a = {0}, b = {0};
    lps_error err = {0};
    char *dir = test_tmpdir_new(), *path = test_path(dir, "l.lpsck");
    ck_assert_int_eq(lps_lpsgd_init(&a, w[0], layout, 6, 1.3, &err), LPS_OK);
    ck_assert_int_eq(lps_lpsgd_init(&b, w[1], layout, 6, 1.3, &err), LPS_OK);
    a.mask[4] = 0;
    a.momentum[1] = 0.5f;
    a.gain_momentum[1] = -0.25f;
    lps_ckpt *c = lps_ckpt_create(path, &err);
    ck_assert_int_eq(lps_lpsgd_transfer(&a, c, &err), LPS_OK);
    ck_assert_int_eq(lps_ckpt_commit(c, &err), LPS_OK);
    c = lps_ckpt_open(path, &err);
    ck_assert_msg(lps_lpsgd_transfer(&b, c, &err) == LPS_OK, "%s", err.msg);
    ck_assert_int_eq(lps_ckpt_finish_read(c, &err), LPS_OK);
    lps_ckpt_free(c);
    ck_assert_int_eq(memcmp(a.gain, b.gain, 2 * sizeof(float)), 0);
    ck_assert_int_eq(memcmp(a.gain_momentum, b.gain_momentum, 2 * sizeof(float)), 0);
    ck_assert_int_eq(memcmp(a.u, b.u, 6 * sizeof(float)), 0);
    ck_assert_int_eq(memcmp(a.v, b.v, 6 * sizeof(float)), 0);
    ck_assert_int_eq(memcmp(a.momentum, b.momentum, 6 * sizeof(float)), 0);
    ck_assert_int_eq(memcmp(a.mask, b.mask, 6), 0);
    lps_lpsgd_free(&a);
    lps_lpsgd_free(&b);
    free(path);
    test_tmpdir_free(dir);
}
END_TEST

int main(void)
{
    const test_entry tests[] = {
        {"core", records_round_trip, 1},
        {"core", truncated_and_damaged_files_are_refused, 1},
        {"core", unexpected_records_are_refused, 1},
        {"core", an_abandoned_write_leaves_nothing, 1},
        {"core", lpsgd_state_round_trips, 1},
    };
    return test_run_table("ckpt_stream", tests, TEST_COUNT(tests), TEST_DEFAULT_TIMEOUT);
}
