// llmc/backend/cuda/thrust_policy.hpp — the CUDA dense policy of the device methods.
//
// cuda_dense_policy binds a cuda_context (stream, cuBLAS / cuSOLVER handles) to the contract of
// llmc/method/device_policy.hpp: buffers are thrust::device_vector, functors run with
// thrust::cuda::par_nosync on the context's stream (the algorithms that return a value still wait
// for it), dense algebra is dense_kernels<cuda_backend>, downloads and uploads are
// cudaMemcpyAsync on the stream followed by a stream synchronization (the host buffer may be
// reused as soon as they return). thrust::device_vector allocates and fills on the legacy default
// stream, which is ordered with the context's blocking stream (context.hpp). pinned_vector is
// page-locked host memory (backend/cuda/pinned.hpp); free_device_bytes() is cudaMemGetInfo's free
// figure for the context's device; guard(what, f) maps Thrust's exceptions to cuda_error
// (thrust_error.hpp). nvcc only.
#pragma once

#include <thrust/device_vector.h>
#include <thrust/system/cuda/execution_policy.h>

#include <cstddef>
#include <cstdint>
#include <utility>

#include "llmc/backend/cuda/context.hpp"
#include "llmc/backend/cuda/dense.hpp"
#include "llmc/backend/cuda/error.hpp"
#include "llmc/backend/cuda/pinned.hpp"
#include "llmc/backend/cuda/thrust_error.hpp"

namespace llmc {

struct cuda_dense_policy {
  using backend = cuda_backend;
  template <class T>
  using vector = thrust::device_vector<T>;
  template <class T>
  using pinned_vector = gpu::pinned_host_vector<T>;

  cuda_context* ctx;
  explicit cuda_dense_policy(cuda_context& c) noexcept : ctx(&c) {}

  [[nodiscard]] auto exec() const { return thrust::cuda::par_nosync.on(ctx->stream()); }
  void synchronize() const { ctx->synchronize(); }
  /// Free device memory now (cudaMemGetInfo on the context's device).
  [[nodiscard]] std::uint64_t free_device_bytes() const {
    int current = 0;
    LLMC_CUDA_CHECK(cudaGetDevice(&current));
    if (current != ctx->device()) LLMC_CUDA_CHECK(cudaSetDevice(ctx->device()));
    std::size_t free = 0, total = 0;
    const cudaError_t e = cudaMemGetInfo(&free, &total);
    if (current != ctx->device()) (void)cudaSetDevice(current);
    LLMC_CUDA_CHECK(e);
    return free;
  }
  /// Runs f(); Thrust's exceptions (a failed launch, an out-of-memory device_vector) leave it as
  /// cuda_error llmc.cuda.104 / 105 naming `what` (thrust_error.hpp).
  template <class F>
  decltype(auto) guard(const char* what, F&& f) const {
    return gpu::thrust_guard(what, std::forward<F>(f));
  }

  void gemm(float alpha, cuda_view<const float> a, cuda_view<const float> b, float beta, cuda_view<float> c) const {
    dense_kernels<cuda_backend>::gemm(*ctx, alpha, a, b, beta, c);
  }
  void syrk(triangle t, float alpha, cuda_view<const float> a, float beta, cuda_view<float> c) const {
    dense_kernels<cuda_backend>::syrk(*ctx, t, alpha, a, beta, c);
  }
  [[nodiscard]] std::size_t cholesky(cuda_view<float> a) const { return dense_kernels<cuda_backend>::cholesky(*ctx, a); }
  void invert_lower(cuda_view<float> l) const { dense_kernels<cuda_backend>::invert_lower(*ctx, l); }
  void gemm_tf32(float alpha, cuda_view<const float> a, cuda_view<const float> b, float beta, cuda_view<float> c) const {
    dense_kernels<cuda_backend>::gemm_tf32(*ctx, alpha, a, b, beta, c);
  }
  void gemm_strided_batched(float alpha, cuda_view<const float> a, std::ptrdiff_t stride_a, cuda_view<const float> b,
                            std::ptrdiff_t stride_b, float beta, cuda_view<float> c, std::ptrdiff_t stride_c,
                            std::size_t count) const {
    dense_kernels<cuda_backend>::gemm_strided_batched(*ctx, alpha, a, stride_a, b, stride_b, beta, c, stride_c, count);
  }
  void gemm_strided_batched_tf32(float alpha, cuda_view<const float> a, std::ptrdiff_t stride_a, cuda_view<const float> b,
                                 std::ptrdiff_t stride_b, float beta, cuda_view<float> c, std::ptrdiff_t stride_c,
                                 std::size_t count) const {
    dense_kernels<cuda_backend>::gemm_strided_batched(*ctx, alpha, a, stride_a, b, stride_b, beta, c, stride_c, count, true);
  }
  void gemm_bf16(float alpha, cuda_view<const bfloat16> a, cuda_view<const bfloat16> b, float beta,
                 cuda_view<float> c) const {
    dense_kernels<cuda_backend>::gemm_bf16(*ctx, alpha, a, b, beta, c);
  }
  template <class T>
  void download(const T* src, std::size_t n, T* dst) const {
    if (n == 0) return;
    LLMC_CUDA_CHECK(cudaMemcpyAsync(dst, src, n * sizeof(T), cudaMemcpyDeviceToHost, ctx->stream()));
    ctx->synchronize();
  }
  template <class T>
  void upload(const T* src, std::size_t n, T* dst) const {
    if (n == 0) return;
    LLMC_CUDA_CHECK(cudaMemcpyAsync(dst, src, n * sizeof(T), cudaMemcpyHostToDevice, ctx->stream()));
    ctx->synchronize();
  }
};

}  // namespace llmc
