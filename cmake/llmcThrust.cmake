# llmcThrust.cmake — Thrust (CCCL) for host compilers: llmc::thrust_host and llmc::thrust_omp.
#
# The device backend (include/llmc/backend/thrust, tensor/adapt_thrust.hpp) is written only with
# Thrust algorithms and __host__ __device__ functors. Compiled by nvcc it runs on CUDA (llmc::cuda);
# these INTERFACE targets let g++ compile the same headers with Thrust's CPP (sequential) or OMP
# device system, so the kernels' logic is tested on machines without a GPU. No nvcc is needed:
# only the CCCL headers (thrust/, cub/, cuda/) from a CUDA toolkit (CUDAToolkit, or
# /usr/local/cuda), or a CCCL checkout named by -DLLMC_CCCL_INCLUDE_DIR=<dir containing thrust/>.
# Sets LLMC_THRUST_HOST_ENABLED (and LLMC_THRUST_OMP_ENABLED when OpenMP is found).
include_guard(GLOBAL)

set(LLMC_THRUST_HOST_ENABLED OFF)
set(LLMC_THRUST_OMP_ENABLED OFF)

if(NOT LLMC_CCCL_INCLUDE_DIR)
  set(_llmc_cccl_hints)
  if(NOT CUDAToolkit_FOUND)
    find_package(CUDAToolkit QUIET)
  endif()
  if(CUDAToolkit_FOUND)
    foreach(dir IN LISTS CUDAToolkit_INCLUDE_DIRS)
      list(APPEND _llmc_cccl_hints "${dir}/cccl" "${dir}")
    endforeach()
  endif()
  list(APPEND _llmc_cccl_hints /usr/local/cuda/include/cccl /usr/local/cuda/include)
  # CUDA 13 keeps CCCL under include/cccl; older toolkits put thrust/ directly under include.
  find_path(LLMC_CCCL_INCLUDE_DIR NAMES thrust/version.h HINTS ${_llmc_cccl_hints} NO_DEFAULT_PATH
            DOC "Directory containing thrust/, cub/ and cuda/ (CCCL)")
endif()

if(LLMC_CCCL_INCLUDE_DIR AND EXISTS "${LLMC_CCCL_INCLUDE_DIR}/thrust/version.h")
  file(STRINGS "${LLMC_CCCL_INCLUDE_DIR}/thrust/version.h" _llmc_thrust_v REGEX "^#define THRUST_VERSION [0-9]+")
  string(REGEX REPLACE "^#define THRUST_VERSION ([0-9]+).*" "\\1" _llmc_thrust_v "${_llmc_thrust_v}")

  add_library(llmc_thrust_host INTERFACE)
  add_library(llmc::thrust_host ALIAS llmc_thrust_host)
  target_link_libraries(llmc_thrust_host INTERFACE llmc)
  target_include_directories(llmc_thrust_host SYSTEM INTERFACE "${LLMC_CCCL_INCLUDE_DIR}")
  target_compile_definitions(llmc_thrust_host INTERFACE THRUST_DEVICE_SYSTEM=THRUST_DEVICE_SYSTEM_CPP)
  set(LLMC_THRUST_HOST_ENABLED ON)

  find_package(OpenMP QUIET COMPONENTS CXX)
  if(OpenMP_CXX_FOUND)
    add_library(llmc_thrust_omp INTERFACE)
    add_library(llmc::thrust_omp ALIAS llmc_thrust_omp)
    target_link_libraries(llmc_thrust_omp INTERFACE llmc OpenMP::OpenMP_CXX)
    target_include_directories(llmc_thrust_omp SYSTEM INTERFACE "${LLMC_CCCL_INCLUDE_DIR}")
    target_compile_definitions(llmc_thrust_omp INTERFACE THRUST_DEVICE_SYSTEM=THRUST_DEVICE_SYSTEM_OMP)
    set(LLMC_THRUST_OMP_ENABLED ON)
  endif()
  message(STATUS "llmc: Thrust ${_llmc_thrust_v} for host compilers (llmc::thrust_host) from ${LLMC_CCCL_INCLUDE_DIR}; OpenMP variant: ${LLMC_THRUST_OMP_ENABLED}")
else()
  message(STATUS "llmc: no Thrust headers found (CUDA toolkit or -DLLMC_CCCL_INCLUDE_DIR); the Thrust backend tests are skipped")
endif()
