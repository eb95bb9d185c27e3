# Drives one packaging test (tests/packaging/CMakeLists.txt) in its own scratch directory:
#   -DSTEP=install        cmake --install BUILD_DIR into PREFIX, then check the installed tree
#   -DSTEP=consumer       configure + build CONSUMER_DIR, then run its executable EXE_NAME
#                         (default `consumer`), which must exit 0
#   -DSTEP=expect_failure configure CONSUMER_DIR; passes only when configuring FAILS with a
#                         message containing EXPECT
# Common: WORK_DIR (scratch, recreated), GENERATOR, CXX_COMPILER, CONFIG, MAKE_PROGRAM, and
# ARGS: extra -D arguments for the consumer, separated by '|'.
cmake_minimum_required(VERSION 3.21)
if(NOT CONFIG)
  set(CONFIG Release)  # single-config generators with no CMAKE_BUILD_TYPE
endif()
if(NOT EXE_NAME)
  set(EXE_NAME consumer)
endif()

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  set(rc "${rc}" PARENT_SCOPE)
  set(out "${out}${err}" PARENT_SCOPE)
endfunction()

if(STEP STREQUAL "install")
  file(REMOVE_RECURSE "${PREFIX}")
  run("${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${PREFIX}" --config "${CONFIG}")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "cmake --install ${BUILD_DIR} failed (${rc}):\n${out}")
  endif()
  # The pieces a consumer needs, at the paths llmcInstall.cmake promises.
  foreach(f include/llmc/scheme.hpp include/llmc/core/config.hpp share/cmake/llmc/llmcConfig.cmake
            share/cmake/llmc/llmcConfigVersion.cmake share/cmake/llmc/llmcTargets.cmake)
    if(NOT EXISTS "${PREFIX}/${f}")
      message(FATAL_ERROR "the install into ${PREFIX} lacks ${f}")
    endif()
  endforeach()
  file(READ "${PREFIX}/share/cmake/llmc/llmcTargets.cmake" targets)
  if(targets MATCHES "${SOURCE_DIR}/include")
    message(FATAL_ERROR "the installed llmcTargets.cmake points into the source tree ${SOURCE_DIR}")
  endif()
  message(STATUS "installed llmc into ${PREFIX}")
  return()
endif()

set(configure_args -S "${CONSUMER_DIR}" -B "${WORK_DIR}/build" -G "${GENERATOR}"
    "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}" "-DCMAKE_BUILD_TYPE=${CONFIG}")
if(MAKE_PROGRAM)
  list(APPEND configure_args "-DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}")
endif()
if(ARGS)
  string(REPLACE "|" ";" extra "${ARGS}")
  list(APPEND configure_args ${extra})
endif()
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
run("${CMAKE_COMMAND}" ${configure_args})

if(STEP STREQUAL "expect_failure")
  if(rc EQUAL 0)
    message(FATAL_ERROR "configuring ${CONSUMER_DIR} succeeded, but it must fail:\n${out}")
  endif()
  string(FIND "${out}" "${EXPECT}" pos)
  if(pos EQUAL -1)
    message(FATAL_ERROR "configuring ${CONSUMER_DIR} failed without the message '${EXPECT}':\n${out}")
  endif()
  message(STATUS "configuring failed as expected with: ${EXPECT}")
  return()
endif()

if(NOT rc EQUAL 0)
  message(FATAL_ERROR "configuring ${CONSUMER_DIR} failed (${rc}):\n${out}")
endif()
run("${CMAKE_COMMAND}" --build "${WORK_DIR}/build" --config "${CONFIG}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "building ${CONSUMER_DIR} failed (${rc}):\n${out}")
endif()
set(exe "${WORK_DIR}/build/${EXE_NAME}")
if(NOT EXISTS "${exe}")
  set(exe "${WORK_DIR}/build/${CONFIG}/${EXE_NAME}")
endif()
run("${exe}")
message("${out}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the consumer built from ${CONSUMER_DIR} exited with ${rc}")
endif()
