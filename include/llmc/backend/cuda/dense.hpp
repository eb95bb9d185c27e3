// llmc/backend/cuda/dense.hpp — dense_kernels<cuda_backend>: GEMM, SYRK, Cholesky, triangular
// inverse on device views through cuBLAS and cuSOLVER.
//
// Same conventions as the host kernels (backend/kernel_decl.hpp), with the cuda_context passed
// first: gemm C = alpha A B + beta C (beta == 0 overwrites C); syrk one triangle of
// C = alpha A A^T + beta C; cholesky A = L L^T on the lower triangle, returning 0 or LAPACK's info
// (j + 1 for the first leading minor that is not positive definite: cusolverDnXpotrf's devInfo has
// that meaning); invert_lower L := L^-1 (cusolverDnXtrtri, non-unit diagonal). Views are
// row-major or column-major with any leading dimension (blas_layout.hpp maps them; other strides
// throw llmc.cuda.110). Arithmetic is fp32 (CUBLAS_DEFAULT_MATH: no TF32 unless the caller sets
// the handle's math mode), so results agree with the host kernels to fp32 rounding.
// gemm_tf32: gemm with TF32 tensor-core products (opt-in fast math). gemm_strided_batched: count
// GEMMs whose operands sit at fixed element strides (attention's per-head products), fp32 or TF32.
// gemm_bf16: C = alpha A B + beta C with bfloat16 A and B and fp32 accumulation and output
// (cublasGemmEx, CUBLAS_COMPUTE_32F): the Hessian of bf16 activations on tensor cores.
// Every call is asynchronous on the context's stream except cholesky, which waits for its info.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cusolverDn.h>

#include <cstddef>
#include <cstdint>

#include "llmc/backend/cuda/blas_layout.hpp"
#include "llmc/backend/cuda/context.hpp"
#include "llmc/backend/cuda/error.hpp"
#include "llmc/backend/kernel_decl.hpp"
#include "llmc/core/backend_tag.hpp"
#include "llmc/numeric/bfloat16.hpp"
#include "llmc/tensor/matrix_view.hpp"

namespace llmc {

/// A strided view of CUDA device memory (named apart from tensor/adapt_thrust.hpp's device_view()
/// function, which views a thrust::device_vector: a unit may include both).
template <class T>
using cuda_view = matrix_view<T, cuda_backend>;

namespace gpu::detail {
inline cublasOperation_t op(bool trans) noexcept { return trans ? CUBLAS_OP_T : CUBLAS_OP_N; }
inline cublasFillMode_t fill(bool upper) noexcept { return upper ? CUBLAS_FILL_MODE_UPPER : CUBLAS_FILL_MODE_LOWER; }
}  // namespace gpu::detail

template <>
struct dense_kernels<cuda_backend> {
  static void gemm(cuda_context& ctx, float alpha, cuda_view<const float> a, cuda_view<const float> b, float beta,
                   cuda_view<float> c) {
    const gpu::gemm_plan p = gpu::plan_gemm(gpu::dims_of(a), gpu::dims_of(b), gpu::dims_of(c));
    if (p.m == 0 || p.n == 0) return;
    const float* first = p.swapped ? b.data_handle() : a.data_handle();
    const float* second = p.swapped ? a.data_handle() : b.data_handle();
    LLMC_CUDA_CHECK(cublasSgemm(ctx.cublas(), gpu::detail::op(p.trans_first), gpu::detail::op(p.trans_second),
                                gpu::to_blas_int(p.m, "m"), gpu::to_blas_int(p.n, "n"), gpu::to_blas_int(p.k, "k"), &alpha,
                                first, gpu::to_blas_int(p.ld_first, "lda"), second, gpu::to_blas_int(p.ld_second, "ldb"),
                                &beta, c.data_handle(), gpu::to_blas_int(p.ld_c, "ldc")));
  }

