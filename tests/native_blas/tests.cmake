# The unit tests whose ops choose a kernel by OpenBLAS's core, run a second
# time on the core the product runs (tests/native_blas/launch.c). On a CPU
# where OpenBLAS already picks that core the second run is skipped.
# Every listed name must be a unit test: configuring fails otherwise.
set(LPS_NATIVE_BLAS_TESTS
  test_conv test_conv_transpose test_conv_inference test_depthwise test_packed_gemm
  test_matmul test_gemm test_trainer)
add_executable(native_blas ${CMAKE_CURRENT_LIST_DIR}/launch.c)
target_include_directories(native_blas PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(native_blas PRIVATE lpsparsify)
foreach(name ${LPS_NATIVE_BLAS_TESTS})
  if(NOT TARGET ${name})
    message(FATAL_ERROR "tests/native_blas: ${name} is not a unit test")
  endif()
  add_test(NAME ${name}_native_blas COMMAND native_blas $<TARGET_FILE:${name}>)
  get_test_property(${name} ENVIRONMENT unit_env)
  set_tests_properties(${name}_native_blas PROPERTIES ENVIRONMENT "${unit_env}"
                       SKIP_RETURN_CODE 77)
endforeach()
