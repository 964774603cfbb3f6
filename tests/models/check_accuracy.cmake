# Checks that a bundled model reaches its Fashion-MNIST test accuracy target:
#   cmake -DTOOL=lpsparsify -DMODELS=a.onnx=0.89,b.onnx=0.915 -P check_accuracy.cmake
# Each comma-separated MODEL=TARGET pair runs `lpsparsify eval MODEL --json -` on the default
# dataset and fails when the accuracy is below TARGET (a fraction).
string(REPLACE "," ";" pairs "${MODELS}")
foreach(pair IN LISTS pairs)
  string(REPLACE "=" ";" parts "${pair}")
  list(GET parts 0 model)
  list(GET parts 1 target)
  execute_process(COMMAND ${TOOL} eval ${model} --json -
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${model}: lpsparsify eval exited with ${rc}: ${err}")
  endif()
  string(JSON accuracy GET "${out}" accuracy)
  string(JSON samples GET "${out}" samples)
  if(NOT samples EQUAL 10000)
    message(FATAL_ERROR "${model}: evaluated ${samples} samples, expected the 10000 of t10k")
  endif()
  if(accuracy LESS target)
    message(FATAL_ERROR "${model}: test accuracy ${accuracy} is below the target ${target}")
  endif()
  message(STATUS "${model}: test accuracy ${accuracy} >= ${target}")
endforeach()