  /// gemm with TF32 tensor-core products (cublasGemmEx, CUBLAS_COMPUTE_32F_FAST_TF32): fp32 operands
  /// and output, each product taken on operands rounded to TF32 (10-bit mantissa), fp32 sums.
  static void gemm_tf32(cuda_context& ctx, float alpha, cuda_view<const float> a, cuda_view<const float> b, float beta,
                        cuda_view<float> c) {
    const gpu::gemm_plan p = gpu::plan_gemm(gpu::dims_of(a), gpu::dims_of(b), gpu::dims_of(c));
    if (p.m == 0 || p.n == 0) return;
    const float* first = p.swapped ? b.data_handle() : a.data_handle();
    const float* second = p.swapped ? a.data_handle() : b.data_handle();
    LLMC_CUDA_CHECK(cublasGemmEx(ctx.cublas(), gpu::detail::op(p.trans_first), gpu::detail::op(p.trans_second),
                                 gpu::to_blas_int(p.m, "m"), gpu::to_blas_int(p.n, "n"), gpu::to_blas_int(p.k, "k"), &alpha,
                                 first, CUDA_R_32F, gpu::to_blas_int(p.ld_first, "lda"), second, CUDA_R_32F,
                                 gpu::to_blas_int(p.ld_second, "ldb"), &beta, c.data_handle(), CUDA_R_32F,
                                 gpu::to_blas_int(p.ld_c, "ldc"), CUBLAS_COMPUTE_32F_FAST_TF32, CUBLAS_GEMM_DEFAULT));
  }

  /// C_i = alpha A_i B_i + beta C_i for i < count, X_i = X + i * stride_x elements, each X_i laid
  /// out as the view X (cublasSgemmStridedBatched; tf32: cublasGemmStridedBatchedEx with
  /// CUBLAS_COMPUTE_32F_FAST_TF32). Throws as gpu::plan_gemm_strided_batched.
  static void gemm_strided_batched(cuda_context& ctx, float alpha, cuda_view<const float> a, std::int64_t stride_a,
                                   cuda_view<const float> b, std::int64_t stride_b, float beta, cuda_view<float> c,
                                   std::int64_t stride_c, std::size_t count, bool tf32 = false) {
    const gpu::gemm_batched_plan bp =
        gpu::plan_gemm_strided_batched(gpu::dims_of(a), stride_a, gpu::dims_of(b), stride_b, gpu::dims_of(c), stride_c, count);
    const gpu::gemm_plan& p = bp.gemm;
    if (p.m == 0 || p.n == 0 || count == 0) return;
    const float* first = p.swapped ? b.data_handle() : a.data_handle();
    const float* second = p.swapped ? a.data_handle() : b.data_handle();
    const int m = gpu::to_blas_int(p.m, "m"), n = gpu::to_blas_int(p.n, "n"), k = gpu::to_blas_int(p.k, "k");
    const int lda = gpu::to_blas_int(p.ld_first, "lda"), ldb = gpu::to_blas_int(p.ld_second, "ldb"),
              ldc = gpu::to_blas_int(p.ld_c, "ldc"), batches = gpu::to_blas_int(bp.count, "batch count");
    if (tf32) {
      LLMC_CUDA_CHECK(cublasGemmStridedBatchedEx(ctx.cublas(), gpu::detail::op(p.trans_first), gpu::detail::op(p.trans_second), m,
                                                 n, k, &alpha, first, CUDA_R_32F, lda, bp.stride_first, second, CUDA_R_32F, ldb,
                                                 bp.stride_second, &beta, c.data_handle(), CUDA_R_32F, ldc, bp.stride_c, batches,
                                                 CUBLAS_COMPUTE_32F_FAST_TF32, CUBLAS_GEMM_DEFAULT));
    } else {
      LLMC_CUDA_CHECK(cublasSgemmStridedBatched(ctx.cublas(), gpu::detail::op(p.trans_first), gpu::detail::op(p.trans_second), m, n,
                                                k, &alpha, first, lda, bp.stride_first, second, ldb, bp.stride_second, &beta,
                                                c.data_handle(), ldc, bp.stride_c, batches));
    }
  }

