# llmc::blas — opt-in: route the host's dense kernels (GEMM, SYRK, and the Cholesky / triangular
# inverse built on them) through a CBLAS library. It defines LLMC_HAS_CBLAS, adds cblas.h's
# directory and links the library; llmc::llmc itself never needs it (backend/cpu has its own
# kernels, and llmc::set_dense_implementation(llmc::dense_impl::blas) selects CBLAS at run time).
# Looks for OpenBLAS (Debian: libopenblas-dev); a consumer may preset LLMC_OPENBLAS_LIBRARY and
# LLMC_CBLAS_INCLUDE_DIR to use another CBLAS.
include_guard(GLOBAL)

if(NOT LLMC_OPENBLAS_LIBRARY)
  find_library(LLMC_OPENBLAS_LIBRARY NAMES openblas)
endif()
if(NOT LLMC_CBLAS_INCLUDE_DIR)
  find_path(LLMC_CBLAS_INCLUDE_DIR NAMES cblas.h PATH_SUFFIXES openblas)
endif()

if(LLMC_OPENBLAS_LIBRARY AND LLMC_CBLAS_INCLUDE_DIR)
  add_library(llmc_blas INTERFACE)
  add_library(llmc::blas ALIAS llmc_blas)
  set_target_properties(llmc_blas PROPERTIES EXPORT_NAME blas)
  target_compile_definitions(llmc_blas INTERFACE LLMC_HAS_CBLAS=1)
  target_include_directories(llmc_blas INTERFACE "$<BUILD_INTERFACE:${LLMC_CBLAS_INCLUDE_DIR}>")
  target_link_libraries(llmc_blas INTERFACE llmc "$<BUILD_INTERFACE:${LLMC_OPENBLAS_LIBRARY}>")
  message(STATUS "llmc: CBLAS found (${LLMC_OPENBLAS_LIBRARY}); llmc::blas is available")
else()
  message(STATUS "llmc: no CBLAS found (install the Debian package 'libopenblas-dev'); llmc::blas is not available, "
                 "the dense kernels use llmc's own")
endif()
