# Builds TARGET in BUILD_DIR and passes only if the build fails with a
# message that contains every string in EXPECT (a ;-list): the concept's
# name and the member the policy lacks.
execute_process(COMMAND ${CMAKE_COMMAND} --build ${BUILD_DIR} --target ${TARGET}
                RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE err)
set(text "${out}${err}")
if(result EQUAL 0)
  message(FATAL_ERROR "${TARGET} compiled, but a wrong policy must be refused")
endif()
foreach(expected IN LISTS EXPECT)
  string(FIND "${text}" "${expected}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "${TARGET}: the compiler's message does not name '${expected}':\n${text}")
  endif()
endforeach()
message(STATUS "${TARGET} refused, naming: ${EXPECT}")
