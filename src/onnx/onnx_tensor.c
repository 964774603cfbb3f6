/* TensorProto <-> lps_tensor: raw_data, typed fields, external data, COO
 * sparse tensors, and the serialized TensorProto files of ONNX test data. */
#include "onnx/onnx_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SHAPE_STR_MAX 160
#define EXTERNAL_KEY_LOCATION "location"
#define EXTERNAL_KEY_OFFSET "offset"
#define EXTERNAL_KEY_LENGTH "length"
#define EXTERNAL_KEY_CHECKSUM "checksum"
#define SPARSE_COO_LINEAR_RANK 1
#define SPARSE_COO_COORD_RANK 2

/* Formats "SOURCE: WHAT: detail" into err and returns status. */
static lps_status tensor_fail(lps_error *err, lps_status status, const onnx_source *src,
                              const char *what, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static lps_status tensor_fail(lps_error *err, lps_status status, const onnx_source *src,
                              const char *what, const char *fmt, ...)
{
    char detail[LPS_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    return lps_fail(err, status, "%s: %s: %s", src->name, what, detail);
}

/* ONNX's own name for a data_type number, for messages about types we do
 * not handle. */
static const char *onnx_dtype_name(int32_t data_type)
{
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&onnx__tensor_proto__data_type__descriptor, data_type);
    return v ? v->name : "unknown";
}

static bool dtype_has_fixed_size(int32_t data_type)
{
    return data_type >= LPS_DT_FLOAT && data_type <= LPS_DT_BFLOAT16 &&
           data_type != LPS_DT_STRING;
}

/* Copies dims into rank/dims and computes numel, rejecting what the rest of
 * the project cannot hold. */
static lps_status tensor_shape(size_t n_dims, const int64_t *src_dims, const onnx_source *src,
                               const char *what, int *rank, int64_t *dims, int64_t *numel,
                               lps_error *err)
{
    char shape[SHAPE_STR_MAX];
    if (n_dims > LPS_MAX_RANK)
        return tensor_fail(err, LPS_ERR_UNSUPPORTED, src, what,
                           "rank %zu exceeds the supported maximum of %d", n_dims, LPS_MAX_RANK);
    *rank = (int)n_dims;
    for (size_t i = 0; i < n_dims; i++)
        dims[i] = src_dims[i];
    *numel = lps_numel_of(*rank, dims);
    if (*numel < 0)
        return tensor_fail(err, LPS_ERR_INVALID, src, what,
                           "dims %s are negative or hold more than 2^40 elements",
                           lps_shape_str(*rank, dims, shape, sizeof shape));
    return LPS_OK;
}

/* The typed repeated fields of TensorProto. */
typedef enum typed_field {
    TYPED_FLOAT,
    TYPED_INT32,
    TYPED_INT64,
    TYPED_DOUBLE,
    TYPED_UINT64,
    TYPED_FIELD_COUNT
} typed_field;

static const char *const typed_field_name[TYPED_FIELD_COUNT] = {
    "float_data", "int32_data", "int64_data", "double_data", "uint64_data"};

/* Which typed field holds a dtype (ONNX IR, TensorProto comments), how many
 * values make one element, and the value range the field's wider type must
 * respect for integer narrowing. */
typedef struct typed_rule {
    typed_field field;
    size_t per_element;
    bool check_range;
    int64_t lo;
    uint64_t hi;
} typed_rule;

static typed_rule typed_rule_for(lps_dtype dtype)
{
    switch (dtype) {
    case LPS_DT_FLOAT: return (typed_rule){TYPED_FLOAT, 1, false, 0, 0};
    case LPS_DT_COMPLEX64: return (typed_rule){TYPED_FLOAT, 2, false, 0, 0};
    case LPS_DT_DOUBLE: return (typed_rule){TYPED_DOUBLE, 1, false, 0, 0};
    case LPS_DT_COMPLEX128: return (typed_rule){TYPED_DOUBLE, 2, false, 0, 0};
    case LPS_DT_INT64: return (typed_rule){TYPED_INT64, 1, false, 0, 0};
    case LPS_DT_UINT64: return (typed_rule){TYPED_UINT64, 1, false, 0, 0};
    case LPS_DT_UINT32: return (typed_rule){TYPED_UINT64, 1, true, 0, UINT32_MAX};
    case LPS_DT_INT32: return (typed_rule){TYPED_INT32, 1, false, 0, 0};
    case LPS_DT_INT16: return (typed_rule){TYPED_INT32, 1, true, INT16_MIN, INT16_MAX};
    case LPS_DT_INT8: return (typed_rule){TYPED_INT32, 1, true, INT8_MIN, INT8_MAX};
    case LPS_DT_UINT16: return (typed_rule){TYPED_INT32, 1, true, 0, UINT16_MAX};
    case LPS_DT_UINT8: return (typed_rule){TYPED_INT32, 1, true, 0, UINT8_MAX};
    case LPS_DT_BOOL: return (typed_rule){TYPED_INT32, 1, true, 0, 1};
    /* 16-bit floats travel as their bit patterns in int32_data. */
    case LPS_DT_FLOAT16:
    case LPS_DT_BFLOAT16: return (typed_rule){TYPED_INT32, 1, true, 0, UINT16_MAX};
    case LPS_DT_STRING:
    case LPS_DT_UNDEFINED: break;
    }
    return (typed_rule){TYPED_FIELD_COUNT, 0, false, 0, 0};
}

static size_t typed_count(const Onnx__TensorProto *tp, typed_field field)
{
    switch (field) {
    case TYPED_FLOAT: return tp->n_float_data;
    case TYPED_INT32: return tp->n_int32_data;
    case TYPED_INT64: return tp->n_int64_data;
    case TYPED_DOUBLE: return tp->n_double_data;
    case TYPED_UINT64: return tp->n_uint64_data;
    case TYPED_FIELD_COUNT: break;
    }
    return 0;
}

/* Name of a typed field other than `expected` that holds values, or NULL. */
static const char *stray_typed_field(const Onnx__TensorProto *tp, typed_field expected)
{
    for (int f = 0; f < TYPED_FIELD_COUNT; f++)
        if (f != (int)expected && typed_count(tp, (typed_field)f))
            return typed_field_name[f];
    return NULL;
}

/* Stores the low esize bytes of v (two's complement) as element i. */
static void store_narrowed(void *dst, size_t esize, size_t i, uint64_t v)
{
    uint8_t *p = (uint8_t *)dst + i * esize;
    switch (esize) {
    case sizeof(uint8_t): { uint8_t x = (uint8_t)v; memcpy(p, &x, sizeof x); break; }
    case sizeof(uint16_t): { uint16_t x = (uint16_t)v; memcpy(p, &x, sizeof x); break; }
    case sizeof(uint32_t): { uint32_t x = (uint32_t)v; memcpy(p, &x, sizeof x); break; }
    default: memcpy(p, &v, sizeof v); break;
    }
}

static bool has_typed_data(const Onnx__TensorProto *tp);

/* The data held in the model must be exactly what the dims need; checked
 * before anything is allocated, so that huge dims over a few bytes are
 * refused as malformed instead of failing (or succeeding) a huge allocation.
 * t holds the dtype-less shape (rank, dims); the dtype is tp's. */
static lps_status check_inline_size(const Onnx__TensorProto *tp, const onnx_source *src,
                                    const char *what, const lps_tensor *t, int64_t numel,
                                    lps_error *err)
{
    char shape[SHAPE_STR_MAX];
    lps_dtype dtype = (lps_dtype)tp->data_type;
    if (tp->has_raw_data && !has_typed_data(tp)) {
        size_t need = (size_t)numel * lps_dtype_size(dtype);
        if (tp->raw_data.len != need)
            return tensor_fail(err, LPS_ERR_INVALID, src, what,
                               "raw_data has %zu bytes, dims %s need %zu", tp->raw_data.len,
                               lps_shape_str(t->rank, t->dims, shape, sizeof shape), need);
        return LPS_OK;
    }
    if (tp->has_raw_data)
        return LPS_OK; /* both raw and typed: refused with its own message */
    typed_rule rule = typed_rule_for(dtype);
    if (stray_typed_field(tp, rule.field))
        return LPS_OK; /* refused by decode_typed with its own message */
    size_t count = typed_count(tp, rule.field);
    size_t expect = (size_t)numel * rule.per_element;
    if (count != expect)
        return tensor_fail(err, LPS_ERR_INVALID, src, what, "%s has %zu values, dims %s need %zu",
                           typed_field_name[rule.field], count,
                           lps_shape_str(t->rank, t->dims, shape, sizeof shape), expect);
    return LPS_OK;
}

/* Copies the typed field into t, whose size check_inline_size checked. */
static lps_status decode_typed(const Onnx__TensorProto *tp, const onnx_source *src,
                               const char *what, lps_tensor *t, lps_error *err)
{
    typed_rule rule = typed_rule_for(t->dtype);
    const char *stray = stray_typed_field(tp, rule.field);
    if (stray)
        return tensor_fail(err, LPS_ERR_INVALID, src, what, "has %s, which cannot hold %s elements",
                           stray, lps_dtype_name(t->dtype));
    size_t count = typed_count(tp, rule.field);
    size_t esize = lps_dtype_size(t->dtype);
    switch (rule.field) {
    case TYPED_FLOAT: if (count) memcpy(t->data, tp->float_data, t->nbytes); break;
    case TYPED_DOUBLE: if (count) memcpy(t->data, tp->double_data, t->nbytes); break;
    case TYPED_INT64: if (count) memcpy(t->data, tp->int64_data, t->nbytes); break;
    case TYPED_INT32:
        for (size_t i = 0; i < count; i++) {
            int64_t v = tp->int32_data[i];
            if (rule.check_range && (v < rule.lo || (v >= 0 && (uint64_t)v > rule.hi)))
                return tensor_fail(err, LPS_ERR_INVALID, src, what,
                                   "int32_data[%zu] = %" PRId64 " is out of range for %s", i, v,
                                   lps_dtype_name(t->dtype));
            store_narrowed(t->data, esize, i, (uint64_t)v);
        }
        break;
    case TYPED_UINT64:
        for (size_t i = 0; i < count; i++) {
            uint64_t v = tp->uint64_data[i];
            if (rule.check_range && v > rule.hi)
                return tensor_fail(err, LPS_ERR_INVALID, src, what,
                                   "uint64_data[%zu] = %" PRIu64 " is out of range for %s", i, v,
                                   lps_dtype_name(t->dtype));
            store_narrowed(t->data, esize, i, v);
        }
        break;
    case TYPED_FIELD_COUNT:
        return tensor_fail(err, LPS_ERR_UNSUPPORTED, src, what, "%s has no typed data field",
                           lps_dtype_name(t->dtype));
    }
    return LPS_OK;
}

/* Parses a non-negative decimal integer that fills the whole string. */
static bool parse_nonnegative(const char *s, int64_t *out)
{
    if (!s || *s < '0' || *s > '9')
        return false;
    errno = 0;
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (errno || *end != '\0' || v < 0)
        return false;
    *out = (int64_t)v;
    return true;
}

static bool path_has_dotdot_component(const char *p)
{
    const char *c = p;
    while (*c) {
        const char *slash = strchr(c, '/');
        size_t n = slash ? (size_t)(slash - c) : strlen(c);
        if (n == 2 && c[0] == '.' && c[1] == '.')
            return true;
        if (!slash)
            break;
        c = slash + 1;
    }
    return false;
}

typedef struct external_ref {
    const char *location;
    int64_t offset;
    int64_t length;  /* -1 when the key is absent */
} external_ref;

static lps_status external_keys(const Onnx__TensorProto *tp, const onnx_source *src,
                                const char *what, external_ref *ref, lps_error *err)
{
    ref->location = NULL;
    ref->offset = 0;
    ref->length = -1;
    for (size_t i = 0; i < tp->n_external_data; i++) {
        const char *key = tp->external_data[i]->key ? tp->external_data[i]->key : "";
        const char *value = tp->external_data[i]->value;
        if (strcmp(key, EXTERNAL_KEY_LOCATION) == 0) {
            ref->location = value;
        } else if (strcmp(key, EXTERNAL_KEY_OFFSET) == 0) {
            if (!parse_nonnegative(value, &ref->offset))
                return tensor_fail(err, LPS_ERR_INVALID, src, what,
                                   "external data offset '%s' is not a non-negative integer",
                                   value ? value : "");
        } else if (strcmp(key, EXTERNAL_KEY_LENGTH) == 0) {
            if (!parse_nonnegative(value, &ref->length))
                return tensor_fail(err, LPS_ERR_INVALID, src, what,
                                   "external data length '%s' is not a non-negative integer",
                                   value ? value : "");
        } else if (strcmp(key, EXTERNAL_KEY_CHECKSUM) != 0) {
            /* checksum is advisory (SHA-1 of the bytes); anything else is
             * outside the specification and could change the meaning. */
            return tensor_fail(err, LPS_ERR_UNSUPPORTED, src, what,
                               "unknown external data key '%s'", key);
        }
    }
    if (!ref->location || !ref->location[0])
        return tensor_fail(err, LPS_ERR_INVALID, src, what, "external data has no location");
    return LPS_OK;
}

/* Fills `full` (PATH_MAX bytes) with the resolved file, checking that it
 * stays inside src->dir. */
static lps_status resolve_external(const external_ref *ref, const onnx_source *src,
                                   const char *what, char *full, lps_error *err)
{
    if (!src->dir)
        return tensor_fail(err, LPS_ERR_INVALID, src, what,
                           "external data '%s' cannot be resolved for a model loaded from memory",
                           ref->location);
    if (ref->location[0] == '/')
        return tensor_fail(err, LPS_ERR_INVALID, src, what,
                           "external data path '%s' is absolute; it must be inside the model's folder",
                           ref->location);
    if (path_has_dotdot_component(ref->location))
        return tensor_fail(err, LPS_ERR_INVALID, src, what,
                           "external data path '%s' contains '..'; it must be inside the model's folder",
                           ref->location);
    char joined[PATH_MAX];
    char dir_real[PATH_MAX];
    int n = snprintf(joined, sizeof joined, "%s/%s", src->dir, ref->location);
    if (n < 0 || (size_t)n >= sizeof joined)
        return tensor_fail(err, LPS_ERR_INVALID, src, what, "external data path '%s' is too long",
                           ref->location);
    if (!realpath(src->dir, dir_real))
        return tensor_fail(err, LPS_ERR_IO, src, what, "cannot resolve the model folder '%s': %s",
                           src->dir, strerror(errno));
    if (!realpath(joined, full))
        return tensor_fail(err, LPS_ERR_INVALID, src, what, "external data file '%s': %s", joined,
                           strerror(errno));
    size_t dlen = strlen(dir_real);
    bool root = dlen == 1 && dir_real[0] == '/';
    if (!root && (strncmp(full, dir_real, dlen) != 0 || full[dlen] != '/'))
        return tensor_fail(err, LPS_ERR_INVALID, src, what,
                           "external data file '%s' resolves to '%s', outside the model's folder",
                           joined, full);
    return LPS_OK;
}

/* Reads the external data of tp into t, which holds the shape (rank, dims
 * of numel elements) and is allocated here, only once the reference and the
 * file size are known to fit the dims: a huge declared tensor over a small
 * file is malformed, not out of memory. */
static lps_status read_external(const Onnx__TensorProto *tp, const onnx_source *src,
                                const char *what, int64_t numel, lps_tensor *t, lps_error *err)
{
    char shape[SHAPE_STR_MAX];
    char full[PATH_MAX];
    external_ref ref;
    size_t need = (size_t)numel * lps_dtype_size((lps_dtype)tp->data_type);
    lps_status st = external_keys(tp, src, what, &ref, err);
    if (st == LPS_OK)
        st = resolve_external(&ref, src, what, full, err);
    if (st != LPS_OK)
        return st;
    if (ref.length >= 0 && (uint64_t)ref.length != need)
        return tensor_fail(err, LPS_ERR_INVALID, src, what,
                           "external data '%s' has length %" PRId64 ", dims %s need %zu bytes",
                           ref.location, ref.length,
                           lps_shape_str(t->rank, t->dims, shape, sizeof shape), need);
    /* O_NONBLOCK: a FIFO in the model's folder must be refused below, not waited on. */
    int fd = open(full, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return tensor_fail(err, LPS_ERR_INVALID, src, what, "external data file '%s': %s", full,
                           strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        st = tensor_fail(err, LPS_ERR_INVALID, src, what,
                         "external data file '%s' is not a regular file", full);
        goto cleanup;
    }
    uint64_t size = (uint64_t)sb.st_size;
    if ((uint64_t)ref.offset > size || size - (uint64_t)ref.offset < need) {
        st = tensor_fail(err, LPS_ERR_INVALID, src, what,
                         "external data file '%s' has %" PRIu64 " bytes, too short for %zu bytes "
                         "at offset %" PRId64, full, size, need, ref.offset);
        goto cleanup;
    }
    if (lps_tensor_alloc(t, (lps_dtype)tp->data_type, t->rank, t->dims, err) != LPS_OK) {
        st = lps_error_prefix(err, "%s: %s", src->name, what);
        goto cleanup;
    }
    size_t done = 0;
    while (done < t->nbytes) {
        ssize_t got = pread(fd, (uint8_t *)t->data + done, t->nbytes - done,
                            (off_t)((uint64_t)ref.offset + done));
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            st = tensor_fail(err, LPS_ERR_IO, src, what, "reading external data file '%s': %s",
                             full, got < 0 ? strerror(errno) : "unexpected end of file");
            goto cleanup;
        }
        done += (size_t)got;
    }
cleanup:
    close(fd);
    return st;
}

static bool has_typed_data(const Onnx__TensorProto *tp)
{
    return stray_typed_field(tp, TYPED_FIELD_COUNT) != NULL || tp->n_string_data;
}

static lps_status decode_string_tensor(const Onnx__TensorProto *tp, const onnx_source *src,
                                       const char *what, lps_tensor *t, int64_t numel,
                                       lps_error *err)
{
    char shape[SHAPE_STR_MAX];
    if (tp->has_raw_data || stray_typed_field(tp, TYPED_FIELD_COUNT))
        return tensor_fail(err, LPS_ERR_INVALID, src, what,
                           "string tensor has data outside string_data");
    if (tp->n_string_data != (size_t)numel)
        return tensor_fail(err, LPS_ERR_INVALID, src, what, "string_data has %zu values, dims %s need %" PRId64,
                           tp->n_string_data, lps_shape_str(t->rank, t->dims, shape, sizeof shape),
                           numel);
    /* The engine never computes on strings: shape only, no storage. */
    t->dtype = LPS_DT_STRING;
    return LPS_OK;
}

lps_status onnx_decode_tensor(const Onnx__TensorProto *tp, const onnx_source *src,
                              const char *what, lps_tensor *out, lps_error *err)
{
    lps_tensor t = {0};
    int64_t numel = 0;
    lps_status st = LPS_OK;
    if (!tp->has_data_type || tp->data_type == LPS_DT_UNDEFINED)
        return tensor_fail(err, LPS_ERR_INVALID, src, what, "has no data_type");
    if (tp->segment)
        return tensor_fail(err, LPS_ERR_UNSUPPORTED, src, what, "segmented tensors are not supported");
    st = tensor_shape(tp->n_dims, tp->dims, src, what, &t.rank, t.dims, &numel, err);
    if (st != LPS_OK)
        return st;
    bool external = tp->has_data_location &&
                    tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    if (tp->data_type == LPS_DT_STRING) {
        if (external)
            return tensor_fail(err, LPS_ERR_UNSUPPORTED, src, what,
                               "string tensors in external data are not supported");
        st = decode_string_tensor(tp, src, what, &t, numel, err);
        if (st == LPS_OK)
            *out = t;
        return st;
    }
    if (!dtype_has_fixed_size(tp->data_type))
        return tensor_fail(err, LPS_ERR_UNSUPPORTED, src, what, "element type %s (%d) is not supported",
                           onnx_dtype_name(tp->data_type), (int)tp->data_type);
    if (external) {
        if ((tp->has_raw_data && tp->raw_data.len) || has_typed_data(tp))
            return tensor_fail(err, LPS_ERR_INVALID, src, what,
                               "has both external data and data in the model");
        st = read_external(tp, src, what, numel, &t, err);
    } else {
        st = check_inline_size(tp, src, what, &t, numel, err);
        if (st == LPS_OK && lps_tensor_alloc(&t, (lps_dtype)tp->data_type, t.rank, t.dims, err)
                                != LPS_OK)
            st = lps_error_prefix(err, "%s: %s", src->name, what);
        if (st != LPS_OK)
            ;
        else if (tp->has_raw_data && has_typed_data(tp))
            st = tensor_fail(err, LPS_ERR_INVALID, src, what, "has both raw_data and typed data");
        else if (tp->has_raw_data && t.nbytes)
            memcpy(t.data, tp->raw_data.data, t.nbytes);
        else if (!tp->has_raw_data)
            st = decode_typed(tp, src, what, &t, err);
    }
    if (st != LPS_OK) {
        lps_tensor_release(&t);
        return st;
    }
    *out = t;
    return LPS_OK;
}

/* Linear position of sparse entry k, or -1 with err filled. */
static int64_t sparse_linear_index(const lps_tensor *indices, const lps_tensor *dense, int64_t k,
                                   int64_t numel, const onnx_source *src, const char *what,
                                   lps_error *err)
{
    const int64_t *idx = lps_tensor_i64(indices);
    int64_t linear = 0;
    if (indices->rank == SPARSE_COO_LINEAR_RANK) {
        linear = idx[k];
    } else {
        for (int d = 0; d < dense->rank; d++) {
            int64_t c = idx[k * dense->rank + d];
            if (c < 0 || c >= dense->dims[d]) {
                tensor_fail(err, LPS_ERR_INVALID, src, what,
                            "sparse index %" PRId64 " of entry %" PRId64 " is outside dim %d of size %" PRId64,
                            c, k, d, dense->dims[d]);
                return -1;
            }
            linear = linear * dense->dims[d] + c;
        }
    }
    if (linear < 0 || linear >= numel) {
        tensor_fail(err, LPS_ERR_INVALID, src, what,
                    "sparse index %" PRId64 " of entry %" PRId64 " is outside %" PRId64 " elements",
                    linear, k, numel);
        return -1;
    }
    return linear;
}

lps_status onnx_densify_sparse(const Onnx__SparseTensorProto *sp, const onnx_source *src,
                               const char *what, lps_tensor *out, lps_error *err)
{
    char shape[SHAPE_STR_MAX];
    lps_tensor values = {0}, indices = {0}, dense = {0};
    int64_t numel = 0;
    lps_status st = LPS_OK;
    if (!sp->values || !sp->indices)
        return tensor_fail(err, LPS_ERR_INVALID, src, what, "sparse tensor lacks %s",
                           sp->values ? "indices" : "values");
    st = tensor_shape(sp->n_dims, sp->dims, src, what, &dense.rank, dense.dims, &numel, err);
    if (st != LPS_OK)
        return st;
    st = onnx_decode_tensor(sp->values, src, what, &values, err);
    if (st == LPS_OK)
        st = onnx_decode_tensor(sp->indices, src, what, &indices, err);
    if (st != LPS_OK)
        goto cleanup;
    if (values.dtype == LPS_DT_STRING) {
        st = tensor_fail(err, LPS_ERR_UNSUPPORTED, src, what, "sparse string tensors are not supported");
        goto cleanup;
    }
    if (values.rank != 1) {
        st = tensor_fail(err, LPS_ERR_INVALID, src, what, "sparse values have dims %s, expected [NNZ]",
                         lps_shape_str(values.rank, values.dims, shape, sizeof shape));
        goto cleanup;
    }
    int64_t nnz = values.dims[0];
    bool linear_form = indices.rank == SPARSE_COO_LINEAR_RANK && indices.dims[0] == nnz;
    bool coord_form = indices.rank == SPARSE_COO_COORD_RANK && indices.dims[0] == nnz &&
                      indices.dims[1] == dense.rank;
    if (indices.dtype != LPS_DT_INT64 || !(linear_form || coord_form)) {
        st = tensor_fail(err, LPS_ERR_INVALID, src, what,
                         "sparse indices are %s %s, expected int64 [%" PRId64 "] or [%" PRId64 ", %d]",
                         lps_dtype_name(indices.dtype),
                         lps_shape_str(indices.rank, indices.dims, shape, sizeof shape), nnz, nnz,
                         dense.rank);
        goto cleanup;
    }
    st = lps_tensor_alloc(&dense, values.dtype, dense.rank, dense.dims, err);
    if (st != LPS_OK) {
        lps_error_prefix(err, "%s: %s", src->name, what);
        goto cleanup;
    }
    size_t esize = lps_dtype_size(values.dtype);
    for (int64_t k = 0; k < nnz; k++) {
        int64_t linear = sparse_linear_index(&indices, &dense, k, numel, src, what, err);
        if (linear < 0) {
            st = LPS_ERR_INVALID;
            goto cleanup;
        }
        memcpy((uint8_t *)dense.data + (size_t)linear * esize,
               (const uint8_t *)values.data + (size_t)k * esize, esize);
    }
    *out = dense;
    dense = (lps_tensor){0};
cleanup:
    lps_tensor_release(&values);
    lps_tensor_release(&indices);
    lps_tensor_release(&dense);
    return st;
}

void onnx_release_tensor_payload(Onnx__TensorProto *tp)
{
    if (!tp)
        return;
    /* Unpacked with the default allocator, so these are malloc'd arrays. */
    free(tp->raw_data.data);
    tp->raw_data.data = NULL;
    tp->raw_data.len = 0;
    free(tp->float_data);
    tp->float_data = NULL;
    tp->n_float_data = 0;
    free(tp->int32_data);
    tp->int32_data = NULL;
    tp->n_int32_data = 0;
    free(tp->int64_data);
    tp->int64_data = NULL;
    tp->n_int64_data = 0;
    free(tp->double_data);
    tp->double_data = NULL;
    tp->n_double_data = 0;
    free(tp->uint64_data);
    tp->uint64_data = NULL;
    tp->n_uint64_data = 0;
}

/* Makes tp carry exactly (dtype, dims, bytes) as raw_data, dropping every
 * other data field and any external reference. */
static void set_raw_payload(Onnx__TensorProto *tp, lps_dtype dtype, int rank, int64_t *dims,
                            void *data, size_t nbytes)
{
    tp->n_dims = (size_t)rank;
    tp->dims = rank ? dims : NULL;
    tp->has_data_type = 1;
    tp->data_type = (int32_t)dtype;
    tp->segment = NULL;
    tp->n_float_data = 0;
    tp->float_data = NULL;
    tp->n_int32_data = 0;
    tp->int32_data = NULL;
    tp->n_string_data = 0;
    tp->string_data = NULL;
    tp->n_int64_data = 0;
    tp->int64_data = NULL;
    tp->n_double_data = 0;
    tp->double_data = NULL;
    tp->n_uint64_data = 0;
    tp->uint64_data = NULL;
    tp->has_raw_data = 1;
    tp->raw_data.len = nbytes;
    tp->raw_data.data = data;
    tp->n_external_data = 0;
    tp->external_data = NULL;
    tp->has_data_location = 0;
    tp->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__DEFAULT;
}

static lps_status pack_message(const ProtobufCMessage *msg, const char *name, uint8_t **out,
                               size_t *out_len, lps_error *err)
{
    size_t size = protobuf_c_message_get_packed_size(msg);
    if (size > ONNX_MAX_MESSAGE_BYTES)
        return lps_fail(err, LPS_ERR_UNSUPPORTED,
                        "tensor '%s' needs %zu bytes, over protobuf's 2 GiB message limit", name, size);
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf)
        return lps_fail(err, LPS_ERR_NOMEM, "out of memory serializing tensor '%s'", name);
    protobuf_c_message_pack(msg, buf);
    *out = buf;
    *out_len = size;
    return LPS_OK;
}

