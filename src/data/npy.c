/* NPY reader: "\x93NUMPY", major and minor version bytes, a little-endian
 * header length (2 bytes in version 1, 4 in version 2), then a Python dict
 * literal {'descr': '<f4', 'fortran_order': False, 'shape': (N, ...), }
 * and the payload. */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data/formats.h"

static const unsigned char NPY_MAGIC[] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
#define NPY_PREAMBLE_BYTES 8   /* magic + major + minor */
#define NPY_V1_LEN_BYTES 2
#define NPY_V2_LEN_BYTES 4
/* numpy writes headers of a few hundred bytes; refuse absurd lengths. */
#define NPY_MAX_HEADER_BYTES ((size_t)1 << 16)
#define NPY_MAX_STRING 32

typedef struct npy_dtype {
    const char *descr;
    lps_dtype dtype;
} npy_dtype;

static const npy_dtype NPY_DTYPES[] = {
    {"<f4", LPS_DT_FLOAT}, {"|u1", LPS_DT_UINT8}, {"<u1", LPS_DT_UINT8}, {"<i8", LPS_DT_INT64},
};

typedef struct npy_header {
    char descr[NPY_MAX_STRING];
    bool fortran_order;
    int rank;
    int64_t dims[LPS_MAX_RANK];
    bool seen_descr, seen_order, seen_shape;
} npy_header;

/* Cursor over the NUL-terminated header text. */
typedef struct dict_cursor {
    const char *p;
    const char *name;
    lps_error *err;
} dict_cursor;

static void skip_space(dict_cursor *c)
{
    while (*c->p && isspace((unsigned char)*c->p))
        c->p++;
}

static lps_status bad_header(dict_cursor *c, const char *expected)
{
    char excerpt[LPS_EXCERPT_MAX];
    return lps_fail(c->err, LPS_ERR_INVALID, "%s: bad NPY header: expected %s at '%s'",
                    c->name, expected, lps_excerpt(excerpt, sizeof excerpt, c->p, strlen(c->p)));
}

static lps_status expect_char(dict_cursor *c, char ch, const char *what)
{
    skip_space(c);
    if (*c->p != ch)
        return bad_header(c, what);
    c->p++;
    return LPS_OK;
}

static lps_status parse_string(dict_cursor *c, char *out, size_t size)
{
    skip_space(c);
    char quote = *c->p;
    if (quote != '\'' && quote != '"')
        return bad_header(c, "a quoted string");
    const char *start = ++c->p;
    while (*c->p && *c->p != quote)
        c->p++;
    size_t len = (size_t)(c->p - start);
    if (*c->p != quote || len >= size)
        return bad_header(c, "a short closed string");
    memcpy(out, start, len);
    out[len] = '\0';
    c->p++;
    return LPS_OK;
}

static lps_status parse_bool(dict_cursor *c, bool *out)
{
    skip_space(c);
    if (strncmp(c->p, "True", 4) == 0) {
        *out = true;
        c->p += 4;
    } else if (strncmp(c->p, "False", 5) == 0) {
        *out = false;
        c->p += 5;
    } else {
        return bad_header(c, "True or False");
    }
    return LPS_OK;
}

static lps_status parse_shape(dict_cursor *c, npy_header *h)
{
    lps_status st = expect_char(c, '(', "'(' opening the shape");
    if (st != LPS_OK)
        return st;
    h->rank = 0;
    for (;;) {
        skip_space(c);
        if (*c->p == ')')
            break;
        if (!isdigit((unsigned char)*c->p))
            return bad_header(c, "a dimension");
        if (h->rank == LPS_MAX_RANK)
            return lps_fail(c->err, LPS_ERR_INVALID, "%s: NPY shape has more than %d dims",
                            c->name, LPS_MAX_RANK);
        int64_t dim = 0;
        while (isdigit((unsigned char)*c->p)) {
            dim = dim * 10 + (*c->p - '0');
            if (dim > LPS_MAX_NUMEL)
                return lps_fail(c->err, LPS_ERR_INVALID, "%s: NPY dimension is too large",
                                c->name);
            c->p++;
        }
        h->dims[h->rank++] = dim;
        skip_space(c);
        if (*c->p == ',')
            c->p++;
        else if (*c->p != ')')
            return bad_header(c, "',' or ')' in the shape");
    }
    c->p++;
    return LPS_OK;
}

static lps_status parse_entry(dict_cursor *c, npy_header *h)
{
    char key[NPY_MAX_STRING];
    lps_status st = parse_string(c, key, sizeof key);
    if (st == LPS_OK)
        st = expect_char(c, ':', "':'");
    if (st != LPS_OK)
        return st;
    bool *seen = strcmp(key, "descr") == 0 ? &h->seen_descr
               : strcmp(key, "fortran_order") == 0 ? &h->seen_order
               : strcmp(key, "shape") == 0 ? &h->seen_shape : NULL;
    char excerpt[LPS_EXCERPT_MAX];
    if (!seen)
        return lps_fail(c->err, LPS_ERR_INVALID, "%s: bad NPY header: unknown key '%s'", c->name,
                        lps_excerpt(excerpt, sizeof excerpt, key, strlen(key)));
    if (*seen)
        return lps_fail(c->err, LPS_ERR_INVALID, "%s: bad NPY header: key '%s' repeated",
                        c->name, key);
    *seen = true;
    if (seen == &h->seen_descr)
        return parse_string(c, h->descr, sizeof h->descr);
    if (seen == &h->seen_order)
        return parse_bool(c, &h->fortran_order);
    return parse_shape(c, h);
}

