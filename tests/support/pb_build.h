/* Hand-written protobuf wire encoding for building ONNX files in tests,
 * well-formed or deliberately malformed, without the generated protobuf
 * types (only src/onnx may see those). Every function aborts the test
 * (ck_abort) when out of memory, so callers need no checks. */
#ifndef LPS_TEST_PB_BUILD_H
#define LPS_TEST_PB_BUILD_H

#include <stddef.h>
#include <stdint.h>

typedef struct pb {
    uint8_t *data;
    size_t len;
    size_t cap;
} pb;

/* ONNX field numbers used by the builders (proto/onnx.proto). */
enum {
    PB_MODEL_IR_VERSION = 1,
    PB_MODEL_PRODUCER_NAME = 2,
    PB_MODEL_DOC_STRING = 6,
    PB_MODEL_GRAPH = 7,
    PB_MODEL_OPSET_IMPORT = 8,
    PB_MODEL_METADATA_PROPS = 14,
    PB_OPSET_DOMAIN = 1,
    PB_OPSET_VERSION = 2,
    PB_GRAPH_NODE = 1,
    PB_GRAPH_NAME = 2,
    PB_GRAPH_INITIALIZER = 5,
    PB_GRAPH_DOC_STRING = 10,
    PB_GRAPH_INPUT = 11,
    PB_GRAPH_OUTPUT = 12,
    PB_GRAPH_VALUE_INFO = 13,
    PB_GRAPH_SPARSE_INITIALIZER = 15,
    PB_NODE_INPUT = 1,
    PB_NODE_OUTPUT = 2,
    PB_NODE_NAME = 3,
    PB_NODE_OP_TYPE = 4,
    PB_NODE_ATTRIBUTE = 5,
    PB_ATTR_NAME = 1,
    PB_ATTR_F = 2,
    PB_ATTR_I = 3,
    PB_ATTR_S = 4,
    PB_ATTR_T = 5,
    PB_ATTR_FLOATS = 7,
    PB_ATTR_INTS = 8,
    PB_ATTR_STRINGS = 9,
    PB_ATTR_TYPE = 20,
    PB_VALUE_INFO_NAME = 1,
    PB_VALUE_INFO_TYPE = 2,
    PB_TYPE_TENSOR = 1,
    PB_TYPE_TENSOR_ELEM_TYPE = 1,
    PB_TYPE_TENSOR_SHAPE = 2,
    PB_SHAPE_DIM = 1,
    PB_DIM_VALUE = 1,
    PB_DIM_PARAM = 2,
    PB_TENSOR_DIMS = 1,
    PB_TENSOR_DATA_TYPE = 2,
    PB_TENSOR_FLOAT_DATA = 4,
    PB_TENSOR_INT32_DATA = 5,
    PB_TENSOR_STRING_DATA = 6,
    PB_TENSOR_INT64_DATA = 7,
    PB_TENSOR_NAME = 8,
    PB_TENSOR_RAW_DATA = 9,
    PB_TENSOR_EXTERNAL_DATA = 13,
    PB_TENSOR_DATA_LOCATION = 14,
    PB_ENTRY_KEY = 1,
    PB_ENTRY_VALUE = 2,
    PB_SPARSE_VALUES = 1,
    PB_SPARSE_INDICES = 2,
    PB_SPARSE_DIMS = 3
};

/* Appends a varint-encoded field (wire type 0). */
void pb_int(pb *b, uint32_t field, int64_t v);
/* Appends a float field (wire type 5, fixed32). */
void pb_float(pb *b, uint32_t field, float v);
/* Appends a length-delimited field with the given payload. */
void pb_bytes(pb *b, uint32_t field, const void *data, size_t n);
void pb_str(pb *b, uint32_t field, const char *s);
/* Appends sub as an embedded message. */
void pb_msg(pb *b, uint32_t field, const pb *sub);
/* Appends int64 values as one packed field. */
void pb_packed_ints(pb *b, uint32_t field, const int64_t *v, size_t n);
/* Appends floats as one packed field. */
void pb_packed_floats(pb *b, uint32_t field, const float *v, size_t n);
/* Appends raw bytes (another message's fields, or garbage). */
void pb_append(pb *b, const void *data, size_t n);
void pb_free(pb *b);

/* A TensorProto header: name, data_type, dims (unpacked, as ONNX writes
 * them). Add the data with pb_bytes(t, PB_TENSOR_RAW_DATA, ...) or typed
 * fields. */
void pb_tensor_head(pb *t, const char *name, int32_t dtype, int rank, const int64_t *dims);
/* A TensorProto whose data is in external file `location`; offset and
 * length keys are written when non-NULL (as strings, so tests can write bad
 * ones). */
void pb_tensor_external(pb *t, const char *name, int32_t dtype, int rank, const int64_t *dims,
                        const char *location, const char *offset, const char *length);
/* Adds a StringStringEntryProto to field (external_data, metadata_props). */
void pb_entry(pb *b, uint32_t field, const char *key, const char *value);

/* A model: ir_version, producer, opset "" 13, and a graph "g" holding the
 * node MatMul(X, W) -> Y with X float [N, 4] (N symbolic) and Y float
 * [N, 3], then `graph_fields` (initializers and whatever else the test
 * wants, already encoded as GraphProto fields; may be NULL). */
void pb_model_matmul(pb *model, int64_t ir_version, const pb *graph_fields);

/* Writes b to path; aborts the test on failure. */
void pb_write_file(const pb *b, const char *path);

#endif
