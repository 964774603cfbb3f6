# End-to-end checks of train, eval and run (tests/e2e_train) on the bundled
# LeNet-300-100 and a small generated dataset: training determinism for a
# fixed seed and thread count, eval's JSON, run against a numpy forward.
lps_python_suite_ready(LPS_TRAIN_PYTHON_OK "the e2e train tests")
if(NOT LPS_TRAIN_PYTHON_OK)
  return()
endif()
foreach(case determinism eval run)
  add_test(NAME e2e_train_${case}
           COMMAND ${LPS_PYTHON3} ${CMAKE_CURRENT_LIST_DIR}/check_train.py ${case}
                   $<TARGET_FILE:lpsparsify_cli> ${CMAKE_BINARY_DIR}/e2e_train/${case} ${CMAKE_SOURCE_DIR})
endforeach()

# Sequence datasets (int64 tokens with a mask, float sequences into an
# LSTM) against onnxruntime-node, installed by scripts/install-deps.sh.
foreach(case tokens lstm)
  add_test(NAME e2e_sequences_${case}
           COMMAND ${LPS_PYTHON3} ${CMAKE_CURRENT_LIST_DIR}/check_sequences.py ${case}
                   $<TARGET_FILE:lpsparsify_cli> ${LPS_NODE} ${CMAKE_BINARY_DIR}/e2e_sequences/${case} ${CMAKE_SOURCE_DIR})
endforeach()