static lps_status check_writable(const lps_tensor *t, const char *name, lps_error *err)
{
    if (lps_dtype_size(t->dtype) == 0)
        return lps_fail(err, LPS_ERR_UNSUPPORTED, "tensor '%s': %s tensors cannot be written", name,
                        lps_dtype_name(t->dtype));
    if (lps_tensor_numel(t) < 0 ||
        t->nbytes != (size_t)lps_tensor_numel(t) * lps_dtype_size(t->dtype))
        return lps_fail(err, LPS_ERR_RUNTIME, "tensor '%s': storage does not match its shape", name);
    return LPS_OK;
}

lps_status onnx_encode_dense(const lps_tensor *t, char *name, const Onnx__TensorProto *tmpl,
                             uint8_t **out, size_t *out_len, lps_error *err)
{
    lps_status st = check_writable(t, name, err);
    if (st != LPS_OK)
        return st;
    int64_t dims[LPS_MAX_RANK];
    memcpy(dims, t->dims, sizeof dims);
    Onnx__TensorProto tp;
    if (tmpl) {
        tp = *tmpl;
    } else {
        onnx__tensor_proto__init(&tp);
        tp.name = name;
    }
    set_raw_payload(&tp, t->dtype, t->rank, dims, t->data, t->nbytes);
    return pack_message(&tp.base, name, out, out_len, err);
}

