# The catalogue of bad inputs (tests/bad/cases.py, driver tests/bad/bad.py):
# one ctest per case. Each checks the exit code, the one-line message and
# that nothing is left behind or modified. Needs python3 with onnx and numpy
# (Debian python3-onnx, python3-numpy).
lps_python_suite_ready(LPS_BAD_PYTHON_OK "the bad-input catalogue" IMPORTS onnx numpy)
if(NOT LPS_BAD_PYTHON_OK)
  return()
endif()
set(LPS_BAD_DRIVER ${CMAKE_CURRENT_LIST_DIR}/bad.py)
execute_process(COMMAND ${LPS_PYTHON3} ${LPS_BAD_DRIVER} lpsparsify --list
                RESULT_VARIABLE LPS_BAD_LIST_STATUS OUTPUT_VARIABLE LPS_BAD_CASES
                ERROR_VARIABLE LPS_BAD_LIST_ERROR)
if(NOT LPS_BAD_LIST_STATUS EQUAL 0)
  message(FATAL_ERROR "${LPS_BAD_DRIVER} --list failed (${LPS_BAD_LIST_STATUS}): ${LPS_BAD_LIST_ERROR}")
endif()
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/cases.py)
string(REPLACE "\n" ";" LPS_BAD_CASES "${LPS_BAD_CASES}")
# The driver exits 77 when a case cannot run here (e.g. permissions as root).
set(LPS_BAD_SKIP 77)
foreach(case ${LPS_BAD_CASES})
  if(case STREQUAL "")
    continue()
  endif()
  add_test(NAME bad_${case}
           COMMAND ${LPS_PYTHON3} ${LPS_BAD_DRIVER} $<TARGET_FILE:lpsparsify_cli> ${case})
  set_tests_properties(bad_${case} PROPERTIES SKIP_RETURN_CODE ${LPS_BAD_SKIP})
endforeach()

# A sample of the catalogue under valgrind (memcheck, leaks as errors): one
# case per kind of failure path. Not in the sanitizer build, where ASan and
# LeakSanitizer already watch every case.
find_program(LPS_VALGRIND valgrind)
if(LPS_VALGRIND AND NOT LPS_SANITIZE)
  add_test(NAME bad_valgrind_sample
           COMMAND ${LPS_PYTHON3} ${LPS_BAD_DRIVER} $<TARGET_FILE:lpsparsify_cli>
                   model_truncated model_graph_cycle model_nan_weight csv_ragged_rows
                   output_folder_missing)
  set_tests_properties(bad_valgrind_sample PROPERTIES ENVIRONMENT
    "LPS_BAD_WRAPPER=${LPS_VALGRIND} -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect")
endif()

# Output safety: SIGINT/SIGTERM while training stops with exit 130 and
# leaves nothing; a read-only model is never modified (tests/bad/output_safety.py).
set(LPS_SAFETY_DRIVER ${CMAKE_CURRENT_LIST_DIR}/output_safety.py)
foreach(command sparsify train)
  foreach(signal INT TERM)
    add_test(NAME bad_interrupt_${command}_sig${signal}
             COMMAND ${LPS_PYTHON3} ${LPS_SAFETY_DRIVER} $<TARGET_FILE:lpsparsify_cli>
                     interrupt ${command} ${signal})
  endforeach()
  add_test(NAME bad_read_only_input_${command}
           COMMAND ${LPS_PYTHON3} ${LPS_SAFETY_DRIVER} $<TARGET_FILE:lpsparsify_cli>
                   read_only_input ${command})
endforeach()
