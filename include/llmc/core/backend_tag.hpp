// llmc/core/backend_tag.hpp — tags naming where a tensor's memory lives and which kernels run.
//
// Tensor traits name one of these tags (backend_of_t); kernels are specialized per tag, the
// generic (reference) implementation serving host_backend. cuda_backend is named here so host
// code can talk about device tensors without including any CUDA header.
#pragma once

namespace llmc {

/// Memory addressable by the host CPU; kernels from backend/cpu (or the generic reference).
struct host_backend {
  static constexpr const char* name = "host";
};
/// Memory on a CUDA device; kernels from backend/cuda, compiled only by nvcc.
struct cuda_backend {
  static constexpr const char* name = "cuda";
};

}  // namespace llmc
