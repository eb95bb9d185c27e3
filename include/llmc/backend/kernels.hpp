// llmc/backend/kernels.hpp — the host's dense kernels, and the functions the methods call.
//
// Aggregates the implementations: backend/generic (reference loops, the test oracle),
// backend/cpu (llmc's packed kernels, one clone per x86 ISA) and, when LLMC_HAS_CBLAS is defined,
// backend/cpu/blas.hpp (OpenBLAS). dense_kernels<host_backend> routes each call to llmc's kernels
// or to CBLAS according to dense_implementation(); the free functions gemm / syrk / cholesky /
// invert_lower accept any float matrix_like and pick the kernels of its backend tag.
// Default: llmc's own kernels, because they are the faster ones here: on the development machine
// (AMD EPYC Zen 5 with AVX-512, 2 cores; Debian's OpenBLAS 0.3.21, which does not know Zen 5 and
// runs its Haswell AVX2 kernels), single-threaded CPU time, 2048^3 SGEMM: llmc AVX-512 191 GFLOP/s,
// llmc AVX2 115, OpenBLAS 124; SYRK 2048 x 4096 (n^2 k FLOPs): llmc 208, OpenBLAS 122; GPTQ factor
// (Cholesky + inverse, n = 5632): llmc 113, on cblas 87. Select CBLAS where it wins (a CPU that
// OpenBLAS knows, or an MKL build): set_dense_implementation(dense_impl::blas).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <utility>

#include "llmc/backend/cpu/blas.hpp"
#include "llmc/backend/cpu/cholesky.hpp"
#include "llmc/backend/cpu/gemm.hpp"
#include "llmc/backend/cpu/isa.hpp"
#include "llmc/backend/generic/dense.hpp"
#include "llmc/backend/kernel_decl.hpp"
#include "llmc/core/backend_tag.hpp"
#include "llmc/tensor/concepts.hpp"
#include "llmc/tensor/matrix_view.hpp"

namespace llmc {

/// Which implementation serves the host's dense kernels.
enum class dense_impl : std::uint8_t {
  own,   ///< llmc's packed kernels (backend/cpu)
  blas,  ///< CBLAS (only when built with LLMC_HAS_CBLAS; otherwise requests fall back to own)
};

namespace detail {
inline std::atomic<std::uint8_t>& dense_impl_setting() noexcept {
  static std::atomic<std::uint8_t> v{static_cast<std::uint8_t>(dense_impl::own)};
  return v;
}
}  // namespace detail

/// Selects the implementation (process-wide; not meant to change while kernels run).
inline void set_dense_implementation(dense_impl i) noexcept {
  detail::dense_impl_setting() = static_cast<std::uint8_t>(i);
}
/// The implementation in use: blas only when requested and available.
inline dense_impl dense_implementation() noexcept {
  const auto v = static_cast<dense_impl>(detail::dense_impl_setting().load(std::memory_order_relaxed));
  return v == dense_impl::blas && blas::available ? dense_impl::blas : dense_impl::own;
}

template <>
struct dense_kernels<host_backend> {
  static void gemm(float alpha, matrix_view<const float> a, matrix_view<const float> b, float beta, matrix_view<float> c,
                   unsigned threads = 0) {
#if defined(LLMC_HAS_CBLAS)
    if (dense_implementation() == dense_impl::blas) return blas::gemm(alpha, a, b, beta, c, threads);
#endif
    cpu::gemm(alpha, a, b, beta, c, threads);
  }
  static void syrk(triangle t, float alpha, matrix_view<const float> a, float beta, matrix_view<float> c,
                   unsigned threads = 0) {
#if defined(LLMC_HAS_CBLAS)
    if (dense_implementation() == dense_impl::blas) return blas::syrk(t, alpha, a, beta, c, threads);
#endif
    cpu::syrk(t, alpha, a, beta, c, threads);
  }
  static std::size_t cholesky(matrix_view<float> a) {
#if defined(LLMC_HAS_CBLAS)
    if (dense_implementation() == dense_impl::blas) return blas::cholesky(a);
#endif
    return cpu::cholesky(a);
  }
  static void invert_lower(matrix_view<float> l) {
#if defined(LLMC_HAS_CBLAS)
    if (dense_implementation() == dense_impl::blas) return blas::invert_lower(l);
#endif
    cpu::invert_lower(l);
  }
};

/// Kernels of the backend a matrix type lives on.
template <class M>
using dense_kernels_for = dense_kernels<backend_of_t<M>>;

/// C = alpha * A * B + beta * C on float matrices of one backend (any adapters and strides).
template <matrix_like A, matrix_like B, matrix_like C>
  requires mutable_matrix<C>
void gemm(float alpha, const A& a, const B& b, float beta, C&& c) {
  static_assert(std::is_same_v<std::remove_cv_t<element_of_t<C>>, float>, "llmc: gemm works on float matrices");
  dense_kernels_for<C>::gemm(alpha, cview(a), cview(b), beta, view(c));
}

/// One triangle of C = alpha * A * A^T + beta * C.
template <matrix_like A, matrix_like C>
  requires mutable_matrix<C>
void syrk(triangle t, float alpha, const A& a, float beta, C&& c) {
  static_assert(std::is_same_v<std::remove_cv_t<element_of_t<C>>, float>, "llmc: syrk works on float matrices");
  dense_kernels_for<C>::syrk(t, alpha, cview(a), beta, view(c));
}

/// Lower Cholesky factor in place; 0 or the 1-based index of the failing pivot.
template <matrix_like M>
  requires mutable_matrix<M>
std::size_t cholesky(M&& a) {
  return dense_kernels_for<M>::cholesky(view(a));
}

/// In-place inverse of a lower triangular matrix.
template <matrix_like M>
  requires mutable_matrix<M>
void invert_lower(M&& l) {
  dense_kernels_for<M>::invert_lower(view(l));
}

/// Copies one triangle of a square matrix onto the other (a symmetric matrix from SYRK's half).
template <host_matrix M>
  requires mutable_matrix<M>
void mirror_triangle(triangle from, M&& m_in) {
  auto m = view(m_in);
  for (std::size_t i = 0; i < m.rows(); ++i)
    for (std::size_t j = i + 1; j < m.cols(); ++j) {
      if (from == triangle::upper) m(j, i) = m(i, j); else m(i, j) = m(j, i);
    }
}

}  // namespace llmc
