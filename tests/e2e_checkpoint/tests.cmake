# Checkpoint and resume end to end (tests/e2e_checkpoint): a run interrupted
# mid-epoch by SIGINT (raised at a known step through the test-only
# LPS_TEST_SIGINT_AFTER_STEP) and resumed gives the same model and report,
# byte for byte (wall-clock fields aside), as an uninterrupted one; other
# options, another model and damaged checkpoints are refused (exit 2).
lps_python_suite_ready(LPS_CHECKPOINT_PYTHON_OK "the e2e checkpoint tests" IMPORTS onnx numpy)
if(NOT LPS_CHECKPOINT_PYTHON_OK)
  return()
endif()
foreach(case lpss_mlp gmp_cnn train_cnn wanda_lpss_cnn refusals)
  add_test(NAME e2e_checkpoint_${case}
           COMMAND ${LPS_PYTHON3} ${CMAKE_CURRENT_LIST_DIR}/check_checkpoint.py ${case}
                   $<TARGET_FILE:lpsparsify_cli> ${CMAKE_BINARY_DIR}/e2e_checkpoint/${case}
                   ${CMAKE_SOURCE_DIR})
endforeach()
