// llmc/backend/cuda/error.hpp — CUDA runtime, cuBLAS and cuSOLVER status codes as llmc errors.
//
// Every call into the CUDA libraries goes through LLMC_CUDA_CHECK (one macro: gpu::check is
// overloaded on the three status types), which throws llmc::cuda_error when the status is not success. The message
// names the call as written in the source, the file and line, the status name and its text
// (cudaGetErrorString / cublasGetStatusString; cuSOLVER has no string function, so the names of
// cusolverStatus_t from cusolver_common.h are listed here), so a failure on a machine we cannot
// reach says exactly which call failed and why. Error ids (stable):
//   llmc.cuda.101  a CUDA runtime call failed
//   llmc.cuda.102  a cuBLAS call failed
//   llmc.cuda.103  a cuSOLVER call failed
//   llmc.cuda.104  a Thrust algorithm failed (thrust::system_error; thrust_error.hpp)
//   llmc.cuda.105  a device allocation made by Thrust failed (thrust_error.hpp)
//   llmc.cuda.110  a matrix view's strides cannot be handed to cuBLAS/cuSOLVER (see blas_layout.hpp)
//   llmc.cuda.111  operand shapes do not agree
//   llmc.cuda.112  a size does not fit the library's integer type
// Only standard and CUDA toolkit headers: usable from g++ translation units that link cudart.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cusolverDn.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>

#include "llmc/core/error.hpp"

namespace llmc {

/// A CUDA runtime, cuBLAS or cuSOLVER call returned an error status.
class cuda_error : public error {
 public:
  cuda_error(std::string id, const std::string& message, int status) : error(std::move(id), message), status_(status) {}
  /// The numeric status the library returned (cudaError_t, cublasStatus_t or cusolverStatus_t).
  [[nodiscard]] int status() const noexcept { return status_; }

 private:
  int status_;
};

namespace gpu {

/// Name of a cuSOLVER status (cusolver_common.h has no string function).
inline const char* cusolver_status_name(cusolverStatus_t s) noexcept {
  switch (s) {
    case CUSOLVER_STATUS_SUCCESS: return "CUSOLVER_STATUS_SUCCESS";
    case CUSOLVER_STATUS_NOT_INITIALIZED: return "CUSOLVER_STATUS_NOT_INITIALIZED";
    case CUSOLVER_STATUS_ALLOC_FAILED: return "CUSOLVER_STATUS_ALLOC_FAILED";
    case CUSOLVER_STATUS_INVALID_VALUE: return "CUSOLVER_STATUS_INVALID_VALUE";
    case CUSOLVER_STATUS_ARCH_MISMATCH: return "CUSOLVER_STATUS_ARCH_MISMATCH";
    case CUSOLVER_STATUS_MAPPING_ERROR: return "CUSOLVER_STATUS_MAPPING_ERROR";
    case CUSOLVER_STATUS_EXECUTION_FAILED: return "CUSOLVER_STATUS_EXECUTION_FAILED";
    case CUSOLVER_STATUS_INTERNAL_ERROR: return "CUSOLVER_STATUS_INTERNAL_ERROR";
    case CUSOLVER_STATUS_MATRIX_TYPE_NOT_SUPPORTED: return "CUSOLVER_STATUS_MATRIX_TYPE_NOT_SUPPORTED";
    case CUSOLVER_STATUS_NOT_SUPPORTED: return "CUSOLVER_STATUS_NOT_SUPPORTED";
    case CUSOLVER_STATUS_ZERO_PIVOT: return "CUSOLVER_STATUS_ZERO_PIVOT";
    case CUSOLVER_STATUS_INVALID_LICENSE: return "CUSOLVER_STATUS_INVALID_LICENSE";
    case CUSOLVER_STATUS_IRS_PARAMS_NOT_INITIALIZED: return "CUSOLVER_STATUS_IRS_PARAMS_NOT_INITIALIZED";
    case CUSOLVER_STATUS_IRS_PARAMS_INVALID: return "CUSOLVER_STATUS_IRS_PARAMS_INVALID";
    case CUSOLVER_STATUS_IRS_INTERNAL_ERROR: return "CUSOLVER_STATUS_IRS_INTERNAL_ERROR";
    case CUSOLVER_STATUS_IRS_NOT_SUPPORTED: return "CUSOLVER_STATUS_IRS_NOT_SUPPORTED";
    case CUSOLVER_STATUS_IRS_OUT_OF_RANGE: return "CUSOLVER_STATUS_IRS_OUT_OF_RANGE";
    case CUSOLVER_STATUS_INVALID_WORKSPACE: return "CUSOLVER_STATUS_INVALID_WORKSPACE";
    default: return "unknown cusolverStatus_t";
  }
}

namespace detail {
[[noreturn]] inline void raise(const char* id, const std::string& message, int status) {
#if LLMC_HAS_EXCEPTIONS
  throw cuda_error(id, message, status);
#else
  std::fputs(message.c_str(), stderr);
  std::abort();
#endif
}

inline std::string where(const char* call, const char* file, int line) {
  return std::string(call) + " at " + file + ":" + std::to_string(line);
}
}  // namespace detail

/// Throws cuda_error llmc.cuda.101 unless e == cudaSuccess. Clears the runtime's sticky last error
/// for non-sticky failures, so that one failed call does not poison the next check.
inline void check(cudaError_t e, const char* call, const char* file, int line) {
  if (e == cudaSuccess) return;
  (void)cudaGetLastError();
  detail::raise("llmc.cuda.101",
                detail::where(call, file, line) + " failed: " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")",
                static_cast<int>(e));
}

/// Throws cuda_error llmc.cuda.102 unless s == CUBLAS_STATUS_SUCCESS.
inline void check(cublasStatus_t s, const char* call, const char* file, int line) {
  if (s == CUBLAS_STATUS_SUCCESS) return;
  detail::raise("llmc.cuda.102",
                detail::where(call, file, line) + " failed: " + cublasGetStatusName(s) + " (" + cublasGetStatusString(s) + ")",
                static_cast<int>(s));
}

/// Throws cuda_error llmc.cuda.103 unless s == CUSOLVER_STATUS_SUCCESS.
inline void check(cusolverStatus_t s, const char* call, const char* file, int line) {
  if (s == CUSOLVER_STATUS_SUCCESS) return;
  detail::raise("llmc.cuda.103", detail::where(call, file, line) + " failed: " + cusolver_status_name(s),
                static_cast<int>(s));
}

}  // namespace gpu
}  // namespace llmc

/// Checks the status of one CUDA runtime / cuBLAS / cuSOLVER call; the exception names the call.
#define LLMC_CUDA_CHECK(call) ::llmc::gpu::check((call), #call, __FILE__, __LINE__)
