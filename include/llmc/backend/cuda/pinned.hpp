// llmc/backend/cuda/pinned.hpp — page-locked (pinned) host memory for the CUDA dense policy's
// pinned_vector (staging of activations that do not fit the device, thrust_policy.hpp).
//
// pinned_allocator<T> is a standard allocator over cudaMallocHost / cudaFreeHost, so
// pinned_host_vector<T> = std::vector<T, pinned_allocator<T>> is ordinary host memory that the
// copy engines can read and write directly (cudaMemcpyAsync from it is a DMA, not a staged copy).
// Elements are default-initialized (construct() without a value leaves trivial types
// uninitialized): a buffer that is about to be overwritten by a download is not first zeroed.
// Why not CCCL's thrust::universal_host_pinned_vector (cudaMallocHost too): it constructs its
// elements with the allocator's system, a CUDA kernel writing the whole buffer through the bus.
// Errors: an allocation failure throws cuda_error llmc.cuda.101 naming cudaMallocHost.
// Only the CUDA runtime header: usable from g++ translation units that link cudart.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

#include "llmc/backend/cuda/error.hpp"

namespace llmc::gpu {

template <class T>
struct pinned_allocator {
  using value_type = T;
  pinned_allocator() noexcept = default;
  template <class U>
  pinned_allocator(const pinned_allocator<U>&) noexcept {}  // NOLINT: rebinding is implicit

  [[nodiscard]] T* allocate(std::size_t n) {
    if (n == 0) return nullptr;
    void* p = nullptr;
    LLMC_CUDA_CHECK(cudaMallocHost(&p, n * sizeof(T)));
    return static_cast<T*>(p);
  }
  void deallocate(T* p, std::size_t) noexcept {
    if (p) (void)cudaFreeHost(p);  // never throws from a destructor
  }
  /// Default-initialization: no zero fill for trivial types.
  template <class U>
  void construct(U* p) noexcept(std::is_nothrow_default_constructible_v<U>) {
    ::new (static_cast<void*>(p)) U;
  }
  template <class U, class... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
  template <class U>
  bool operator==(const pinned_allocator<U>&) const noexcept {
    return true;
  }
};

/// A std::vector in page-locked host memory.
template <class T>
using pinned_host_vector = std::vector<T, pinned_allocator<T>>;

}  // namespace llmc::gpu
