# End-to-end tests of the lpsparsify executable (tests/e2e).
#
# check_cli.py needs only python3; check_inspect.py also needs the onnx and
# numpy modules (Debian: python3-onnx, python3-numpy, installed by
# scripts/install-deps.sh).
lps_python_suite_ready(LPS_E2E_PYTHON_OK "the e2e tests")
if(NOT LPS_E2E_PYTHON_OK)
  return()
endif()

set(LPS_E2E_WORK ${CMAKE_BINARY_DIR}/e2e)
foreach(case help version unknown_option bad_usage missing_file bad_model default_command json_routing)
  add_test(NAME e2e_cli_${case}
           COMMAND ${LPS_PYTHON3} ${CMAKE_CURRENT_LIST_DIR}/check_cli.py ${case}
                   $<TARGET_FILE:lpsparsify_cli> ${LPS_E2E_WORK}/cli_${case} ${CMAKE_SOURCE_DIR})
endforeach()

# OpenMP workers sleep between regions (src/cli/main.c re-executes with
# OMP_WAIT_POLICY=PASSIVE): the image libgomp reports last has no spin.
add_test(NAME e2e_cli_openmp_workers_sleep COMMAND $<TARGET_FILE:lpsparsify_cli> --version)
set_tests_properties(e2e_cli_openmp_workers_sleep PROPERTIES
  ENVIRONMENT "OMP_DISPLAY_ENV=verbose"
  PASS_REGULAR_EXPRESSION "GOMP_SPINCOUNT = '0'")

lps_python_suite_ready(LPS_E2E_INSPECT_PYTHON_OK "the e2e inspect tests" IMPORTS onnx numpy)
if(NOT LPS_E2E_INSPECT_PYTHON_OK)
  return()
endif()
foreach(case matmul conv_bn gemm zeros)
  add_test(NAME e2e_inspect_${case}
           COMMAND ${LPS_PYTHON3} ${CMAKE_CURRENT_LIST_DIR}/check_inspect.py ${case}
                   $<TARGET_FILE:lpsparsify_cli> ${LPS_E2E_WORK}/inspect_${case})
endforeach()
add_test(NAME e2e_inspect_lenet
         COMMAND ${LPS_PYTHON3} ${CMAKE_CURRENT_LIST_DIR}/check_inspect.py lenet
                 $<TARGET_FILE:lpsparsify_cli> ${LPS_E2E_WORK}/inspect_lenet ${CMAKE_SOURCE_DIR})
# Every real PyTorch export of libonnx's test data that has weights.
add_test(NAME e2e_inspect_testdata
         COMMAND ${LPS_PYTHON3} ${CMAKE_CURRENT_LIST_DIR}/check_inspect.py testdata
                 $<TARGET_FILE:lpsparsify_cli> ${LPS_E2E_WORK}/inspect_testdata
                 ${LPS_ONNX_TESTDATA})
