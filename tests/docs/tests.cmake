# docs/operators.md is generated from the registry: operators_doc fails when
# the committed file differs from what gen_operators writes now.
add_executable(gen_operators ${CMAKE_CURRENT_LIST_DIR}/gen_operators.c)
target_include_directories(gen_operators PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(gen_operators PRIVATE lpsparsify)
add_test(NAME operators_doc COMMAND gen_operators --check ${CMAKE_SOURCE_DIR}/docs/operators.md)
