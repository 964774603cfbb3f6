#include "pb_build.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PB_MIN_CAP 256
#define PB_VARINT_MAX_BYTES 10
#define PB_VARINT_PAYLOAD_BITS 7
#define PB_VARINT_MASK 0x7Fu
#define PB_VARINT_MORE 0x80u
#define PB_WIRE_VARINT 0u
#define PB_WIRE_LEN 2u
#define PB_WIRE_FIXED32 5u
#define PB_TYPE_BITS 3
#define PB_TEST_OPSET 13
#define PB_FLOAT 1
#define PB_DATA_LOCATION_EXTERNAL 1

void pb_append(pb *b, const void *data, size_t n)
{
    if (n == 0)
        return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : PB_MIN_CAP;
        while (cap < b->len + n)
            cap *= 2;
        uint8_t *p = realloc(b->data, cap);
        if (!p)
            ck_abort_msg("out of memory");
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, n);
    b->len += n;
}

static void put_varint(pb *b, uint64_t v)
{
    uint8_t tmp[PB_VARINT_MAX_BYTES];
    size_t n = 0;
    do {
        tmp[n] = (uint8_t)(v & PB_VARINT_MASK);
        v >>= PB_VARINT_PAYLOAD_BITS;
        if (v)
            tmp[n] |= PB_VARINT_MORE;
        n++;
    } while (v);
    pb_append(b, tmp, n);
}

static void put_tag(pb *b, uint32_t field, uint32_t wire_type)
{
    put_varint(b, ((uint64_t)field << PB_TYPE_BITS) | wire_type);
}

void pb_int(pb *b, uint32_t field, int64_t v)
{
    put_tag(b, field, PB_WIRE_VARINT);
    put_varint(b, (uint64_t)v);
}

void pb_float(pb *b, uint32_t field, float v)
{
    put_tag(b, field, PB_WIRE_FIXED32);
    pb_append(b, &v, sizeof v); /* little-endian host, as the library requires */
}

void pb_bytes(pb *b, uint32_t field, const void *data, size_t n)
{
    put_tag(b, field, PB_WIRE_LEN);
    put_varint(b, n);
    pb_append(b, data, n);
}

void pb_str(pb *b, uint32_t field, const char *s)
{
    pb_bytes(b, field, s, strlen(s));
}

void pb_msg(pb *b, uint32_t field, const pb *sub)
{
    pb_bytes(b, field, sub->data, sub->len);
}

void pb_packed_ints(pb *b, uint32_t field, const int64_t *v, size_t n)
{
    pb body = {0};
    for (size_t i = 0; i < n; i++)
        put_varint(&body, (uint64_t)v[i]);
    pb_msg(b, field, &body);
    pb_free(&body);
}

void pb_packed_floats(pb *b, uint32_t field, const float *v, size_t n)
{
    pb_bytes(b, field, v, n * sizeof *v);
}

void pb_free(pb *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

void pb_tensor_head(pb *t, const char *name, int32_t dtype, int rank, const int64_t *dims)
{
    for (int i = 0; i < rank; i++)
        pb_int(t, PB_TENSOR_DIMS, dims[i]);
    pb_int(t, PB_TENSOR_DATA_TYPE, dtype);
    pb_str(t, PB_TENSOR_NAME, name);
}

void pb_entry(pb *b, uint32_t field, const char *key, const char *value)
{
    pb e = {0};
    pb_str(&e, PB_ENTRY_KEY, key);
    pb_str(&e, PB_ENTRY_VALUE, value);
    pb_msg(b, field, &e);
    pb_free(&e);
}

void pb_tensor_external(pb *t, const char *name, int32_t dtype, int rank, const int64_t *dims,
                        const char *location, const char *offset, const char *length)
{
    pb_tensor_head(t, name, dtype, rank, dims);
    pb_entry(t, PB_TENSOR_EXTERNAL_DATA, "location", location);
    if (offset)
        pb_entry(t, PB_TENSOR_EXTERNAL_DATA, "offset", offset);
    if (length)
        pb_entry(t, PB_TENSOR_EXTERNAL_DATA, "length", length);
    pb_int(t, PB_TENSOR_DATA_LOCATION, PB_DATA_LOCATION_EXTERNAL);
}

/* ValueInfoProto for a float tensor whose dims are a symbol (NULL: none)
 * followed by a fixed size. */
static void value_info(pb *vi, const char *name, const char *symbol, int64_t fixed)
{
    pb shape = {0}, d0 = {0}, d1 = {0}, tensor = {0}, type = {0};
    pb_str(&d0, PB_DIM_PARAM, symbol);
    pb_int(&d1, PB_DIM_VALUE, fixed);
    pb_msg(&shape, PB_SHAPE_DIM, &d0);
    pb_msg(&shape, PB_SHAPE_DIM, &d1);
    pb_int(&tensor, PB_TYPE_TENSOR_ELEM_TYPE, PB_FLOAT);
    pb_msg(&tensor, PB_TYPE_TENSOR_SHAPE, &shape);
    pb_msg(&type, PB_TYPE_TENSOR, &tensor);
    pb_str(vi, PB_VALUE_INFO_NAME, name);
    pb_msg(vi, PB_VALUE_INFO_TYPE, &type);
    pb_free(&shape);
    pb_free(&d0);
    pb_free(&d1);
    pb_free(&tensor);
    pb_free(&type);
}

void pb_model_matmul(pb *model, int64_t ir_version, const pb *graph_fields)
{
    pb node = {0}, graph = {0}, opset = {0}, x = {0}, y = {0};
    pb_str(&node, PB_NODE_INPUT, "X");
    pb_str(&node, PB_NODE_INPUT, "W");
    pb_str(&node, PB_NODE_OUTPUT, "Y");
    pb_str(&node, PB_NODE_NAME, "mm");
    pb_str(&node, PB_NODE_OP_TYPE, "MatMul");
    value_info(&x, "X", "N", 4);
    value_info(&y, "Y", "N", 3);
    pb_msg(&graph, PB_GRAPH_NODE, &node);
    pb_str(&graph, PB_GRAPH_NAME, "g");
    if (graph_fields)
        pb_append(&graph, graph_fields->data, graph_fields->len);
    pb_msg(&graph, PB_GRAPH_INPUT, &x);
    pb_msg(&graph, PB_GRAPH_OUTPUT, &y);
    pb_str(&opset, PB_OPSET_DOMAIN, "");
    pb_int(&opset, PB_OPSET_VERSION, PB_TEST_OPSET);
    pb_int(model, PB_MODEL_IR_VERSION, ir_version);
    pb_str(model, PB_MODEL_PRODUCER_NAME, "lpsparsify-tests");
    pb_msg(model, PB_MODEL_GRAPH, &graph);
    pb_msg(model, PB_MODEL_OPSET_IMPORT, &opset);
    pb_free(&node);
    pb_free(&graph);
    pb_free(&opset);
    pb_free(&x);
    pb_free(&y);
}

void pb_write_file(const pb *b, const char *path)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        ck_abort_msg("cannot create %s", path);
    size_t n = b->len ? fwrite(b->data, 1, b->len, f) : 0;
    int closed = fclose(f);
    if (n != b->len || closed != 0)
        ck_abort_msg("cannot write %s", path);
}
