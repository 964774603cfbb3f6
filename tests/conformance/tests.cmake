# ONNX conformance: one ctest per case folder whose operators are supported,
# registered after the runner is built, plus a summary that runs every case
# and lists each unsupported one with its reason. known_differences.txt
# lists the cases where ONNX's reference and onnxruntime disagree and we
# follow onnxruntime (those run as interop tests instead).
set(LPS_CONFORMANCE_ROOTS
  ${LPS_ONNX_TESTDATA}/node
  ${LPS_ONNX_TESTDATA}/pytorch-converted
  ${LPS_ONNX_TESTDATA}/pytorch-operator)
add_executable(conformance_runner ${CMAKE_CURRENT_SOURCE_DIR}/conformance/runner.c)
target_include_directories(conformance_runner PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(conformance_runner PRIVATE lpsparsify)
set(LPS_CONFORMANCE_CTEST ${CMAKE_CURRENT_BINARY_DIR}/conformance_tests.cmake)
set(LPS_CONFORMANCE_KNOWN ${CMAKE_CURRENT_SOURCE_DIR}/conformance/known_differences.txt)
# an edited list rebuilds the runner, which registers the cases again
set_source_files_properties(${CMAKE_CURRENT_SOURCE_DIR}/conformance/runner.c PROPERTIES
  OBJECT_DEPENDS ${LPS_CONFORMANCE_KNOWN})
add_custom_command(TARGET conformance_runner POST_BUILD
  COMMAND conformance_runner --emit-ctest ${LPS_CONFORMANCE_CTEST} $<TARGET_FILE:conformance_runner> ${LPS_CONFORMANCE_KNOWN} ${LPS_CONFORMANCE_ROOTS}
  COMMENT "Registering ONNX conformance cases")
set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES ${LPS_CONFORMANCE_CTEST})
add_test(NAME conformance_summary COMMAND conformance_runner --summary ${LPS_CONFORMANCE_KNOWN} ${LPS_CONFORMANCE_ROOTS})
