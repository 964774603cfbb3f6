# The HTML report in a real browser: Debian's headless chromium, driven by
# playwright-core (npm, test time only; docs/html_report.md says why), both
# installed by scripts/install-deps.sh. One ctest per case of check_html.py;
# screenshots are kept in <build>/html-artifacts. A missing chromium, node or
# playwright-core makes these tests FAIL with the install hint, never skip.
lps_python_suite_ready(LPS_HTML_PYTHON_OK "the HTML report browser tests")
if(NOT LPS_HTML_PYTHON_OK)
  return()
endif()
foreach(case bundled hostile large)
  add_test(NAME html/${case}
           COMMAND ${LPS_PYTHON3} ${CMAKE_CURRENT_LIST_DIR}/check_html.py
                   $<TARGET_FILE:lpsparsify_cli> ${CMAKE_SOURCE_DIR} ${CMAKE_BINARY_DIR}/html-artifacts
                   ${case})
  set_tests_properties(html/${case} PROPERTIES ENVIRONMENT "LPS_NODE=${LPS_NODE}" TIMEOUT 300)
endforeach()
