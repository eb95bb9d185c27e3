// llmc/backend/generic/dense.hpp — plain reference implementations of the dense kernels.
//
// The textbook loops of gemm, syrk, Cholesky (Cholesky–Banachiewicz) and the lower triangular
// inverse (forward substitution), accumulating in double. They are the test oracle of every
// optimized kernel (backend/cpu, cblas, CUDA) and the fallback of last resort; they make no attempt
// at speed. Conventions are those of backend/kernel_decl.hpp.
#pragma once

#include <cmath>
#include <cstddef>
#include <vector>

#include "llmc/backend/kernel_decl.hpp"
#include "llmc/core/error.hpp"
#include "llmc/tensor/matrix_view.hpp"

namespace llmc::generic {

/// C = alpha * A * B + beta * C. A: m x k, B: k x n, C: m x n.
inline void gemm(float alpha, matrix_view<const float> a, matrix_view<const float> b, float beta, matrix_view<float> c) {
  if (a.rows() != c.rows() || b.cols() != c.cols() || a.cols() != b.rows())
    LLMC_THROW(shape_error, "llmc.backend.001", "gemm: operand shapes do not chain (A m x k, B k x n, C m x n)");
  for (std::size_t i = 0; i < c.rows(); ++i)
    for (std::size_t j = 0; j < c.cols(); ++j) {
      double s = 0.0;
      for (std::size_t p = 0; p < a.cols(); ++p) s += static_cast<double>(a(i, p)) * static_cast<double>(b(p, j));
      const double old = beta == 0.0f ? 0.0 : static_cast<double>(beta) * static_cast<double>(c(i, j));
      c(i, j) = static_cast<float>(static_cast<double>(alpha) * s + old);
    }
}

/// One triangle of C = alpha * A * A^T + beta * C. A: n x k, C: n x n.
inline void syrk(triangle t, float alpha, matrix_view<const float> a, float beta, matrix_view<float> c) {
  if (c.rows() != c.cols() || a.rows() != c.rows())
    LLMC_THROW(shape_error, "llmc.backend.002", "syrk: C must be n x n and A n x k");
  const std::size_t n = c.rows();
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t j0 = t == triangle::upper ? i : 0, j1 = t == triangle::upper ? n : i + 1;
    for (std::size_t j = j0; j < j1; ++j) {
      double s = 0.0;
      for (std::size_t p = 0; p < a.cols(); ++p) s += static_cast<double>(a(i, p)) * static_cast<double>(a(j, p));
      const double old = beta == 0.0f ? 0.0 : static_cast<double>(beta) * static_cast<double>(c(i, j));
      c(i, j) = static_cast<float>(static_cast<double>(alpha) * s + old);
    }
  }
}

/// Lower Cholesky factor in place. Returns 0, or j + 1 when pivot j is not positive (or NaN).
inline std::size_t cholesky(matrix_view<float> a) {
  if (a.rows() != a.cols()) LLMC_THROW(shape_error, "llmc.backend.003", "cholesky: the matrix must be square");
  const std::size_t n = a.rows();
  for (std::size_t j = 0; j < n; ++j) {
    double d = a(j, j);
    for (std::size_t p = 0; p < j; ++p) d -= static_cast<double>(a(j, p)) * static_cast<double>(a(j, p));
    if (!(d > 0.0) || !std::isfinite(d)) return j + 1;
    const double ljj = std::sqrt(d);
    a(j, j) = static_cast<float>(ljj);
    for (std::size_t i = j + 1; i < n; ++i) {
      double s = a(i, j);
      for (std::size_t p = 0; p < j; ++p) s -= static_cast<double>(a(i, p)) * static_cast<double>(a(j, p));
      a(i, j) = static_cast<float>(s / ljj);
    }
  }
  return 0;
}

/// L := L^-1 for a non-singular lower triangular L (in place, lower triangle).
inline void invert_lower(matrix_view<float> l) {
  if (l.rows() != l.cols()) LLMC_THROW(shape_error, "llmc.backend.004", "invert_lower: the matrix must be square");
  const std::size_t n = l.rows();
  // Column j of X = L^-1 solves L x = e_j (x_i = 0 for i < j) by forward substitution. Later
  // columns still read L's original entries, so the solve works on a copy of L in double.
  std::vector<double> orig(n * n);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t p = 0; p <= i; ++p) orig[i * n + p] = l(i, p);
  std::vector<double> x(n);
  for (std::size_t j = 0; j < n; ++j) {
    for (std::size_t i = j; i < n; ++i) {
      double s = i == j ? 1.0 : 0.0;
      for (std::size_t p = j; p < i; ++p) s -= orig[i * n + p] * x[p];
      x[i] = s / orig[i * n + i];
    }
    for (std::size_t i = j; i < n; ++i) l(i, j) = static_cast<float>(x[i]);
  }
}

}  // namespace llmc::generic
