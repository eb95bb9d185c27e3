// llmc/method/device_policy.hpp — what the device methods (gptq_device.hpp, hessian_device.hpp)
// need from a backend, and the host implementation of it.
//
// The device methods are written once against a "dense policy" object K, passed explicitly:
//   K::backend                       the backend tag of the memory K's vectors and views live in
//   K::vector<T>                     an owning buffer in that memory (thrust::host_vector here,
//                                    thrust::device_vector for CUDA); .data() / .size()
//   k.exec()                         the Thrust execution policy that runs functors there
//   k.gemm / k.syrk / k.cholesky / k.invert_lower   dense_kernels conventions (kernel_decl.hpp)
//   k.gemm_bf16(alpha, A, B, beta, C) bf16 A, B; fp32 accumulation and C
//   k.gemm_tf32(...)                 gemm with TF32 products where the backend has them (host: gemm)
//   k.gemm_strided_batched(alpha, A, sa, B, sb, beta, C, sc, count) (and _tf32): C_i = alpha A_i B_i
//                                    + beta C_i with X_i = X moved by i * sx elements
//   k.download(src, n, dst) / k.upload(src, n, dst)  copies to / from host memory (synchronous)
//   k.synchronize()
//   K::pinned_vector<T>              host memory the policy copies from / to fastest (page-locked
//                                    for CUDA, std::vector here); .data() / .size() / resize
//   k.free_device_bytes()            free memory in the policy's memory now (here: unlimited)
//   k.guard(what, f)                 runs f(); the CUDA policy turns Thrust's exceptions into
//                                    cuda_error llmc.cuda.104 / 105 (backend/cuda/thrust_error.hpp)
//                                    naming `what`; optional: detail::policy_guard calls f without it
// host_dense_policy runs everything on the host with the host kernels (thrust::host runs the
// functors sequentially): it is how the device code's logic is compiled by g++ and tested against
// the host methods on machines without a GPU. The CUDA policy is backend/cuda/thrust_policy.hpp.
// gemm_bf16 on the host is the exact emulation of a bf16-input, fp32-accumulating GEMM: a
// product of two bf16 values is exact in fp32, so converting the operands to fp32 and running the
// fp32 kernel accumulates the same products in fp32 (the summation order is the host kernel's).
#pragma once

#include <thrust/copy.h>
#include <thrust/execution_policy.h>
#include <thrust/host_vector.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "llmc/backend/kernels.hpp"
#include "llmc/core/backend_tag.hpp"
#include "llmc/core/config.hpp"
#include "llmc/numeric/bfloat16.hpp"
#include "llmc/tensor/matrix.hpp"
#include "llmc/tensor/matrix_view.hpp"

namespace llmc {

/// The minimal shape of a dense policy (see the header comment for the full contract).
template <class K>
concept dense_policy = requires(const K& k) {
  typename K::backend;
  typename K::template vector<float>;
  k.exec();
  k.synchronize();
};

/// Raw pointer to the first element of a policy vector (thrust::device_ptr or T*).
template <class V>
auto raw_data(V& v) noexcept {
  return thrust::raw_pointer_cast(v.data());
}

namespace detail {

/// Row r of a per-row mask in the policy's memory is a token (nonzero): thrust::copy_if's
/// predicate over row indices, which gathers the kept rows of a padded batch.
struct row_kept {
  const std::uint8_t* mask;
  LLMC_HOST_DEVICE bool operator()(std::size_t r) const { return mask[r] != 0; }
};

/// out[i, c] = x(rows ? rows[i] : i, c) converted to Out, for a row-major [m, x.cols()] output
/// (one thread per element). The view's backend tag is host_backend only so that the functor is
/// one type for every policy; its pointer is dereferenced where the functor runs.
template <class In, class Out>
struct gather_rows {
  matrix_view<const In, host_backend> x;
  const std::size_t* rows;
  Out* out;
  LLMC_HOST_DEVICE void operator()(std::size_t idx) const {
    const std::size_t i = idx / x.cols(), c = idx % x.cols();
    out[idx] = Out(x(rows != nullptr ? rows[i] : i, c));
  }
};

}  // namespace detail

struct host_dense_policy {
  using backend = host_backend;
  template <class T>
  using vector = thrust::host_vector<T>;
  template <class T>
  using pinned_vector = std::vector<T>;

