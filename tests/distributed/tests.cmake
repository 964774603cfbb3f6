# Data-parallel runs under mpirun with two ranks (tests/distributed,
# docs/distributed.md): equivalence with one process at the global batch,
# a failure on one rank, divergence, SIGINT. Built with LPS_MPI only.
if(NOT LPS_MPI OR NOT TARGET lpsparsify_cli OR NOT MPIEXEC_EXECUTABLE)
  return()
endif()
lps_python_suite_ready(LPS_DISTRIBUTED_PYTHON_OK "the distributed tests")
if(NOT LPS_DISTRIBUTED_PYTHON_OK)
  return()
endif()
foreach(case mlp cnn gmp train fail diverge sigint resume)
  add_test(NAME distributed_${case}
           COMMAND ${LPS_PYTHON3} ${CMAKE_CURRENT_LIST_DIR}/check_mpi.py ${case}
                   $<TARGET_FILE:lpsparsify_cli> ${MPIEXEC_EXECUTABLE}
                   ${CMAKE_BINARY_DIR}/distributed/${case} ${CMAKE_SOURCE_DIR})
  # Two ranks each: do not run two of these at once on two cores.
  set_tests_properties(distributed_${case} PROPERTIES RUN_SERIAL TRUE LABELS distributed)
endforeach()
