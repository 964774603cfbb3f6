# tests/models: the bundled models' accuracy, and the real-exporter fixtures.
if(NOT TARGET lpsparsify_cli)
  return()
endif()

# The bundled trained models reach their documented Fashion-MNIST test
# accuracy (models/README.md). Needs the Debian dataset-fashion-mnist files;
# label "models" (ctest -L models / -LE models).
set(LPS_FASHION_MNIST_TEST /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz)
if(EXISTS ${LPS_FASHION_MNIST_TEST})
  set(LPS_MODEL_TARGETS
      "${CMAKE_SOURCE_DIR}/models/lenet300.onnx=0.89,${CMAKE_SOURCE_DIR}/models/cnn.onnx=0.915")
  add_test(NAME models_accuracy
           COMMAND ${CMAKE_COMMAND} -DTOOL=$<TARGET_FILE:lpsparsify_cli>
                   "-DMODELS=${LPS_MODEL_TARGETS}" -P ${CMAKE_CURRENT_LIST_DIR}/check_accuracy.cmake)
  set_tests_properties(models_accuracy PROPERTIES LABELS models)
else()
  message(WARNING "${LPS_FASHION_MNIST_TEST} missing: the bundled-model accuracy test is not built")
endif()

# Real PyTorch exports (tests/models/torch, written by export_torch.py; see
# docs/exports.md): one ctest torch/FIXTURE per committed .onnx, run by
# check_torch.py against PyTorch's references and onnxruntime-node, with the
# expected state of each fixture in expectations.txt. models_torch_fresh fails
# when export_torch.py changed without the fixtures being regenerated (it
# compares the script's hash with torch/SCRIPT_SHA256; needs no torch).
# Label "torch" (ctest -L torch).
set(LPS_TORCH_FIXTURES ${CMAKE_CURRENT_LIST_DIR}/torch)
add_test(NAME models_torch_fresh
         COMMAND ${CMAKE_COMMAND} -DSCRIPT=${CMAKE_CURRENT_LIST_DIR}/export_torch.py
                 -DHASH_FILE=${LPS_TORCH_FIXTURES}/SCRIPT_SHA256 -P ${CMAKE_CURRENT_LIST_DIR}/check_fresh.cmake)
set_tests_properties(models_torch_fresh PROPERTIES LABELS torch)

lps_python_suite_ready(LPS_TORCH_PYTHON_OK "the real-export fixture tests")
if(NOT LPS_TORCH_PYTHON_OK)
  return()
endif()
file(GLOB LPS_TORCH_EXPORTS CONFIGURE_DEPENDS ${LPS_TORCH_FIXTURES}/*/op*.onnx)
foreach(model ${LPS_TORCH_EXPORTS})
  get_filename_component(stem ${model} NAME_WE)
  get_filename_component(dir ${model} DIRECTORY)
  get_filename_component(family ${dir} NAME)
  set(name ${family}_${stem})
  add_test(NAME torch/${name}
           COMMAND ${LPS_PYTHON3} ${CMAKE_CURRENT_LIST_DIR}/check_torch.py
                   $<TARGET_FILE:lpsparsify_cli> ${LPS_NODE} ${CMAKE_BINARY_DIR}/torch_fixtures/${name}
                   ${LPS_TORCH_FIXTURES} ${CMAKE_CURRENT_LIST_DIR}/expectations.txt ${name})
  set_tests_properties(torch/${name} PROPERTIES LABELS torch TIMEOUT 300)
endforeach()