static bool element_is_zero(const uint8_t *p, size_t esize)
{
    for (size_t b = 0; b < esize; b++)
        if (p[b])
            return false;
    return true;
}

lps_status onnx_encode_sparse(const lps_tensor *t, char *name,
                              const Onnx__SparseTensorProto *tmpl_sparse,
                              const Onnx__TensorProto *tmpl_values, uint8_t **out,
                              size_t *out_len, lps_error *err)
{
    lps_status st = check_writable(t, name, err);
    if (st != LPS_OK)
        return st;
    size_t esize = lps_dtype_size(t->dtype);
    size_t numel = (size_t)lps_tensor_numel(t);
    const uint8_t *src = t->data;
    size_t nnz = 0;
    for (size_t i = 0; i < numel; i++)
        nnz += !element_is_zero(src + i * esize, esize);
    uint8_t *values = malloc(nnz ? nnz * esize : 1);
    int64_t *indices = malloc(nnz ? nnz * sizeof *indices : 1);
    if (!values || !indices) {
        st = lps_fail(err, LPS_ERR_NOMEM, "out of memory building sparse tensor '%s'", name);
        goto cleanup;
    }
    size_t k = 0;
    for (size_t i = 0; i < numel; i++) {
        if (element_is_zero(src + i * esize, esize))
            continue;
        memcpy(values + k * esize, src + i * esize, esize);
        indices[k++] = (int64_t)i;
    }
    int64_t nnz_dims[1] = {(int64_t)nnz};
    int64_t idx_dims[1] = {(int64_t)nnz};
    int64_t dense_dims[LPS_MAX_RANK];
    memcpy(dense_dims, t->dims, sizeof dense_dims);
    Onnx__TensorProto vals, idx;
    if (tmpl_values) {
        vals = *tmpl_values;
    } else {
        onnx__tensor_proto__init(&vals);
        vals.name = name;
    }
    set_raw_payload(&vals, t->dtype, 1, nnz_dims, values, nnz * esize);
    onnx__tensor_proto__init(&idx);
    set_raw_payload(&idx, LPS_DT_INT64, 1, idx_dims, indices, nnz * sizeof *indices);
    Onnx__SparseTensorProto sp;
    if (tmpl_sparse)
        sp = *tmpl_sparse;
    else
        onnx__sparse_tensor_proto__init(&sp);
    sp.values = &vals;
    sp.indices = &idx;
    sp.n_dims = (size_t)t->rank;
    sp.dims = t->rank ? dense_dims : NULL;
    st = pack_message(&sp.base, name, out, out_len, err);
cleanup:
    free(values);
    free(indices);
    return st;
}

