llmc_add_benchmark(bench_schemes SOURCES ${CMAKE_CURRENT_LIST_DIR}/bench_schemes.cpp)