  static void gemm_bf16(cuda_context& ctx, float alpha, cuda_view<const bfloat16> a, cuda_view<const bfloat16> b,
                        float beta, cuda_view<float> c) {
    static_assert(sizeof(bfloat16) == 2, "llmc::bfloat16 must be the 2-byte storage type of CUDA_R_16BF");
    const gpu::gemm_plan p = gpu::plan_gemm(gpu::dims_of(a), gpu::dims_of(b), gpu::dims_of(c));
    if (p.m == 0 || p.n == 0) return;
    const void* first = p.swapped ? static_cast<const void*>(b.data_handle()) : static_cast<const void*>(a.data_handle());
    const void* second = p.swapped ? static_cast<const void*>(a.data_handle()) : static_cast<const void*>(b.data_handle());
    LLMC_CUDA_CHECK(cublasGemmEx(ctx.cublas(), gpu::detail::op(p.trans_first), gpu::detail::op(p.trans_second),
                                 gpu::to_blas_int(p.m, "m"), gpu::to_blas_int(p.n, "n"), gpu::to_blas_int(p.k, "k"), &alpha,
                                 first, CUDA_R_16BF, gpu::to_blas_int(p.ld_first, "lda"), second, CUDA_R_16BF,
                                 gpu::to_blas_int(p.ld_second, "ldb"), &beta, c.data_handle(), CUDA_R_32F,
                                 gpu::to_blas_int(p.ld_c, "ldc"), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  }

  static void syrk(cuda_context& ctx, triangle t, float alpha, cuda_view<const float> a, float beta, cuda_view<float> c) {
    const gpu::syrk_plan p = gpu::plan_syrk(t, gpu::dims_of(a), gpu::dims_of(c));
    if (p.n == 0) return;
    LLMC_CUDA_CHECK(cublasSsyrk(ctx.cublas(), gpu::detail::fill(p.fill_upper), gpu::detail::op(p.trans),
                                gpu::to_blas_int(p.n, "n"), gpu::to_blas_int(p.k, "k"), &alpha, a.data_handle(),
                                gpu::to_blas_int(p.lda, "lda"), &beta, c.data_handle(), gpu::to_blas_int(p.ldc, "ldc")));
  }

  /// Lower Cholesky factor in place; 0 or the 1-based order of the first non-positive-definite
  /// leading minor. Synchronizes the stream (the info is read back).
  static std::size_t cholesky(cuda_context& ctx, cuda_view<float> a) {
    const gpu::triangular_plan p = gpu::plan_lower(gpu::dims_of(a), "cholesky");
    if (p.n == 0) return 0;
    std::size_t dev_bytes = 0, host_bytes = 0;
    LLMC_CUDA_CHECK(cusolverDnXpotrf_bufferSize(ctx.cusolver(), ctx.cusolver_params(), gpu::detail::fill(p.fill_upper), p.n,
                                                CUDA_R_32F, a.data_handle(), p.lda, CUDA_R_32F, &dev_bytes, &host_bytes));
    void* dev_ws = ctx.device_workspace(dev_bytes);
    void* host_ws = ctx.host_workspace(host_bytes);
    int* info = ctx.device_info();
    LLMC_CUDA_CHECK(cusolverDnXpotrf(ctx.cusolver(), ctx.cusolver_params(), gpu::detail::fill(p.fill_upper), p.n, CUDA_R_32F,
                                     a.data_handle(), p.lda, CUDA_R_32F, dev_ws, dev_bytes, host_ws, host_bytes, info));
    int h_info = 0;
    LLMC_CUDA_CHECK(cudaMemcpyAsync(&h_info, info, sizeof(int), cudaMemcpyDeviceToHost, ctx.stream()));
    ctx.synchronize();
    if (h_info < 0)
      LLMC_THROW(numeric_error, "llmc.cuda.104",
                 "cusolverDnXpotrf rejected argument " + std::to_string(-h_info) + " (info " + std::to_string(h_info) + ")");
    return static_cast<std::size_t>(h_info);
  }

  /// In-place inverse of a non-singular lower triangular matrix (asynchronous: a zero pivot is not
  /// reported; callers that need to know check the result for non-finite values).
  static void invert_lower(cuda_context& ctx, cuda_view<float> l) {
    const gpu::triangular_plan p = gpu::plan_lower(gpu::dims_of(l), "invert_lower");
    if (p.n == 0) return;
    std::size_t dev_bytes = 0, host_bytes = 0;
    LLMC_CUDA_CHECK(cusolverDnXtrtri_bufferSize(ctx.cusolver(), gpu::detail::fill(p.fill_upper), CUBLAS_DIAG_NON_UNIT, p.n,
                                                CUDA_R_32F, l.data_handle(), p.lda, &dev_bytes, &host_bytes));
    void* dev_ws = ctx.device_workspace(dev_bytes);
    void* host_ws = ctx.host_workspace(host_bytes);
    LLMC_CUDA_CHECK(cusolverDnXtrtri(ctx.cusolver(), gpu::detail::fill(p.fill_upper), CUBLAS_DIAG_NON_UNIT, p.n, CUDA_R_32F,
                                     l.data_handle(), p.lda, dev_ws, dev_bytes, host_ws, host_bytes, ctx.device_info()));
  }
};

}  // namespace llmc
