# Runs the compiler on SOURCE and passes only if compilation FAILS with a diagnostic matching
# EXPECT (a plain WILL_FAIL would also pass on unrelated errors).
execute_process(
  COMMAND "${COMPILER}" -std=c++20 -fsyntax-only -I "${INCLUDE}" "${SOURCE}"
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(rc EQUAL 0)
  message(FATAL_ERROR "${SOURCE} compiled, but it must not")
endif()
string(FIND "${err}" "${EXPECT}" pos)
if(pos EQUAL -1)
  message(FATAL_ERROR "${SOURCE} failed to compile without the expected diagnostic '${EXPECT}':\n${err}")
endif()
message(STATUS "failed as expected: ${EXPECT}")
