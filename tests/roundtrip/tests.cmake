# Round trip: every ONNX model of libonnx's test data loads and serializes
# back byte-identical when nothing was changed.
set(LPS_ONNX_TESTDATA /usr/share/libonnx-testdata/data)
set(LPS_ONNX_TESTDATA_MIN_MODELS 1072)
add_executable(roundtrip_all ${CMAKE_CURRENT_LIST_DIR}/roundtrip_all.c)
target_link_libraries(roundtrip_all PRIVATE lpsparsify)
add_test(NAME roundtrip_testdata
         COMMAND roundtrip_all ${LPS_ONNX_TESTDATA} ${LPS_ONNX_TESTDATA_MIN_MODELS})