  static auto exec() { return thrust::host; }
  static void synchronize() noexcept {}
  /// No device: the "device" is the host, taken as unlimited.
  static std::uint64_t free_device_bytes() noexcept { return std::numeric_limits<std::uint64_t>::max(); }
  /// Runs f (there is no Thrust CUDA system to translate exceptions from).
  template <class F>
  static decltype(auto) guard(const char*, F&& f) {
    return std::forward<F>(f)();
  }

  static void gemm(float alpha, matrix_view<const float> a, matrix_view<const float> b, float beta, matrix_view<float> c) {
    dense_kernels<host_backend>::gemm(alpha, a, b, beta, c);
  }
  static void syrk(triangle t, float alpha, matrix_view<const float> a, float beta, matrix_view<float> c) {
    dense_kernels<host_backend>::syrk(t, alpha, a, beta, c);
  }
  /// TF32 fast math on a GPU; the host has none, so this is gemm.
  static void gemm_tf32(float alpha, matrix_view<const float> a, matrix_view<const float> b, float beta, matrix_view<float> c) {
    gemm(alpha, a, b, beta, c);
  }
  /// C_i = alpha A_i B_i + beta C_i, i < count, X_i = the view X moved by i * stride_x elements.
  static void gemm_strided_batched(float alpha, matrix_view<const float> a, std::ptrdiff_t stride_a, matrix_view<const float> b,
                                   std::ptrdiff_t stride_b, float beta, matrix_view<float> c, std::ptrdiff_t stride_c,
                                   std::size_t count) {
    auto at = [](auto v, std::ptrdiff_t off) {
      return decltype(v)(v.data_handle() + off, v.rows(), v.cols(), v.stride(0), v.stride(1));
    };
    for (std::size_t i = 0; i < count; ++i) {
      const auto o = static_cast<std::ptrdiff_t>(i);
      dense_kernels<host_backend>::gemm(alpha, at(a, o * stride_a), at(b, o * stride_b), beta, at(c, o * stride_c));
    }
  }
  static void gemm_strided_batched_tf32(float alpha, matrix_view<const float> a, std::ptrdiff_t stride_a,
                                        matrix_view<const float> b, std::ptrdiff_t stride_b, float beta, matrix_view<float> c,
                                        std::ptrdiff_t stride_c, std::size_t count) {
    gemm_strided_batched(alpha, a, stride_a, b, stride_b, beta, c, stride_c, count);
  }
  static std::size_t cholesky(matrix_view<float> a) { return dense_kernels<host_backend>::cholesky(a); }
  static void invert_lower(matrix_view<float> l) { dense_kernels<host_backend>::invert_lower(l); }
  static void gemm_bf16(float alpha, matrix_view<const bfloat16> a, matrix_view<const bfloat16> b, float beta,
                        matrix_view<float> c) {
    auto widen = [](matrix_view<const bfloat16> v) { return matrix<float>::from(v, [](bfloat16 x) { return static_cast<float>(x); }); };
    const matrix<float> af = widen(a), bf = widen(b);
    dense_kernels<host_backend>::gemm(alpha, cview(af), cview(bf), beta, c);
  }
  template <class T>
  static void download(const T* src, std::size_t n, T* dst) {
    std::copy_n(src, n, dst);
  }
  template <class T>
  static void upload(const T* src, std::size_t n, T* dst) {
    std::copy_n(src, n, dst);
  }
};

namespace detail {
/// k.guard(what, f) when the policy has one, else f().
template <class K, class F>
decltype(auto) policy_guard(const K& k, const char* what, F&& f) {
  if constexpr (requires { k.guard(what, std::forward<F>(f)); }) return k.guard(what, std::forward<F>(f));
  else return std::forward<F>(f)();
}
}  // namespace detail

}  // namespace llmc
