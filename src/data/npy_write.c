/* Writing NPY files (format 1.0) for `lpsparsify run`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/atomic_file.h"
#include "data/formats.h"
#include "lpsparsify/data.h"
#include "lpsparsify/model.h"

/* NPY headers are padded so the data starts on a 64-byte boundary. */
#define NPY_ALIGN 64
#define NPY_PREAMBLE 10
#define NPY_HEADER_MAX 1024

static const char *npy_descr(lps_dtype dtype)
{
    switch (dtype) {
    case LPS_DT_FLOAT: return "<f4";
    case LPS_DT_INT64: return "<i8";
    case LPS_DT_UINT8: return "|u1";
    case LPS_DT_BOOL: return "|b1";
    case LPS_DT_INT32: return "<i4";
    case LPS_DT_DOUBLE: return "<f8";
    default: return NULL;
    }
}

lps_status lps_npy_write(const char *path, const lps_tensor *t, lps_error *err)
{
    const char *descr = npy_descr(t->dtype);
    char dict[NPY_HEADER_MAX];
    if (!descr)
        return lps_fail(err, LPS_ERR_UNSUPPORTED, "%s: cannot store type %s in NPY", path,
                        lps_dtype_name(t->dtype));
    size_t used = (size_t)snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (",
                                   descr);
    for (int d = 0; d < t->rank && used < sizeof dict; d++)
        used += (size_t)snprintf(dict + used, sizeof dict - used, "%lld,%s", (long long)t->dims[d],
                                 d + 1 < t->rank ? " " : "");
    if (used < sizeof dict)
        used += (size_t)snprintf(dict + used, sizeof dict - used, "), }");
    if (used + NPY_ALIGN >= sizeof dict)
        return lps_fail(err, LPS_ERR_INVALID, "%s: shape too long for an NPY header", path);
    size_t header = used + 1; /* the dict plus its terminating newline */
    size_t pad = (NPY_ALIGN - (NPY_PREAMBLE + header) % NPY_ALIGN) % NPY_ALIGN;
    header += pad;
    size_t total = NPY_PREAMBLE + header + t->nbytes;
    unsigned char *buf = malloc(total);
    if (!buf)
        return lps_fail(err, LPS_ERR_NOMEM, "%s: out of memory for %zu bytes", path, total);
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (unsigned char)(header & 0xff);
    buf[9] = (unsigned char)(header >> 8);
    memcpy(buf + NPY_PREAMBLE, dict, used);
    memset(buf + NPY_PREAMBLE + used, ' ', pad);
    buf[NPY_PREAMBLE + header - 1] = '\n';
    if (t->nbytes)
        memcpy(buf + NPY_PREAMBLE + header, t->data, t->nbytes);
    lps_status st = lps_write_file_atomic(path, buf, total, err);
    free(buf);
    return st;
}

lps_status lps_tensor_read_file(const char *path, lps_tensor *t, lps_error *err)
{
    static const char npy_magic[] = "\x93NUMPY";
    char head[sizeof npy_magic - 1] = {0};
    FILE *f = fopen(path, "rb");
    if (!f)
        return lps_fail(err, LPS_ERR_INVALID, "%s: cannot open", path);
    size_t got = fread(head, 1, sizeof head, f);
    fclose(f);
    if (got == sizeof head && memcmp(head, npy_magic, sizeof head) == 0) {
        lps_source src;
        size_t budget = lps_data_budget(0);
        lps_status st = lps_source_open_file(&src, path, err);
        if (st == LPS_OK) {
            st = lps_npy_read(&src, &budget, t, err);
            lps_source_close(&src);
        }
        return st;
    }
    return lps_tensor_load_pb(path, t, NULL, err);
}
