// llmc/core/config.hpp — compiler and platform configuration shared by every layer.
//
// Invariants: this header includes nothing from llmc and only standard headers; every macro
// the library defines is named LLMC_* and lives here (or is #undef'd in the header that uses it).
// LLMC_HOST_DEVICE marks functions usable from CUDA device code when compiled by nvcc, and is a
// no-op for host compilers, so the numeric layer can later run inside kernels unchanged.
#pragma once

#define LLMC_VERSION_MAJOR 0
#define LLMC_VERSION_MINOR 1
#define LLMC_VERSION_PATCH 0
#define LLMC_VERSION_STRING "0.1.0"

#if defined(__CUDACC__)
#define LLMC_HOST_DEVICE __host__ __device__
#else
#define LLMC_HOST_DEVICE
#endif

#if defined(__GNUC__) || defined(__clang__)
#define LLMC_ALWAYS_INLINE inline __attribute__((always_inline))
/// After a lambda's parameter list: inline it into its caller (hot per-slot helpers).
#define LLMC_LAMBDA_INLINE __attribute__((always_inline))
#define LLMC_RESTRICT __restrict__
#else
#define LLMC_ALWAYS_INLINE inline
#define LLMC_LAMBDA_INLINE
#define LLMC_RESTRICT
#endif

#if defined(__cpp_exceptions) || defined(__EXCEPTIONS)
#define LLMC_HAS_EXCEPTIONS 1
#else
#define LLMC_HAS_EXCEPTIONS 0
#endif
