# Calibration forward throughput (llmc/model) on a TinyLlama-1.1B-shaped random checkpoint, beside
# SGEMM (llmc's own and, with llmc::blas, OpenBLAS). Needs llmc::io for the checkpoint.
if(TARGET llmc::io)
  if(TARGET llmc::blas)
    llmc_add_benchmark(bench_forward SOURCES ${CMAKE_CURRENT_LIST_DIR}/bench_forward.cpp LIBS llmc::io llmc::blas)
  else()
    llmc_add_benchmark(bench_forward SOURCES ${CMAKE_CURRENT_LIST_DIR}/bench_forward.cpp LIBS llmc::io)
  endif()
endif()
