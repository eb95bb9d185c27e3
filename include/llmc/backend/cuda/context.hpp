// llmc/backend/cuda/context.hpp — the CUDA execution policy object: stream, library handles, workspace.
//
// Every CUDA kernel and library call of llmc runs on the stream of a cuda_context that the caller
// passes explicitly; nothing is global. A context either owns its stream and handles (created on
// construction, destroyed with it) or borrows the caller's (never destroyed by llmc; the handles
// are bound to the borrowed stream with cublasSetStream / cusolverDnSetStream). It also owns a
// device workspace and a host workspace that grow on demand (cuSOLVER's buffers) and one device
// int for the solvers' info. A context is not thread-safe: one host thread drives it at a time.
// The owned stream is a blocking stream (cudaStreamCreate), so work on the legacy default stream
// (thrust::device_vector construction, cudaMemcpy) is ordered with it.
// Errors: llmc.cuda.101-103 (error.hpp) naming the failing call.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cusolverDn.h>

#include <cstddef>
#include <utility>
#include <vector>

#include "llmc/backend/cuda/error.hpp"

namespace llmc {

class cuda_context {
 public:
  /// Creates a stream and cuBLAS / cuSOLVER handles on `device` (-1: the current device).
  explicit cuda_context(int device = -1) : owns_(true) {
    if (device >= 0) LLMC_CUDA_CHECK(cudaSetDevice(device));
    LLMC_CUDA_CHECK(cudaGetDevice(&device_));
    try {
      LLMC_CUDA_CHECK(cudaStreamCreate(&stream_));
      LLMC_CUDA_CHECK(cublasCreate(&blas_));
      LLMC_CUDA_CHECK(cusolverDnCreate(&solver_));
      bind();
    } catch (...) {
      release();
      throw;
    }
  }
  /// Borrows the caller's stream and handles (they must outlive the context); binds both handles
  /// to `stream`.
  cuda_context(cudaStream_t stream, cublasHandle_t blas, cusolverDnHandle_t solver)
      : owns_(false), stream_(stream), blas_(blas), solver_(solver) {
    LLMC_CUDA_CHECK(cudaGetDevice(&device_));
    try {
      bind();
    } catch (...) {
      release();
      throw;
    }
  }
  cuda_context(const cuda_context&) = delete;
  cuda_context& operator=(const cuda_context&) = delete;
  cuda_context(cuda_context&& o) noexcept { swap(o); }
  cuda_context& operator=(cuda_context&& o) noexcept {
    if (this != &o) {
      release();
      swap(o);
    }
    return *this;
  }
  ~cuda_context() { release(); }

  [[nodiscard]] cudaStream_t stream() const noexcept { return stream_; }
  [[nodiscard]] cublasHandle_t cublas() const noexcept { return blas_; }
  [[nodiscard]] cusolverDnHandle_t cusolver() const noexcept { return solver_; }
  [[nodiscard]] cusolverDnParams_t cusolver_params() const noexcept { return params_; }
  [[nodiscard]] int device() const noexcept { return device_; }
  [[nodiscard]] bool owns_handles() const noexcept { return owns_; }

  /// At least `bytes` of device memory, valid until the next call (stream-ordered use only).
  void* device_workspace(std::size_t bytes) {
    if (bytes > dev_ws_bytes_) {
      if (dev_ws_) {
        // Work queued on the stream may still read the old buffer.
        LLMC_CUDA_CHECK(cudaStreamSynchronize(stream_));
        LLMC_CUDA_CHECK(cudaFree(dev_ws_));
        dev_ws_ = nullptr;
        dev_ws_bytes_ = 0;
      }
      LLMC_CUDA_CHECK(cudaMalloc(&dev_ws_, bytes));
      dev_ws_bytes_ = bytes;
    }
    return dev_ws_;
  }
  /// At least `bytes` of host memory for cuSOLVER's host-side workspace.
  void* host_workspace(std::size_t bytes) {
    if (bytes > host_ws_.size()) host_ws_.resize(bytes);
    return host_ws_.empty() ? nullptr : host_ws_.data();
  }
  /// One device int for a solver's info output.
  int* device_info() {
    if (!info_) LLMC_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&info_), sizeof(int)));
    return info_;
  }
  /// Blocks until everything queued on the stream has finished.
  void synchronize() const { LLMC_CUDA_CHECK(cudaStreamSynchronize(stream_)); }

 private:
  void bind() {
    LLMC_CUDA_CHECK(cublasSetStream(blas_, stream_));
    LLMC_CUDA_CHECK(cusolverDnSetStream(solver_, stream_));
    // The kernels' conventions (kernel_decl.hpp) pass alpha and beta by host pointer.
    LLMC_CUDA_CHECK(cublasSetPointerMode(blas_, CUBLAS_POINTER_MODE_HOST));
    LLMC_CUDA_CHECK(cusolverDnCreateParams(&params_));
  }
  void release() noexcept {
    // Destruction must not throw: statuses are ignored here (the device may already be lost).
    if (dev_ws_) (void)cudaFree(dev_ws_);
    if (info_) (void)cudaFree(info_);
    if (params_) (void)cusolverDnDestroyParams(params_);
    if (owns_) {
      if (solver_) (void)cusolverDnDestroy(solver_);
      if (blas_) (void)cublasDestroy(blas_);
      if (stream_) (void)cudaStreamDestroy(stream_);
    }
    dev_ws_ = nullptr;
    info_ = nullptr;
    params_ = nullptr;
    solver_ = nullptr;
    blas_ = nullptr;
    stream_ = nullptr;
    dev_ws_bytes_ = 0;
  }
  void swap(cuda_context& o) noexcept {
    std::swap(owns_, o.owns_);
    std::swap(device_, o.device_);
    std::swap(stream_, o.stream_);
    std::swap(blas_, o.blas_);
    std::swap(solver_, o.solver_);
    std::swap(params_, o.params_);
    std::swap(dev_ws_, o.dev_ws_);
    std::swap(dev_ws_bytes_, o.dev_ws_bytes_);
    std::swap(info_, o.info_);
    std::swap(host_ws_, o.host_ws_);
  }

  bool owns_ = false;
  int device_ = 0;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t blas_ = nullptr;
  cusolverDnHandle_t solver_ = nullptr;
  cusolverDnParams_t params_ = nullptr;
  void* dev_ws_ = nullptr;
  std::size_t dev_ws_bytes_ = 0;
  int* info_ = nullptr;
  std::vector<unsigned char> host_ws_;
};

}  // namespace llmc
