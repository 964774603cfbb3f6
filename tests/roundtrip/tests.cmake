# Round trip: every ONNX model of libonnx's test data loads and serializes
# back byte-identical when nothing was changed.
set(LPS_ONNX_TESTDATA_MIN_MODELS 1072)
add_executable(roundtrip_all ${CMAKE_CURRENT_LIST_DIR}/roundtrip_all.c)
target_link_libraries(roundtrip_all PRIVATE lpsparsify)
add_test(NAME roundtrip_testdata
         COMMAND roundtrip_all ${LPS_ONNX_TESTDATA} ${LPS_ONNX_TESTDATA_MIN_MODELS})
# The same models with every initializer rewritten through the splice.
add_test(NAME roundtrip_rewrite_testdata
         COMMAND roundtrip_all --rewrite ${LPS_ONNX_TESTDATA} ${LPS_ONNX_TESTDATA_MIN_MODELS})

# Modify one initializer, save (dense, sparse, auto), reload and compare;
# then the reference ONNX checker must accept every saved file.
set(LPS_ROUNDTRIP_OUT ${CMAKE_CURRENT_BINARY_DIR}/roundtrip_out)
add_executable(roundtrip_modify ${CMAKE_CURRENT_LIST_DIR}/roundtrip_modify.c)
target_link_libraries(roundtrip_modify PRIVATE lpsparsify lps_test_support PkgConfig::CHECK)
add_test(NAME roundtrip_modify COMMAND roundtrip_modify)
set_tests_properties(roundtrip_modify PROPERTIES
  ENVIRONMENT "CK_FORK=yes;LPS_ROUNDTRIP_OUT=${LPS_ROUNDTRIP_OUT}"
  FIXTURES_SETUP lps_roundtrip_saved)
set(LPS_ROUNDTRIP_SAVED linear_dense.onnx linear_auto.onnx matmul_dense.onnx
    matmul_sparse.onnx matmul_resparse_dense.onnx)
list(TRANSFORM LPS_ROUNDTRIP_SAVED PREPEND ${LPS_ROUNDTRIP_OUT}/)
add_test(NAME roundtrip_onnx_checker
         COMMAND ${LPS_PYTHON3} -c
           "import sys, onnx; [onnx.checker.check_model(onnx.load(p)) for p in sys.argv[1:]]; print('onnx.checker accepted', len(sys.argv) - 1, 'files')"
           ${LPS_ROUNDTRIP_SAVED})
set_tests_properties(roundtrip_onnx_checker PROPERTIES FIXTURES_REQUIRED lps_roundtrip_saved)
