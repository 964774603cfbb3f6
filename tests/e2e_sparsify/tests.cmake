# End-to-end checks of the sparsify command (tests/e2e_sparsify): a small
# generated Conv + Gemm model and NPY dataset, two epochs per run, every
# figure recounted with numpy and onnx (python3-onnx, python3-numpy).
lps_python_suite_ready(LPS_SPARSIFY_PYTHON_OK "the e2e sparsify tests" IMPORTS onnx numpy)
if(NOT LPS_SPARSIFY_PYTHON_OK)
  return()
endif()
foreach(case methods layers max_drop output_name distill sequence embeddings lpsgd_step)
  add_test(NAME e2e_sparsify_${case}
           COMMAND ${LPS_PYTHON3} ${CMAKE_CURRENT_LIST_DIR}/check_sparsify.py ${case}
                   $<TARGET_FILE:lpsparsify_cli> ${CMAKE_BINARY_DIR}/e2e_sparsify/${case})
endforeach()

# A weight with strided rows (ConvTranspose), recounted with numpy.
add_test(NAME e2e_sparsify_strided_rows
         COMMAND ${LPS_PYTHON3} ${CMAKE_CURRENT_LIST_DIR}/check_strided_rows.py
                 $<TARGET_FILE:lpsparsify_cli> ${CMAKE_BINARY_DIR}/e2e_sparsify/strided_rows)

# --pattern N:M on every method, verified by the test's own N:M checker on
# the written files: a generated model (every weight form), the bundled
# models on a Fashion-MNIST subset, the ResNet and LSTM torch fixtures.
foreach(case generated bundled torch)
  add_test(NAME e2e_sparsify_pattern_${case}
           COMMAND ${LPS_PYTHON3} ${CMAKE_CURRENT_LIST_DIR}/check_pattern.py ${case}
                   $<TARGET_FILE:lpsparsify_cli> ${CMAKE_BINARY_DIR}/e2e_sparsify/pattern_${case}
                   ${CMAKE_SOURCE_DIR})
endforeach()
if(NOT EXISTS /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz)
  set_tests_properties(e2e_sparsify_pattern_bundled PROPERTIES DISABLED TRUE)
endif()

# --recipe FILE.json: round trip against the flags, overrides, every error
# class, and docs/recipe.md against `sparsify --help`.
add_test(NAME e2e_sparsify_recipe
         COMMAND ${LPS_PYTHON3} ${CMAKE_CURRENT_LIST_DIR}/check_recipe.py
                 $<TARGET_FILE:lpsparsify_cli> ${CMAKE_BINARY_DIR}/e2e_sparsify/recipe
                 ${CMAKE_SOURCE_DIR})

# sensitivity: every point recomputed with numpy, --samples subsets, the
# suggested recipe re-run through sparsify --recipe, the usage errors.
add_test(NAME e2e_sparsify_sensitivity
         COMMAND ${LPS_PYTHON3} ${CMAKE_CURRENT_LIST_DIR}/check_sensitivity.py
                 $<TARGET_FILE:lpsparsify_cli> ${CMAKE_BINARY_DIR}/e2e_sparsify/sensitivity)

# onnxruntime-node (npm, tests/interop/package.json) as the independent
# runtime; the test reports SKIP while the module is not installed.
if(LPS_NODE)
  add_test(NAME e2e_sparsify_ort
           COMMAND ${LPS_PYTHON3} ${CMAKE_CURRENT_LIST_DIR}/check_sparsify.py ort
                   $<TARGET_FILE:lpsparsify_cli> ${CMAKE_BINARY_DIR}/e2e_sparsify/ort
                   ${CMAKE_SOURCE_DIR} ${LPS_NODE} ${CMAKE_CURRENT_LIST_DIR}/ort_accuracy.js)
  set_tests_properties(e2e_sparsify_ort PROPERTIES SKIP_RETURN_CODE 77
                       ENVIRONMENT "NODE_PATH=${CMAKE_SOURCE_DIR}/tests/interop/node_modules")
else()
  message(WARNING "node not found: e2e_sparsify_ort is not built")
endif()

# The calibrated one-shot methods (Wanda's masks recomputed with numpy),
# --epochs 0 and fine-tuning with the mask frozen; Wanda per row and per
# layer recomputed on the bundled LeNet-300-100 over Fashion-MNIST.
add_test(NAME e2e_sparsify_oneshot
         COMMAND ${LPS_PYTHON3} ${CMAKE_CURRENT_LIST_DIR}/check_oneshot.py generated
                 $<TARGET_FILE:lpsparsify_cli> ${CMAKE_BINARY_DIR}/e2e_sparsify/oneshot)
add_test(NAME e2e_sparsify_oneshot_lenet
         COMMAND ${LPS_PYTHON3} ${CMAKE_CURRENT_LIST_DIR}/check_oneshot.py lenet
                 $<TARGET_FILE:lpsparsify_cli> ${CMAKE_BINARY_DIR}/e2e_sparsify/oneshot_lenet
                 ${CMAKE_SOURCE_DIR})
if(NOT EXISTS /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz)
  set_tests_properties(e2e_sparsify_oneshot_lenet PROPERTIES DISABLED TRUE)
endif()
