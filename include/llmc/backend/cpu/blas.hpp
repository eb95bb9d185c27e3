// llmc/backend/cpu/blas.hpp — the dense kernels on a CBLAS library (OpenBLAS), when one is linked.
//
// Compiled only when LLMC_HAS_CBLAS is defined (the CMake target llmc::blas defines it and links
// OpenBLAS, cmake/llmcBlas.cmake); otherwise llmc::blas::available is false and nothing else is
// declared. Views map onto CBLAS's row-major calls when one of their strides is 1 (a transposed
// operand is CblasTrans); any other layout, or a C that is not row-major, goes to llmc's own kernel.
// Cholesky and the triangular inverse are LAPACK's blocked potrf / trtri (LAPACK Users' Guide
// §3.4) written with cblas_strsm / cblas_ssyrk / cblas_strmm, so that they need CBLAS only.
// The thread count of these calls is OpenBLAS's (OPENBLAS_NUM_THREADS), not llmc::max_threads();
// OpenBLAS splits level-3 work over the M and N dimensions only, so results do not depend on it.
#pragma once

#include <algorithm>
#include <cstddef>

#include "llmc/backend/cpu/cholesky.hpp"
#include "llmc/backend/cpu/gemm.hpp"
#include "llmc/backend/kernel_decl.hpp"
#include "llmc/tensor/matrix_view.hpp"

#if defined(LLMC_HAS_CBLAS)
#include <cblas.h>
#endif

