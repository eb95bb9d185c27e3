// llmc/backend/cpu/cholesky.hpp — blocked Cholesky factorization and triangular inverse.
//
// LAPACK's right-looking blocked potrf and backward blocked trtri (Anderson et al., LAPACK Users'
// Guide, 3rd ed., §3.4; spotrf / strtri), expressed on llmc's GEMM and SYRK so that almost all of
// their n^3/3 FLOPs run in the packed kernels of gemm.hpp (or cblas): a 128-wide diagonal block is
// factored / inverted by plain loops in double, the panel solve becomes a GEMM with the inverted
// diagonal block, and the trailing update is a SYRK (potrf) or block-row GEMMs (trtri).
// Conventions are those of backend/kernel_decl.hpp: only the lower triangle is read or written.
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <vector>

#include "llmc/backend/cpu/gemm.hpp"
#include "llmc/backend/kernel_decl.hpp"
#include "llmc/core/parallel.hpp"
#include "llmc/tensor/matrix.hpp"
#include "llmc/tensor/matrix_view.hpp"

namespace llmc::cpu {

namespace detail {

/// Width of the diagonal blocks handled by plain loops.
inline constexpr std::size_t factor_block = 128;

/// sum_p a[p] * b[p] in double, with 8 independent partial sums (so the loop vectorizes without
/// reassociating a single sum; the result does not depend on the ISA).
template <class B>
inline double dot8(const float* LLMC_RESTRICT a, const B* LLMC_RESTRICT b, std::size_t n) noexcept {
  double s[8] = {};
  std::size_t p = 0;
  for (; p + 8 <= n; p += 8)
    for (std::size_t l = 0; l < 8; ++l) s[l] += static_cast<double>(a[p + l]) * static_cast<double>(b[p + l]);
  for (std::size_t l = 0; p < n; ++p, ++l) s[l] += static_cast<double>(a[p]) * static_cast<double>(b[p]);
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

/// Lower Cholesky of a small block in place (Cholesky–Crout by rows, double accumulation).
/// Returns 0 or j + 1. Rows must be contiguous (column stride 1).
inline std::size_t cholesky_small(matrix_view<float> a) {
  const std::size_t n = a.rows();
  for (std::size_t j = 0; j < n; ++j) {
    const float* rj = a.row(j);
    const double d = static_cast<double>(a(j, j)) - dot8(rj, rj, j);
    if (!(d > 0.0) || !std::isfinite(d)) return j + 1;
    const double ljj = std::sqrt(d);
    a(j, j) = static_cast<float>(ljj);
    for (std::size_t i = j + 1; i < n; ++i) a(i, j) = static_cast<float>((a(i, j) - dot8(a.row(i), rj, j)) / ljj);
  }
  return 0;
}

/// out = inverse of the small lower-triangular block l, as a dense matrix (zeros above the diagonal).
/// Rows of l must be contiguous.
inline void invert_lower_small(matrix_view<const float> l, matrix<float>& out) {
  const std::size_t n = l.rows();
  out = matrix<float>(n, n, 0.0f);
  std::vector<double> x(n);
  for (std::size_t j = 0; j < n; ++j) {
    // Column j of L^-1 solves L x = e_j by forward substitution; x_p = 0 for p < j.
    for (std::size_t i = j; i < n; ++i) {
      const double s = (i == j ? 1.0 : 0.0) - dot8(l.row(i) + j, x.data() + j, i - j);
      x[i] = s / l(i, i);
    }
    for (std::size_t i = j; i < n; ++i) out(i, j) = static_cast<float>(x[i]);
  }
}

}  // namespace detail

/// Lower Cholesky factor in place (A = L L^T); returns 0, or j + 1 when pivot j is not positive.
/// @tparam Gemm, Syrk callables with the signatures of cpu::gemm / cpu::syrk, threads argument
/// included (llmc's kernels, or a cblas forwarder).
template <class Gemm, class Syrk>
std::size_t cholesky_with(matrix_view<float> a, Gemm&& gemm_fn, Syrk&& syrk_fn) {
  const std::size_t n = a.rows();
  const std::size_t nb = detail::factor_block;
  matrix<float> inv, panel;
  for (std::size_t k = 0; k < n; k += nb) {
    const std::size_t kb = std::min(nb, n - k);
    if (const std::size_t info = detail::cholesky_small(a.block(k, k, kb, kb)); info != 0) return k + info;
    const std::size_t m = n - k - kb;
    if (m == 0) break;
    // A21 := A21 * L11^-T, as a GEMM with the inverted diagonal block.
    detail::invert_lower_small(a.block(k, k, kb, kb), inv);
    auto a21 = a.block(k + kb, k, m, kb);
    panel = matrix<float>(m, kb);
    for (std::size_t i = 0; i < m; ++i)
      for (std::size_t j = 0; j < kb; ++j) panel(i, j) = a21(i, j);
    gemm_fn(1.0f, cview(panel), cview(inv).transposed(), 0.0f, a21, 0u);
    // A22 := A22 - A21 * A21^T (lower triangle).
    syrk_fn(triangle::lower, -1.0f, matrix_view<const float>(a21), 1.0f, a.block(k + kb, k + kb, m, m), 0u);
  }
  return 0;
}

/// L := L^-1 in place (lower triangle), L non-singular. Callables as in cholesky_with.
template <class Gemm>
void invert_lower_with(matrix_view<float> l, Gemm&& gemm_fn) {
  const std::size_t n = l.rows();
  const std::size_t nb = detail::factor_block;
  if (n == 0) return;
  matrix<float> inv11, diag, q;
  // Blocks from the last to the first: when block j is processed, X22 = L22^-1 (everything below
  // and right of it) is already in place.
  const std::size_t nblocks = (n + nb - 1) / nb;
  for (std::size_t bj = nblocks; bj-- > 0;) {
    const std::size_t j = bj * nb;
    const std::size_t jb = std::min(nb, n - j);
    detail::invert_lower_small(l.block(j, j, jb, jb), inv11);
    const std::size_t m = n - j - jb;
    if (m > 0) {
      // Q = X22 * L21 (X22 lower triangular m x m), block row by block row into a separate buffer
      // so the rows are independent and run in parallel.
      auto l21 = l.block(j + jb, j, m, jb);
      auto x22 = l.block(j + jb, j + jb, m, m);
      q = matrix<float>(m, jb);
      const std::size_t rblocks = (m + nb - 1) / nb;
      std::atomic<std::size_t> next{0};
      const std::size_t chunks = parallel_chunks(rblocks, 1);
      parallel_for_chunks(chunks, chunks, [&](std::size_t, std::size_t, std::size_t) {
        matrix<float> d;
        // Most expensive block rows (the lowest ones, which read the most of X22) first.
        for (std::size_t t = next++; t < rblocks; t = next++) {
          const std::size_t i = (rblocks - 1 - t) * nb, ib = std::min(nb, m - i);
          // Diagonal block of X22 as a dense lower matrix (the strictly upper part of l is not ours).
          d = matrix<float>(ib, ib, 0.0f);
          for (std::size_t r = 0; r < ib; ++r)
            for (std::size_t c = 0; c <= r; ++c) d(r, c) = x22(i + r, i + c);
          auto qi = q.view().block(i, 0, ib, jb);
          gemm_fn(1.0f, cview(d), matrix_view<const float>(l21.block(i, 0, ib, jb)), 0.0f, qi, 1u);
          if (i > 0) gemm_fn(1.0f, matrix_view<const float>(x22.block(i, 0, ib, i)),
                             matrix_view<const float>(l21.block(0, 0, i, jb)), 1.0f, qi, 1u);
        }
      });
      // L21 := -Q * L11^-1.
      gemm_fn(-1.0f, cview(q), cview(inv11), 0.0f, l21, 0u);
    }
    for (std::size_t r = 0; r < jb; ++r)
      for (std::size_t c = 0; c <= r; ++c) l(j + r, j + c) = inv11(r, c);
  }
}

namespace detail {
/// Runs f on a row-major copy of the lower triangle of a when its rows are not contiguous.
template <class F>
decltype(auto) on_row_major(matrix_view<float> a, F&& f) {
  if (a.stride(1) == 1) return f(a);
  matrix<float> tmp(a.rows(), a.cols(), 0.0f);
  for (std::size_t i = 0; i < a.rows(); ++i)
    for (std::size_t j = 0; j <= i && j < a.cols(); ++j) tmp(i, j) = a(i, j);
  struct copy_back {
    matrix<float>& t;
    matrix_view<float> a;
    ~copy_back() {
      for (std::size_t i = 0; i < a.rows(); ++i)
        for (std::size_t j = 0; j <= i && j < a.cols(); ++j) a(i, j) = t(i, j);
    }
  } guard{tmp, a};
  return f(tmp.view());
}
}  // namespace detail

/// cholesky_with on llmc's own GEMM / SYRK (any strides).
inline std::size_t cholesky(matrix_view<float> a) {
  if (a.rows() != a.cols()) LLMC_THROW(shape_error, "llmc.backend.003", "cholesky: the matrix must be square");
  return detail::on_row_major(a, [](matrix_view<float> m) {
    return cholesky_with(m, [](auto&&... x) { gemm(x...); }, [](auto&&... x) { syrk(x...); });
  });
}

/// invert_lower_with on llmc's own GEMM (any strides).
inline void invert_lower(matrix_view<float> l) {
  if (l.rows() != l.cols()) LLMC_THROW(shape_error, "llmc.backend.004", "invert_lower: the matrix must be square");
  detail::on_row_major(l, [](matrix_view<float> m) { invert_lower_with(m, [](auto&&... x) { gemm(x...); }); });
}

}  // namespace llmc::cpu
