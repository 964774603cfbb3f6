/* Placeholder translation unit replaced by the ONNX I/O module. */
#include "lpsparsify/model.h"
#include "onnx.pb-c.h"
struct lps_onnx_handle { Onnx__ModelProto *proto; };
void lps_onnx_handle_free(lps_onnx_handle *h);
void lps_onnx_handle_free(lps_onnx_handle *h) { if (h) { onnx__model_proto__free_unpacked(h->proto, NULL); } }
