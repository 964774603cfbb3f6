# libFuzzer harnesses; scripts/fuzz.sh runs them, docs/security.md explains.
# They need clang's -fsanitize=fuzzer. The library is compiled a second time
# into lps_fuzz_lib with coverage instrumentation and ASan/UBSan, so that the
# code under test is instrumented whatever flags the real library has.
if(CMAKE_C_COMPILER_ID STREQUAL "Clang")
  set(LPS_FUZZ_SAN -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
  add_library(lps_fuzz_lib STATIC EXCLUDE_FROM_ALL
    ${LPS_CORE_SOURCES} ${LPS_ONNX_SOURCES} ${LPS_GEN_DIR}/onnx.pb-c.c)
  add_dependencies(lps_fuzz_lib lps_onnx)
  target_include_directories(lps_fuzz_lib
    PUBLIC ${CMAKE_SOURCE_DIR}/include ${CMAKE_SOURCE_DIR}/src
    PRIVATE ${LPS_GEN_DIR})
  target_compile_options(lps_fuzz_lib PRIVATE -fsanitize=fuzzer-no-link ${LPS_FUZZ_SAN})
  target_compile_definitions(lps_fuzz_lib PUBLIC LPS_VERSION="${PROJECT_VERSION}")
  target_link_libraries(lps_fuzz_lib PUBLIC PkgConfig::OPENBLAS PkgConfig::PROTOBUFC PkgConfig::CJSON PkgConfig::ZLIB
    PkgConfig::PNG PkgConfig::JPEG OpenMP::OpenMP_C ${LIBM})

  # fuzz_cli compiles the CLI's option parser in; it exists once src/cli does.
  set(LPS_FUZZ_HARNESSES idx npy csv image onnx external)
  set(LPS_FUZZ_CLI_OPTIONS ${CMAKE_SOURCE_DIR}/src/cli/options.c)
  if(EXISTS ${LPS_FUZZ_CLI_OPTIONS})
    list(APPEND LPS_FUZZ_HARNESSES cli)
  endif()
  foreach(harness ${LPS_FUZZ_HARNESSES})
    add_executable(fuzz_${harness} ${CMAKE_CURRENT_LIST_DIR}/fuzz_${harness}.c)
    target_compile_options(fuzz_${harness} PRIVATE -fsanitize=fuzzer ${LPS_FUZZ_SAN})
    target_link_options(fuzz_${harness} PRIVATE -fsanitize=fuzzer ${LPS_FUZZ_SAN})
    target_link_libraries(fuzz_${harness} PRIVATE lps_fuzz_lib)
    # Replaying the seed corpus once keeps the harnesses honest in ctest.
    add_test(NAME fuzz_${harness}_corpus
             COMMAND fuzz_${harness} -runs=0 ${CMAKE_CURRENT_LIST_DIR}/corpus/${harness})
    set_tests_properties(fuzz_${harness}_corpus PROPERTIES
      ENVIRONMENT "ASAN_OPTIONS=allocator_may_return_null=1:max_allocation_size_mb=1024")
  endforeach()
  if(TARGET fuzz_cli)
    target_sources(fuzz_cli PRIVATE ${LPS_FUZZ_CLI_OPTIONS})
    target_compile_options(fuzz_cli PRIVATE -fsanitize=fuzzer-no-link)
  endif()
else()
  message(STATUS "Fuzz harnesses skipped: they need clang (C compiler is ${CMAKE_C_COMPILER_ID})")
endif()
