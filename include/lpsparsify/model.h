/* The project's own model and graph representation.
 *
 * src/onnx converts an ONNX ModelProto into this form on load and merges the
 * changed initializers back on save; nothing else in the project sees the
 * protobuf types. Everything the engine does not interpret (doc strings,
 * metadata, functions, training info, unknown fields) stays in the opaque
 * `source` the loader attaches, so that a save preserves it. The IR does not
 * know the file format: the loader also hands over the function that frees
 * its source. */
#ifndef LPSPARSIFY_MODEL_H
#define LPSPARSIFY_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lpsparsify/error.h"
#include "lpsparsify/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ONNX AttributeProto.AttributeType numbering. */
typedef enum lps_attr_type {
    LPS_ATTR_UNDEFINED = 0,
    LPS_ATTR_FLOAT = 1,
    LPS_ATTR_INT = 2,
    LPS_ATTR_STRING = 3,
    LPS_ATTR_TENSOR = 4,
    LPS_ATTR_GRAPH = 5,
    LPS_ATTR_FLOATS = 6,
    LPS_ATTR_INTS = 7,
    LPS_ATTR_STRINGS = 8,
    LPS_ATTR_TENSORS = 9,
    LPS_ATTR_GRAPHS = 10,
    LPS_ATTR_SPARSE_TENSOR = 11,
    LPS_ATTR_SPARSE_TENSORS = 12,
    LPS_ATTR_TYPE_PROTO = 13,
    LPS_ATTR_TYPE_PROTOS = 14
} lps_attr_type;

typedef struct lps_attr {
    char *name;
    lps_attr_type type;
    float f;
    int64_t i;
    char *s;             /* NUL-terminated copy of a STRING attribute */
    size_t s_len;        /* its length in bytes (may contain NULs) */
    lps_tensor *t;       /* TENSOR (and SPARSE_TENSOR, densified) */
    float *floats;
    size_t n_floats;
    int64_t *ints;
    size_t n_ints;
    char **strings;
    size_t n_strings;
    char *ref_attr_name; /* set inside functions; the engine rejects it */
} lps_attr;

typedef struct lps_node {
    char *name;          /* may be "" in ONNX; the engine names it op#index */
    char *op_type;
    char *domain;        /* "" for the default ONNX domain */
    size_t n_inputs;
    char **inputs;       /* "" marks an omitted optional input */
    size_t n_outputs;
    char **outputs;
    size_t n_attrs;
    lps_attr *attrs;
} lps_node;

/* A dimension of a declared shape: a fixed value, a symbol such as "N" or
 * "batch_size", or unknown. */
typedef struct lps_dim {
    int64_t value;       /* >= 0 when fixed, -1 otherwise */
    char *symbol;        /* non-NULL for a symbolic dim */
} lps_dim;

typedef struct lps_value_info {
    char *name;
    lps_dtype dtype;     /* LPS_DT_UNDEFINED when not a tensor type */
    int rank;            /* -1 when the shape is not declared */
    lps_dim dims[LPS_MAX_RANK];
} lps_value_info;

typedef struct lps_initializer {
    char *name;
    lps_tensor tensor;
    bool was_sparse;     /* came from graph.sparse_initializer */
    bool modified;       /* set by whoever changes tensor; save rewrites it */
} lps_initializer;

typedef struct lps_opset {
    char *domain;        /* "" or "ai.onnx" for the default domain */
    int64_t version;
} lps_opset;

typedef struct lps_graph {
    char *name;
    size_t n_nodes;
    lps_node *nodes;
    size_t n_initializers;
    lps_initializer *initializers;
    size_t n_inputs;
    lps_value_info *inputs;   /* may also list initializers (IR < 4 style) */
    size_t n_outputs;
    lps_value_info *outputs;
    size_t n_value_infos;
    lps_value_info *value_infos;
} lps_graph;

/* How save stores a modified initializer. */
typedef enum lps_storage {
    LPS_STORAGE_DENSE = 0,   /* graph.initializer with raw_data */
    LPS_STORAGE_SPARSE,      /* graph.sparse_initializer, COO, linear int64 indices */
    LPS_STORAGE_AUTO         /* whichever serializes smaller */
} lps_storage;

