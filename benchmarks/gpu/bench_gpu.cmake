# bench_gpu: GPTQ solve, Hessian accumulation, the decoder-layer forward and quantize + pack on the
# GPU vs the CPU backend (benchmarks/gpu/run.sh runs it). Part of ALL so that CI compiles and links
# its nvcc unit like every other CUDA translation unit (it exits 77 without a GPU). Included from
# tests/cuda/CMakeLists.txt (only when CUDA is enabled). The CPU half is a g++ TU with -march=native,
# like benchmarks/bench_gptq.
if(NOT LLMC_CUDA_ENABLED)
  return()
endif()
add_executable(bench_gpu
  "${PROJECT_SOURCE_DIR}/benchmarks/gpu/bench_gpu.cu"
  "${PROJECT_SOURCE_DIR}/benchmarks/gpu/bench_gpu_cpu.cpp")
target_link_libraries(bench_gpu PRIVATE llmc::cuda llmc::native)
set_target_properties(bench_gpu PROPERTIES CUDA_ARCHITECTURES "80;90")
target_compile_options(bench_gpu PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:-diag-suppress=1675> $<$<COMPILE_LANGUAGE:CXX>:-O3>)
set_target_properties(bench_gpu PROPERTIES RUNTIME_OUTPUT_DIRECTORY "${CMAKE_BINARY_DIR}/benchmarks/gpu")
