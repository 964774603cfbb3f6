# Image folders end to end (tests/images/check_images.py): folder against
# NPY accuracy, sparsify from a folder with augmentation and a validation
# split, --skip-bad, Fashion-MNIST into a 3x32x32 model. Needs python3 with
# numpy, onnx and PIL (Debian python3-pil, installed by scripts/install-deps.sh).
lps_python_suite_ready(LPS_IMAGES_PYTHON_OK "the image folder tests")
if(NOT LPS_IMAGES_PYTHON_OK)
  return()
endif()
foreach(case folder_vs_npy sparsify skip_bad fashion_rgb32)
  add_test(NAME images/${case}
           COMMAND ${LPS_PYTHON3} ${CMAKE_CURRENT_LIST_DIR}/check_images.py
                   $<TARGET_FILE:lpsparsify_cli> ${CMAKE_SOURCE_DIR} ${case})
  set_tests_properties(images/${case} PROPERTIES TIMEOUT 600)
endforeach()
