# End-to-end tests of the lpsparsify executable (tests/e2e).
#
# check_cli.py needs only python3; check_inspect.py also needs the onnx and
# numpy modules (Debian: python3-onnx, python3-numpy, installed by
# scripts/install-deps.sh). /usr/bin/python3 is preferred because a
# user-level python (pyenv, venv) often lacks the Debian modules.
if(NOT TARGET lpsparsify_cli)
  return()
endif()

find_program(LPS_PYTHON3 NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH)
find_program(LPS_PYTHON3 NAMES python3)
if(NOT LPS_PYTHON3)
  message(WARNING "python3 not found: the e2e tests are not built")
  return()
endif()
execute_process(COMMAND ${LPS_PYTHON3} -c "import onnx, numpy"
                RESULT_VARIABLE LPS_PYTHON3_ONNX OUTPUT_QUIET ERROR_QUIET)

set(LPS_E2E_WORK ${CMAKE_BINARY_DIR}/e2e)
foreach(case help version unknown_option bad_usage missing_file bad_model default_command json_routing)
  add_test(NAME e2e_cli_${case}
           COMMAND ${LPS_PYTHON3} ${CMAKE_CURRENT_LIST_DIR}/check_cli.py ${case}
                   $<TARGET_FILE:lpsparsify_cli> ${LPS_E2E_WORK}/cli_${case} ${CMAKE_SOURCE_DIR})
endforeach()

if(NOT LPS_PYTHON3_ONNX EQUAL 0)
  message(WARNING "${LPS_PYTHON3} cannot import onnx and numpy: e2e inspect tests are not built")
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
                 /usr/share/libonnx-testdata/data)
