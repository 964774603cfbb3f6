/* Internal interface of the ONNX I/O module (src/onnx). This is the only
 * header that includes the protobuf-c generated types; nothing outside
 * src/onnx may include it. */
#ifndef LPS_ONNX_INTERNAL_H
#define LPS_ONNX_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lpsparsify/model.h"
#include "onnx.pb-c.h"

/* raw_data and external data are little-endian; decoding copies bytes as
 * they are, which is only right on a little-endian host. */
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "src/onnx decodes little-endian tensor bytes in place; a big-endian port needs byte swapping"
#endif

/* protobuf's hard limit on one serialized message (2 GiB - 1). */
#define ONNX_MAX_MESSAGE_BYTES ((size_t)INT32_MAX)

/* Field numbers the wire-level splicer works with (proto/onnx.proto). */
enum {
    ONNX_FIELD_MODEL_GRAPH = 7,
    ONNX_FIELD_GRAPH_INITIALIZER = 5,
    ONNX_FIELD_GRAPH_SPARSE_INITIALIZER = 15
};

/* What the module keeps of a loaded model for a lossless save.
 * `bytes` is the file exactly as read: a save copies it and splices in only
 * the initializers that changed. `proto` is the parse of those bytes; after
 * loading, the tensor payloads of its initializers are released (their
 * values live in lps_initializer.tensor), so it serves as the template for
 * the non-data fields of a rewritten tensor and is never packed whole. */
typedef struct lps_onnx_handle lps_onnx_handle;
struct lps_onnx_handle {
    Onnx__ModelProto *proto;
    uint8_t *bytes;
    size_t len;
    size_t n_dense;   /* graph.initializer entries; lps initializers from this
                         index on come from graph.sparse_initializer */
};

/* The handle this module attached to m when it loaded it, or NULL (a model
 * built in memory or by another loader). */
const lps_onnx_handle *onnx_handle_of(const lps_model *m);

/* Where a tensor came from, for messages and for external data. */
typedef struct onnx_source {
    const char *name;  /* file name every message starts with */
    const char *dir;   /* folder external data is resolved in; NULL refuses it */
} onnx_source;

/* Reads a whole regular file into a malloc'd buffer (*out, *len; *out is
 * NULL for an empty file). Fails with LPS_ERR_IO when the file cannot be
 * opened or read, LPS_ERR_INVALID when it is not a regular file, and
 * LPS_ERR_NOMEM; the message starts with path. */
lps_status onnx_read_file(const char *path, uint8_t **out, size_t *len, lps_error *err);

/* Folder part of path ("." when there is none) as a malloc'd string; NULL
 * when out of memory. */
char *onnx_dirname(const char *path);

/* Decodes a TensorProto (raw_data, typed fields or external data) into out,
 * which must be zeroed; `what` names the tensor in messages ("initializer
 * 'w'"). STRING tensors get dtype STRING, their shape and no data. Fails with
 * LPS_ERR_INVALID (malformed, escaping external path, missing or short
 * external file), LPS_ERR_UNSUPPORTED (element type or feature we do not
 * handle) or LPS_ERR_NOMEM; out is left zeroed on failure. */
lps_status onnx_decode_tensor(const Onnx__TensorProto *tp, const onnx_source *src,
                              const char *what, lps_tensor *out, lps_error *err);

/* Decodes a COO SparseTensorProto (indices [NNZ] linear or [NNZ, rank]) into
 * a dense zero-filled tensor out (zeroed on entry). Failures as for
 * onnx_decode_tensor; out is left zeroed on failure. */
lps_status onnx_densify_sparse(const Onnx__SparseTensorProto *sp, const onnx_source *src,
                               const char *what, lps_tensor *out, lps_error *err);

/* Frees the payload fields of a tensor unpacked with the default allocator
 * (raw_data and every typed data field) and empties them. NULL is accepted. */
void onnx_release_tensor_payload(Onnx__TensorProto *tp);

/* Serialized TensorProto holding t as raw_data, with every non-data field
 * (name, doc_string, metadata, unknown fields) taken from `tmpl` (may be
 * NULL, then only name is set). *out is malloc'd. Fails with
 * LPS_ERR_UNSUPPORTED for tensors without fixed-size elements or over the
 * 2 GiB protobuf limit, LPS_ERR_NOMEM. */
lps_status onnx_encode_dense(const lps_tensor *t, char *name,
                             const Onnx__TensorProto *tmpl, uint8_t **out, size_t *out_len,
                             lps_error *err);

/* Serialized SparseTensorProto holding t in COO form: values [NNZ] with the
 * non-zero elements (an element is zero when all its bytes are), linear
 * int64 indices [NNZ] in ascending order, dims = t's dims. Non-data fields
 * come from tmpl_sparse / tmpl_values when given. Failures as for
 * onnx_encode_dense. */
lps_status onnx_encode_sparse(const lps_tensor *t, char *name,
                              const Onnx__SparseTensorProto *tmpl_sparse,
                              const Onnx__TensorProto *tmpl_values, uint8_t **out,
                              size_t *out_len, lps_error *err);

/* A growable byte buffer for building wire-format output. */
typedef struct wire_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
} wire_buf;

/* One field of a serialized message: the tag starts at `start`, the value
 * (for length-delimited fields, the payload after the length) spans
 * [value_start, end). */
typedef struct wire_field {
    uint32_t number;
    uint32_t wire_type;
    size_t start;
    size_t value_start;
    size_t end;
} wire_field;

enum { WIRE_VARINT = 0, WIRE_FIXED64 = 1, WIRE_LEN = 2, WIRE_FIXED32 = 5 };

/* Parses the field at *pos of buf[0..len) into f and advances *pos past it.
 * Returns false on malformed or truncated input and on group wire types
 * (which protobuf-c does not parse either). */
bool wire_next_field(const uint8_t *buf, size_t len, size_t *pos, wire_field *f);

/* Append to b; each returns false when out of memory, after which b may hold
 * a partial write and is only fit for wire_buf_release. */
bool wire_put_bytes(wire_buf *b, const void *data, size_t n);
bool wire_put_varint(wire_buf *b, uint64_t v);
/* A length-delimited field: tag, length, payload. */
bool wire_put_len_field(wire_buf *b, uint32_t number, const void *data, size_t n);

/* Frees b's storage and zeroes it; NULL is accepted. */
void wire_buf_release(wire_buf *b);

#endif