static lps_status parse_dict(const char *text, const char *name, npy_header *h, lps_error *err)
{
    dict_cursor c = {text, name, err};
    memset(h, 0, sizeof *h);
    lps_status st = expect_char(&c, '{', "'{'");
    for (;;) {
        if (st != LPS_OK)
            return st;
        skip_space(&c);
        if (*c.p == '}')
            break;
        st = parse_entry(&c, h);
        if (st != LPS_OK)
            return st;
        skip_space(&c);
        if (*c.p == ',')
            c.p++;
        else if (*c.p != '}')
            st = bad_header(&c, "',' or '}'");
    }
    c.p++;
    skip_space(&c);
    if (*c.p)
        return bad_header(&c, "the end of the header");
    if (!h->seen_descr || !h->seen_order || !h->seen_shape)
        return lps_fail(err, LPS_ERR_INVALID, "%s: bad NPY header: missing '%s'", name,
                        !h->seen_descr ? "descr" : !h->seen_order ? "fortran_order" : "shape");
    return LPS_OK;
}

static lps_status read_header_text(lps_source *src, char **text, lps_error *err)
{
    unsigned char pre[NPY_PREAMBLE_BYTES];
    unsigned char len_bytes[NPY_V2_LEN_BYTES] = {0};
    *text = NULL;
    lps_status st = lps_source_read_exact(src, pre, sizeof pre, "NPY preamble", err);
    if (st != LPS_OK)
        return st;
    if (memcmp(pre, NPY_MAGIC, sizeof NPY_MAGIC) != 0)
        return lps_fail(err, LPS_ERR_INVALID, "%s: not an NPY file (bad magic)", src->name);
    int major = pre[sizeof NPY_MAGIC];
    if (major != 1 && major != 2)
        return lps_fail(err, LPS_ERR_INVALID, "%s: NPY format version %d is not supported "
                        "(1 and 2 are)", src->name, major);
    size_t len_size = major == 1 ? NPY_V1_LEN_BYTES : NPY_V2_LEN_BYTES;
    st = lps_source_read_exact(src, len_bytes, len_size, "NPY header length", err);
    if (st != LPS_OK)
        return st;
    size_t len = 0;
    for (size_t i = len_size; i-- > 0;)
        len = len << 8 | len_bytes[i];
    if (len > NPY_MAX_HEADER_BYTES)
        return lps_fail(err, LPS_ERR_INVALID, "%s: NPY header of %zu bytes is longer than %zu",
                        src->name, len, NPY_MAX_HEADER_BYTES);
    char *buf = malloc(len + 1);
    if (!buf)
        return lps_fail(err, LPS_ERR_NOMEM, "%s: out of memory", src->name);
    st = lps_source_read_exact(src, buf, len, "NPY header", err);
    if (st != LPS_OK) {
        free(buf);
        return st;
    }
    buf[len] = '\0';
    if (strlen(buf) != len) {
        free(buf);
        return lps_fail(err, LPS_ERR_INVALID, "%s: bad NPY header: embedded NUL byte", src->name);
    }
    *text = buf;
    return LPS_OK;
}

lps_status lps_npy_read(lps_source *src, size_t *remaining, lps_tensor *out, lps_error *err)
{
    char *text = NULL;
    npy_header h;
    lps_tensor_release(out);
    lps_status st = read_header_text(src, &text, err);
    if (st != LPS_OK)
        goto cleanup;
    st = parse_dict(text, src->name, &h, err);
    if (st != LPS_OK)
        goto cleanup;
    if (h.fortran_order) {
        st = lps_fail(err, LPS_ERR_INVALID, "%s: Fortran-order NPY arrays are not supported "
                      "(save with C order)", src->name);
        goto cleanup;
    }
    lps_dtype dtype = LPS_DT_UNDEFINED;
    for (size_t i = 0; i < sizeof NPY_DTYPES / sizeof NPY_DTYPES[0]; i++)
        if (strcmp(h.descr, NPY_DTYPES[i].descr) == 0)
            dtype = NPY_DTYPES[i].dtype;
    if (dtype == LPS_DT_UNDEFINED) {
        char excerpt[LPS_EXCERPT_MAX];
        st = lps_fail(err, LPS_ERR_INVALID, "%s: NPY dtype '%s' is not supported "
                      "('<f4', '|u1' and '<i8' are)", src->name,
                      lps_excerpt(excerpt, sizeof excerpt, h.descr, strlen(h.descr)));
        goto cleanup;
    }
    st = lps_data_alloc(out, src->name, dtype, h.rank, h.dims, remaining, err);
    if (st != LPS_OK)
        goto cleanup;
    if (out->nbytes) {
        st = lps_source_read_exact(src, out->data, out->nbytes, "NPY payload", err);
        if (st != LPS_OK)
            goto cleanup;
    }
    st = lps_source_expect_end(src, err);
    if (st != LPS_OK)
        goto cleanup;
    lps_bytes_to_host(out->data, out->nbytes / lps_dtype_size(dtype), lps_dtype_size(dtype),
                      false);
cleanup:
    free(text);
    if (st != LPS_OK)
        lps_tensor_release(out);
    return st;
}
