// llmc/backend/cuda/thrust_error.hpp — Thrust's exceptions under CUDA as llmc::cuda_error.
//
// Thrust reports a failed kernel launch or synchronization as thrust::system_error (its code()
// holds the cudaError_t in thrust::cuda_category()) and a failed device allocation — a
// device_vector, or an algorithm's temporary storage — as thrust::system::detail::bad_alloc (a
// std::bad_alloc whose what() carries cudaGetErrorString's text, but no status). thrust_guard(what,
// f) runs f and turns those two into cuda_error, so a failure inside the device methods carries a
// stable id and names the operation, like every other CUDA failure (error.hpp):
//   llmc.cuda.104  a Thrust algorithm failed; status() is the cudaError_t (-1 for a code of
//                  another category)
//   llmc.cuda.105  a device allocation made by Thrust failed (out of memory); status() is
//                  cudaErrorMemoryAllocation
// Any other exception (including a host std::bad_alloc and llmc's own errors) passes unchanged.
// cuda_dense_policy::guard (thrust_policy.hpp) is this; host_dense_policy::guard just calls f.
// Only Thrust's headers and the CUDA runtime's: usable from g++ translation units.
#pragma once

#include <cuda_runtime.h>
#include <thrust/system/cuda/error.h>
#include <thrust/system/detail/bad_alloc.h>
#include <thrust/system_error.h>

#include <string>
#include <utility>

#include "llmc/backend/cuda/error.hpp"

namespace llmc::gpu {

#if LLMC_HAS_EXCEPTIONS
/// Called inside a catch block: rethrows the exception in flight, as cuda_error when it is one of
/// Thrust's (see the header comment), else unchanged.
[[noreturn]] inline void rethrow_thrust_error(const char* what) {
  try {
    throw;
  } catch (const thrust::system::detail::bad_alloc& e) {
    detail::raise("llmc.cuda.105",
                  std::string(what) + ": a device allocation made by Thrust failed (" + e.what() +
                      "); free device memory (smaller batches, a smaller device budget) or use a larger GPU",
                  static_cast<int>(cudaErrorMemoryAllocation));
  } catch (const thrust::system_error& e) {
    const bool cuda = e.code().category() == thrust::cuda_category();
    const int status = cuda ? e.code().value() : -1;
    std::string msg = std::string(what) + ": a Thrust algorithm failed: " + e.what();
    if (cuda) msg += std::string(" [") + cudaGetErrorName(static_cast<cudaError_t>(status)) + "]";
    detail::raise("llmc.cuda.104", msg, status);
  }
}

/// Runs f(); Thrust's exceptions leave it as cuda_error llmc.cuda.104 / 105 naming `what`.
template <class F>
decltype(auto) thrust_guard(const char* what, F&& f) {
  try {
    return std::forward<F>(f)();
  } catch (...) {
    rethrow_thrust_error(what);
  }
}
#else
template <class F>
decltype(auto) thrust_guard(const char*, F&& f) {
  return std::forward<F>(f)();
}
#endif

}  // namespace llmc::gpu
