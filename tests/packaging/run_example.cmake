# Runs an example (EXE) and passes only when it exits 0 and prints exactly EXPECTED's text, so the
# examples under examples/ keep compiling, running and computing the same codes.
execute_process(COMMAND "${EXE}" RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${EXE} exited with ${rc}:\n${out}${err}")
endif()
file(READ "${EXPECTED}" expected)
if(NOT out STREQUAL expected)
  message(FATAL_ERROR "${EXE} printed\n${out}\nbut ${EXPECTED} says\n${expected}")
endif()
message(STATUS "${EXE}: output matches ${EXPECTED}")