typedef struct lps_model {
    char *path;              /* file it was loaded from (for messages) */
    char *dir;               /* its folder, for external data */
    size_t file_bytes;
    int64_t ir_version;
    char *producer_name;
    char *producer_version;
    size_t n_opsets;
    lps_opset *opsets;
    lps_graph graph;
    /* What the loader keeps of the file for a lossless save (src/onnx: the
     * bytes and their parse) and how to free it; both NULL for a model
     * built in memory. lps_model_free calls source_free(source). */
    void *source;
    void (*source_free)(void *source);
} lps_model;

/* Opset version the model imports for a domain ("" = default ONNX domain,
 * "ai.onnx" is treated as the same). Returns 0 when not imported. */
int64_t lps_model_opset(const lps_model *m, const char *domain);

/* Finds an initializer by name; NULL when absent. */
lps_initializer *lps_graph_find_initializer(const lps_graph *g, const char *name);

/* Finds an attribute of a node by name; NULL when absent. */
const lps_attr *lps_node_attr(const lps_node *n, const char *name);

/* Frees everything a model owns, including its loader's source, and the
 * struct itself. NULL is accepted. */
void lps_model_free(lps_model *m);

/* Releases the members of graph/node/attr/value_info structs (not the structs
 * themselves). NULL is accepted. Used by the loader while building a model. */
void lps_graph_release(lps_graph *g);
void lps_node_release(lps_node *n);
void lps_attr_release(lps_attr *a);
void lps_value_info_release(lps_value_info *v);

/* Loads an ONNX model file. Returns NULL and fills err on failure; the
 * message starts with the path. Tensors from raw_data, typed fields and
 * external data (resolved inside the model's folder only) are decoded into
 * dense lps_tensors; sparse initializers are densified. */
lps_model *lps_model_load(const char *path, lps_error *err);

/* Loads a model from memory; `name` is used in messages and `dir` (may be
 * NULL) is where external data is looked up. */
lps_model *lps_model_load_buffer(const void *data, size_t len, const char *name,
                                 const char *dir, lps_error *err);

/* Serializes the model: the bytes it was loaded from with every initializer
 * marked `modified` replaced by its current tensor (always stored inside the
 * model, as `storage` says); everything else is preserved byte for byte, so
 * an unmodified model gives back exactly its input. External data references
 * of unmodified tensors are kept as they are (relative to the model's
 * folder). On success *out is a malloc'd buffer the caller frees. Fails with
 * LPS_ERR_UNSUPPORTED (string tensors, sparse storage before IR version 6,
 * over 2 GiB), LPS_ERR_NOMEM or LPS_ERR_RUNTIME (inconsistent model). */
lps_status lps_model_serialize(const lps_model *m, lps_storage storage,
                               uint8_t **out, size_t *out_len, lps_error *err);

/* Writes the serialized model to path atomically: a temporary file in the
 * destination folder, fsync, rename; nothing is left behind on failure.
 * Refuses (LPS_ERR_INVALID) a path that is the loaded file itself, also
 * through links. Saving into another folder than the model's also rewrites
 * the initializers held in external files into the model, since their
 * relative locations would not resolve from there; other external tensors
 * (node attributes, functions) make that LPS_ERR_UNSUPPORTED. Other failures
 * as for lps_model_serialize, and LPS_ERR_IO. */
lps_status lps_model_save(const lps_model *m, const char *path, lps_storage storage,
                          lps_error *err);

/* Reads a serialized TensorProto (.pb file of ONNX's test data) into t, which
 * must be zeroed or hold a tensor (released on success; untouched on
 * failure). External data is resolved in the file's folder. When name_out is
 * non-NULL it receives the tensor's name, malloc'd, for the caller to free.
 * Fails with LPS_ERR_IO (unreadable), LPS_ERR_INVALID (not a TensorProto,
 * malformed), LPS_ERR_UNSUPPORTED (element type) or LPS_ERR_NOMEM; the
 * message starts with path. */
lps_status lps_tensor_load_pb(const char *path, lps_tensor *t, char **name_out,
                              lps_error *err);

#ifdef __cplusplus
}
#endif
#endif
