# The sanitizer + fuzz build, driven from the main ctest run:
#   cmake -DSOURCE=... -DBINARY=... -DGENERATOR=... -DCXX=... -DJOBS=N
#         -DFUZZ_SECONDS=S -P sanitize.cmake
# Not `ctest --build-and-test`: it runs make on one core (MAKEFLAGS does
# not reach it), and this build was a quarter of the whole test command.
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}")
  endif()
endfunction()
# -O1 and line tables only: what ASan/UBSan reports need, a fraction of -O2 -g's build.
run(${CMAKE_COMMAND} -S ${SOURCE} -B ${BINARY} -G ${GENERATOR}
    -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_BUILD_TYPE=None "-DCMAKE_CXX_FLAGS=-O1 -gline-tables-only"
    -DNEXTPRISM_SANITIZE=ON -DNEXTPRISM_FUZZ=ON -DNEXTPRISM_FUZZ_SECONDS=${FUZZ_SECONDS}
    -DNEXTPRISM_BUILD_BENCHMARKS=OFF -DNEXTPRISM_BUILD_EXAMPLES=OFF)
run(${CMAKE_COMMAND} --build ${BINARY} -j ${JOBS})
execute_process(COMMAND ${CMAKE_CTEST_COMMAND} --output-on-failure --no-tests=error -j ${JOBS} -L "unit|fuzz"
                WORKING_DIRECTORY ${BINARY} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "sanitized tests failed")
endif()
