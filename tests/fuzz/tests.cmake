# libFuzzer harnesses for the dataset readers; scripts/fuzz.sh runs them.
# They need clang's -fsanitize=fuzzer. Each harness compiles the data layer
# (and the tensor/error core it uses) itself, so that the code under test is
# coverage-instrumented whatever flags the library was built with.
if(CMAKE_C_COMPILER_ID STREQUAL "Clang")
  set(LPS_FUZZ_FLAGS -fsanitize=fuzzer,address,undefined -fno-omit-frame-pointer)
  file(GLOB LPS_FUZZ_UNDER_TEST CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/data/*.c)
  list(APPEND LPS_FUZZ_UNDER_TEST ${CMAKE_SOURCE_DIR}/src/core/tensor.c ${CMAKE_SOURCE_DIR}/src/core/error.c)
  foreach(harness idx npy csv)
    add_executable(fuzz_${harness} ${CMAKE_CURRENT_LIST_DIR}/fuzz_${harness}.c ${LPS_FUZZ_UNDER_TEST})
    target_include_directories(fuzz_${harness} PRIVATE ${CMAKE_SOURCE_DIR}/include ${CMAKE_SOURCE_DIR}/src)
    target_compile_options(fuzz_${harness} PRIVATE ${LPS_FUZZ_FLAGS})
    target_link_options(fuzz_${harness} PRIVATE ${LPS_FUZZ_FLAGS})
    target_link_libraries(fuzz_${harness} PRIVATE PkgConfig::ZLIB ${LIBM})
    # Replaying the seed corpus once keeps the harnesses honest in ctest.
    add_test(NAME fuzz_${harness}_corpus
             COMMAND fuzz_${harness} -runs=0 ${CMAKE_CURRENT_LIST_DIR}/corpus/${harness})
  endforeach()
else()
  message(STATUS "Fuzz harnesses skipped: they need clang (C compiler is ${CMAKE_C_COMPILER_ID})")
endif()
