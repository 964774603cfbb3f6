# Fails when the fixture generator changed after the fixtures were written:
#   cmake -DSCRIPT=export_torch.py -DHASH_FILE=torch/SCRIPT_SHA256 -P check_fresh.cmake
# export_torch.py writes HASH_FILE (the SHA-256 of itself) with the fixtures.
file(SHA256 ${SCRIPT} actual)
if(NOT EXISTS ${HASH_FILE})
  message(FATAL_ERROR "${HASH_FILE} missing: run /usr/bin/python3 ${SCRIPT}")
endif()
file(READ ${HASH_FILE} stored)
string(STRIP "${stored}" stored)
if(NOT actual STREQUAL stored)
  message(FATAL_ERROR "${SCRIPT} changed since the fixtures were written (sha256 ${actual}, "
                      "fixtures from ${stored}): rerun /usr/bin/python3 ${SCRIPT} and commit the result")
endif()
message(STATUS "fixtures are up to date with ${SCRIPT}")
