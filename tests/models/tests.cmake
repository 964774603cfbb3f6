# The bundled trained models reach their documented Fashion-MNIST test
# accuracy (models/README.md). Needs the Debian dataset-fashion-mnist files;
# label "models" (ctest -L models / -LE models).
if(NOT TARGET lpsparsify_cli)
  return()
endif()
set(LPS_FASHION_MNIST_TEST /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz)
if(NOT EXISTS ${LPS_FASHION_MNIST_TEST})
  message(WARNING "${LPS_FASHION_MNIST_TEST} missing: the bundled-model accuracy test is not built")
  return()
endif()
set(LPS_MODEL_TARGETS
    "${CMAKE_SOURCE_DIR}/models/lenet300.onnx=0.89,${CMAKE_SOURCE_DIR}/models/cnn.onnx=0.915")
add_test(NAME models_accuracy
         COMMAND ${CMAKE_COMMAND} -DTOOL=$<TARGET_FILE:lpsparsify_cli>
                 "-DMODELS=${LPS_MODEL_TARGETS}" -P ${CMAKE_CURRENT_LIST_DIR}/check_accuracy.cmake)
set_tests_properties(models_accuracy PROPERTIES LABELS models)