namespace llmc::blas {

#if defined(LLMC_HAS_CBLAS)
inline constexpr bool available = true;

namespace detail {
/// A view as a row-major CBLAS operand: trans and leading dimension; false when neither stride is 1.
inline bool as_operand(matrix_view<const float> v, CBLAS_TRANSPOSE& t, int& ld) {
  const std::ptrdiff_t rs = v.stride(0), cs = v.stride(1);
  if (cs == 1 && rs >= static_cast<std::ptrdiff_t>(std::max<std::size_t>(1, v.cols()))) {
    t = CblasNoTrans;
    ld = static_cast<int>(rs);
    return true;
  }
  if (rs == 1 && cs >= static_cast<std::ptrdiff_t>(std::max<std::size_t>(1, v.rows()))) {
    t = CblasTrans;
    ld = static_cast<int>(cs);
    return true;
  }
  return false;
}
inline bool row_major(matrix_view<const float> v) {
  return v.stride(1) == 1 && v.stride(0) >= static_cast<std::ptrdiff_t>(std::max<std::size_t>(1, v.cols()));
}
}  // namespace detail

/// cblas_sgemm (conventions of kernel_decl.hpp). `threads` is ignored (OpenBLAS decides).
inline void gemm(float alpha, matrix_view<const float> a, matrix_view<const float> b, float beta, matrix_view<float> c,
                 unsigned threads = 0) {
  CBLAS_TRANSPOSE ta, tb;
  int lda, ldb;
  if (c.rows() == 0 || c.cols() == 0 || a.cols() == 0 || !detail::as_operand(a, ta, lda) ||
      !detail::as_operand(b, tb, ldb) || !detail::row_major(c)) {
    cpu::gemm(alpha, a, b, beta, c, threads);
    return;
  }
  if (a.rows() != c.rows() || b.cols() != c.cols() || a.cols() != b.rows())
    LLMC_THROW(shape_error, "llmc.backend.001", "gemm: operand shapes do not chain (A m x k, B k x n, C m x n)");
  cblas_sgemm(CblasRowMajor, ta, tb, static_cast<int>(c.rows()), static_cast<int>(c.cols()), static_cast<int>(a.cols()),
              alpha, a.data_handle(), lda, b.data_handle(), ldb, beta, c.data_handle(), static_cast<int>(c.stride(0)));
}

/// cblas_ssyrk on one triangle (conventions of kernel_decl.hpp).
inline void syrk(triangle t, float alpha, matrix_view<const float> a, float beta, matrix_view<float> c,
                 unsigned threads = 0) {
  CBLAS_TRANSPOSE ta;
  int lda;
  if (c.rows() == 0 || a.cols() == 0 || !detail::as_operand(a, ta, lda) || !detail::row_major(c)) {
    cpu::syrk(t, alpha, a, beta, c, threads);
    return;
  }
  if (c.rows() != c.cols() || a.rows() != c.rows())
    LLMC_THROW(shape_error, "llmc.backend.002", "syrk: C must be n x n and A n x k");
  cblas_ssyrk(CblasRowMajor, t == triangle::upper ? CblasUpper : CblasLower, ta, static_cast<int>(c.rows()),
              static_cast<int>(a.cols()), alpha, a.data_handle(), lda, beta, c.data_handle(), static_cast<int>(c.stride(0)));
}

/// Blocked right-looking potrf with cblas_strsm / cblas_ssyrk. Returns 0 or j + 1.
inline std::size_t cholesky(matrix_view<float> a) {
  if (a.rows() != a.cols()) LLMC_THROW(shape_error, "llmc.backend.003", "cholesky: the matrix must be square");
  if (!detail::row_major(a)) return cpu::cholesky(a);
  const std::size_t n = a.rows(), nb = cpu::detail::factor_block;
  const int ld = static_cast<int>(a.stride(0));
  for (std::size_t k = 0; k < n; k += nb) {
    const std::size_t kb = std::min(nb, n - k);
    if (const std::size_t info = cpu::detail::cholesky_small(a.block(k, k, kb, kb)); info != 0) return k + info;
    const std::size_t m = n - k - kb;
    if (m == 0) break;
    cblas_strsm(CblasRowMajor, CblasRight, CblasLower, CblasTrans, CblasNonUnit, static_cast<int>(m), static_cast<int>(kb),
                1.0f, &a(k, k), ld, &a(k + kb, k), ld);
    cblas_ssyrk(CblasRowMajor, CblasLower, CblasNoTrans, static_cast<int>(m), static_cast<int>(kb), -1.0f, &a(k + kb, k), ld,
                1.0f, &a(k + kb, k + kb), ld);
  }
  return 0;
}

/// Blocked backward trtri with cblas_strmm / cblas_strsm.
inline void invert_lower(matrix_view<float> l) {
  if (l.rows() != l.cols()) LLMC_THROW(shape_error, "llmc.backend.004", "invert_lower: the matrix must be square");
  if (!detail::row_major(l)) {
    cpu::invert_lower(l);
    return;
  }
  const std::size_t n = l.rows(), nb = cpu::detail::factor_block;
  if (n == 0) return;
  const int ld = static_cast<int>(l.stride(0));
  matrix<float> inv11;
  for (std::size_t bj = (n + nb - 1) / nb; bj-- > 0;) {
    const std::size_t j = bj * nb, jb = std::min(nb, n - j), m = n - j - jb;
    if (m > 0) {
      // L21 := X22 * L21, then L21 := -L21 * L11^-1 (L11 still holds L's block).
      cblas_strmm(CblasRowMajor, CblasLeft, CblasLower, CblasNoTrans, CblasNonUnit, static_cast<int>(m), static_cast<int>(jb),
                  1.0f, &l(j + jb, j + jb), ld, &l(j + jb, j), ld);
      cblas_strsm(CblasRowMajor, CblasRight, CblasLower, CblasNoTrans, CblasNonUnit, static_cast<int>(m), static_cast<int>(jb),
                  -1.0f, &l(j, j), ld, &l(j + jb, j), ld);
    }
    cpu::detail::invert_lower_small(l.block(j, j, jb, jb), inv11);
    for (std::size_t r = 0; r < jb; ++r)
      for (std::size_t c = 0; c <= r; ++c) l(j + r, j + c) = inv11(r, c);
  }
}
#else
inline constexpr bool available = false;
#endif

}  // namespace llmc::blas
