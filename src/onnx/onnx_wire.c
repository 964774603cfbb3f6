/* Just enough of the protobuf wire format to walk a serialized message field
 * by field and to write length-delimited fields. The save path uses it to
 * copy everything it does not change byte for byte. */
#include "onnx/onnx_internal.h"

#include <stdlib.h>
#include <string.h>

/* A varint never needs more than 10 bytes for 64 bits. */
#define WIRE_VARINT_MAX_BYTES 10
#define WIRE_VARINT_PAYLOAD_BITS 7
#define WIRE_VARINT_MORE 0x80u
#define WIRE_VARINT_MASK 0x7Fu
#define WIRE_TYPE_BITS 3
#define WIRE_TYPE_MASK 0x7u
#define WIRE_FIXED64_BYTES 8
#define WIRE_FIXED32_BYTES 4
#define WIRE_MAX_FIELD_NUMBER 536870911u /* 2^29 - 1 */
#define WIRE_BUF_MIN_CAP 4096

static bool read_varint(const uint8_t *buf, size_t len, size_t *pos, uint64_t *v)
{
    uint64_t value = 0;
    for (int i = 0; i < WIRE_VARINT_MAX_BYTES; i++) {
        if (*pos >= len)
            return false;
        uint8_t byte = buf[(*pos)++];
        value |= (uint64_t)(byte & WIRE_VARINT_MASK) << (WIRE_VARINT_PAYLOAD_BITS * i);
        if (!(byte & WIRE_VARINT_MORE)) {
            *v = value;
            return true;
        }
    }
    return false;
}

bool wire_next_field(const uint8_t *buf, size_t len, size_t *pos, wire_field *f)
{
    uint64_t tag;
    size_t p = *pos;
    f->start = p;
    if (!read_varint(buf, len, &p, &tag))
        return false;
    uint64_t number = tag >> WIRE_TYPE_BITS;
    if (number == 0 || number > WIRE_MAX_FIELD_NUMBER)
        return false;
    f->number = (uint32_t)number;
    f->wire_type = (uint32_t)(tag & WIRE_TYPE_MASK);
    uint64_t scratch;
    switch (f->wire_type) {
    case WIRE_VARINT:
        f->value_start = p;
        if (!read_varint(buf, len, &p, &scratch))
            return false;
        break;
    case WIRE_FIXED64:
        if (len - p < WIRE_FIXED64_BYTES)
            return false;
        f->value_start = p;
        p += WIRE_FIXED64_BYTES;
        break;
    case WIRE_FIXED32:
        if (len - p < WIRE_FIXED32_BYTES)
            return false;
        f->value_start = p;
        p += WIRE_FIXED32_BYTES;
        break;
    case WIRE_LEN:
        if (!read_varint(buf, len, &p, &scratch) || scratch > len - p)
            return false;
        f->value_start = p;
        p += (size_t)scratch;
        break;
    default:
        return false;
    }
    f->end = p;
    *pos = p;
    return true;
}

static bool reserve(wire_buf *b, size_t extra)
{
    if (extra > SIZE_MAX - b->len)
        return false;
    size_t need = b->len + extra;
    if (need <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : WIRE_BUF_MIN_CAP;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    uint8_t *data = realloc(b->data, cap);
    if (!data)
        return false;
    b->data = data;
    b->cap = cap;
    return true;
}

bool wire_put_bytes(wire_buf *b, const void *data, size_t n)
{
    if (n == 0)
        return true;
    if (!reserve(b, n))
        return false;
    memcpy(b->data + b->len, data, n);
    b->len += n;
    return true;
}

bool wire_put_varint(wire_buf *b, uint64_t v)
{
    uint8_t tmp[WIRE_VARINT_MAX_BYTES];
    size_t n = 0;
    do {
        uint8_t byte = (uint8_t)(v & WIRE_VARINT_MASK);
        v >>= WIRE_VARINT_PAYLOAD_BITS;
        tmp[n++] = v ? (uint8_t)(byte | WIRE_VARINT_MORE) : byte;
    } while (v);
    return wire_put_bytes(b, tmp, n);
}

bool wire_put_len_field(wire_buf *b, uint32_t number, const void *data, size_t n)
{
    uint64_t tag = ((uint64_t)number << WIRE_TYPE_BITS) | WIRE_LEN;
    return wire_put_varint(b, tag) && wire_put_varint(b, n) && wire_put_bytes(b, data, n);
}

void wire_buf_release(wire_buf *b)
{
    if (!b)
        return;
    free(b->data);
    memset(b, 0, sizeof *b);
}