lps_status lps_tensor_load_pb(const char *path, lps_tensor *t, char **name_out, lps_error *err)
{
    uint8_t *bytes = NULL;
    size_t len = 0;
    char *dir = NULL;
    char *name = NULL;
    Onnx__TensorProto *tp = NULL;
    lps_tensor decoded = {0};
    lps_status st = onnx_read_file(path, &bytes, &len, err);
    if (st != LPS_OK)
        return st;
    if (len == 0) {
        st = lps_fail(err, LPS_ERR_INVALID, "%s: empty file, expected a serialized TensorProto", path);
        goto cleanup;
    }
    tp = onnx__tensor_proto__unpack(NULL, len, bytes);
    if (!tp) {
        st = lps_fail(err, LPS_ERR_INVALID, "%s: not a serialized TensorProto (protobuf parse failed)",
                      path);
        goto cleanup;
    }
    dir = onnx_dirname(path);
    if (name_out)
        name = strdup(tp->name ? tp->name : "");
    if (!dir || (name_out && !name)) {
        st = lps_fail(err, LPS_ERR_NOMEM, "%s: out of memory", path);
        goto cleanup;
    }
    onnx_source src = {path, dir};
    char what[LPS_ERROR_MSG_MAX / 2];
    snprintf(what, sizeof what, "tensor '%s'", tp->name ? tp->name : "");
    st = onnx_decode_tensor(tp, &src, what, &decoded, err);
    if (st != LPS_OK)
        goto cleanup;
    lps_tensor_release(t);
    *t = decoded;
    if (name_out) {
        *name_out = name;
        name = NULL;
    }
cleanup:
    free(name);
    free(dir);
    onnx__tensor_proto__free_unpacked(tp, NULL);
    free(bytes);
    return st;
}
