// llmc/backend/cuda/blas_layout.hpp — how llmc's strided row-major views map onto column-major BLAS.
//
// cuBLAS and cuSOLVER take column-major matrices with a leading dimension. A view with unit column
// stride (row-major, row stride rs) is, read column-major with ld = rs, the TRANSPOSE of the view;
// a view with unit row stride (column-major) is the view itself with ld = its column stride. Any
// other strides (both non-unit, negative, overlapping rows) cannot be expressed and are rejected
// (llmc.cuda.110) rather than copied behind the caller's back. The plans below turn the kernel
// conventions of backend/kernel_decl.hpp into the library's (op, m, n, k, ld, fill mode):
//   gemm, C column-major: C = op(A) op(B) directly; C row-major: C^T = op(B)^T op(A)^T, i.e. the
//     operands are swapped and each op flips.
//   gemm strided-batched: the same plan for every matrix, the element strides swapped with the operands.
//   syrk / potrf / trtri: a row-major triangle is the opposite triangle of the column-major buffer.
// Pure host logic on sizes and strides (no CUDA header): tests/cuda executes these plans with a
// reference column-major loop on the host and compares with the host kernels for every layout.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

#include "llmc/backend/kernel_decl.hpp"
#include "llmc/core/error.hpp"

namespace llmc::gpu {

/// Extents and element strides of a 2-D view.
struct strided_dims {
  std::size_t rows = 0, cols = 0;
  std::ptrdiff_t row_stride = 0, col_stride = 0;
};

template <class View>
constexpr strided_dims dims_of(const View& v) noexcept {
  return {v.rows(), v.cols(), v.stride(0), v.stride(1)};
}

/// A view as a column-major library sees it: the buffer holds X (transposed == false) or X^T.
struct colmajor_desc {
  bool transposed = false;  ///< the buffer, read column-major, is the view's transpose (row-major view)
  std::int64_t ld = 1;      ///< leading dimension of that column-major buffer
};

/// Column-major description of a view; throws shape_error llmc.cuda.110 when it has none.
inline colmajor_desc describe(const strided_dims& d, const char* what) {
  const auto rows = static_cast<std::ptrdiff_t>(d.rows), cols = static_cast<std::ptrdiff_t>(d.cols);
  if (d.rows == 0 || d.cols == 0) return {true, std::max<std::int64_t>(1, cols)};
  // Row-major: consecutive columns adjacent (or a single column), rows ld apart with ld >= cols.
  if ((d.col_stride == 1 || d.cols == 1) && (d.rows == 1 || d.row_stride >= std::max<std::ptrdiff_t>(cols, 1)))
    return {true, d.rows == 1 ? std::max<std::int64_t>(1, cols) : static_cast<std::int64_t>(d.row_stride)};
  // Column-major: consecutive rows adjacent, columns ld apart with ld >= rows.
  if ((d.row_stride == 1 || d.rows == 1) && (d.cols == 1 || d.col_stride >= std::max<std::ptrdiff_t>(rows, 1)))
    return {false, d.cols == 1 ? std::max<std::int64_t>(1, rows) : static_cast<std::int64_t>(d.col_stride)};
  LLMC_THROW(shape_error, "llmc.cuda.110",
             std::string("cuda dense kernels: operand ") + what + " (" + std::to_string(d.rows) + " x " +
                 std::to_string(d.cols) + ", strides " + std::to_string(d.row_stride) + ", " + std::to_string(d.col_stride) +
                 ") is neither row-major nor column-major with a leading dimension cuBLAS accepts; copy it into a "
                 "contiguous matrix first");
}

/// One cublasSgemm call: C_buf = op(first) op(second), m x n, inner k; `swapped`: first is B.
struct gemm_plan {
  bool swapped = false;
  bool trans_first = false, trans_second = false;
  std::int64_t m = 0, n = 0, k = 0;
  std::int64_t ld_first = 1, ld_second = 1, ld_c = 1;
};

/// Plan of C = A B (A m x k, B k x n, C m x n). Throws shape_error llmc.cuda.111 on mismatched
/// extents, llmc.cuda.110 on strides cuBLAS cannot take.
inline gemm_plan plan_gemm(const strided_dims& a, const strided_dims& b, const strided_dims& c) {
  if (a.rows != c.rows || b.cols != c.cols || a.cols != b.rows)
    LLMC_THROW(shape_error, "llmc.cuda.111",
               "cuda gemm: A is " + std::to_string(a.rows) + " x " + std::to_string(a.cols) + ", B " + std::to_string(b.rows) +
                   " x " + std::to_string(b.cols) + ", C " + std::to_string(c.rows) + " x " + std::to_string(c.cols) +
                   "; C = A B needs A m x k, B k x n, C m x n");
  const colmajor_desc da = describe(a, "A"), db = describe(b, "B"), dc = describe(c, "C");
  gemm_plan p;
  p.k = static_cast<std::int64_t>(a.cols);
  p.ld_c = dc.ld;
  if (!dc.transposed) {
    // C_buf = C = A B: an operand whose buffer holds its transpose is used transposed.
    p.m = static_cast<std::int64_t>(c.rows);
    p.n = static_cast<std::int64_t>(c.cols);
    p.trans_first = da.transposed;
    p.trans_second = db.transposed;
    p.ld_first = da.ld;
    p.ld_second = db.ld;
  } else {
    // C_buf = C^T = B^T A^T: an operand whose buffer holds its transpose is used as it is.
    p.swapped = true;
    p.m = static_cast<std::int64_t>(c.cols);
    p.n = static_cast<std::int64_t>(c.rows);
    p.trans_first = !db.transposed;
    p.trans_second = !da.transposed;
    p.ld_first = db.ld;
    p.ld_second = da.ld;
  }
  return p;
}

/// One strided-batched GEMM (cublasSgemmStridedBatched): for i < count, C_i = A_i B_i with
/// X_i = X_0 + i * stride_x elements, every X_i laid out as X_0. The per-matrix plan is plan_gemm's;
/// the strides follow the operands (swapped with them when C is row-major).
struct gemm_batched_plan {
  gemm_plan gemm;
  std::int64_t stride_first = 0, stride_second = 0, stride_c = 0;
  std::int64_t count = 0;
};

/// Plan of C_i = A_i B_i, i < count. Throws as plan_gemm, plus shape_error llmc.cuda.110 when a
/// stride is negative or two outputs C_i, C_j share an element (interleaved outputs are fine).
inline gemm_batched_plan plan_gemm_strided_batched(const strided_dims& a, std::int64_t stride_a, const strided_dims& b,
                                                   std::int64_t stride_b, const strided_dims& c, std::int64_t stride_c,
                                                   std::size_t count) {
  gemm_batched_plan p;
  p.gemm = plan_gemm(a, b, c);
  p.count = static_cast<std::int64_t>(count);
  if (stride_a < 0 || stride_b < 0 || stride_c < 0)
    LLMC_THROW(shape_error, "llmc.cuda.110",
               "cuda batched gemm: strides " + std::to_string(stride_a) + ", " + std::to_string(stride_b) + ", " +
                   std::to_string(stride_c) + " must be non-negative");
  // Outputs may interleave (per-head column blocks of one row-major matrix) but not share an element:
  // C_0 holds offsets r + c ld (r < m, c < n); C_d is C_0 moved by s = d stride_c = q ld + rem.
  // It meets C_0 in column c + q at row rem (needs rem < m, q < n), or, wrapping into the next
  // column, at row rem - ld + r for r >= ld - rem (needs ld - rem < m, q + 1 < n).
  if (p.gemm.m > 0 && p.gemm.n > 0)
    for (std::int64_t d = 1; d < p.count; ++d) {
      const std::int64_t s = d * stride_c, q = s / p.gemm.ld_c, rem = s % p.gemm.ld_c;
      if ((rem < p.gemm.m && q < p.gemm.n) || (rem > 0 && p.gemm.ld_c - rem < p.gemm.m && q + 1 < p.gemm.n))
        LLMC_THROW(shape_error, "llmc.cuda.110",
                   "cuda batched gemm: with output stride " + std::to_string(stride_c) + ", output " + std::to_string(d) +
                       " shares elements with output 0 (" + std::to_string(c.rows) + " x " + std::to_string(c.cols) +
                       ", leading dimension " + std::to_string(p.gemm.ld_c) + ")");
    }
  p.stride_first = p.gemm.swapped ? stride_b : stride_a;
  p.stride_second = p.gemm.swapped ? stride_a : stride_b;
  p.stride_c = stride_c;
  return p;
}

/// One syrk call on the column-major buffer of C: C_buf(fill) = alpha op(A_buf) op(A_buf)^T + beta C_buf.
struct syrk_plan {
  bool fill_upper = false;  ///< fill mode of the column-major buffer
  bool trans = false;       ///< op(A_buf) = A_buf^T (A_buf is k x n)
  std::int64_t n = 0, k = 0, lda = 1, ldc = 1;
};

/// Plan of one triangle of C = alpha A A^T + beta C (A n x k, C n x n).
inline syrk_plan plan_syrk(triangle t, const strided_dims& a, const strided_dims& c) {
  if (c.rows != c.cols || a.rows != c.rows)
    LLMC_THROW(shape_error, "llmc.cuda.111",
               "cuda syrk: A is " + std::to_string(a.rows) + " x " + std::to_string(a.cols) + ", C " + std::to_string(c.rows) +
                   " x " + std::to_string(c.cols) + "; C = A A^T needs A n x k and C n x n");
  const colmajor_desc da = describe(a, "A"), dc = describe(c, "C");
  syrk_plan p;
  // C is symmetric, so C_buf is C whichever way it is read; only the triangle flips.
  p.fill_upper = (t == triangle::upper) != dc.transposed;
  p.trans = da.transposed;
  p.n = static_cast<std::int64_t>(c.rows);
  p.k = static_cast<std::int64_t>(a.cols);
  p.lda = da.ld;
  p.ldc = dc.ld;
  return p;
}

/// potrf / trtri on a square matrix whose LOWER triangle (in the view's indexing) holds the data.
struct triangular_plan {
  bool fill_upper = false;
  std::int64_t n = 0, lda = 1;
};

inline triangular_plan plan_lower(const strided_dims& a, const char* what) {
  if (a.rows != a.cols)
    LLMC_THROW(shape_error, "llmc.cuda.111",
               std::string("cuda ") + what + ": the matrix is " + std::to_string(a.rows) + " x " + std::to_string(a.cols) +
                   ", not square");
  const colmajor_desc d = describe(a, "A");
  // The lower triangle of a row-major view is the upper triangle of its column-major buffer.
  return {d.transposed, static_cast<std::int64_t>(a.rows), d.ld};
}

/// cuBLAS's legacy API takes int sizes; throws shape_error llmc.cuda.112 when one does not fit.
inline int to_blas_int(std::int64_t v, const char* what) {
  if (v < 0 || v > 2147483647)
    LLMC_THROW(shape_error, "llmc.cuda.112",
               std::string("cuda dense kernels: ") + what + " = " + std::to_string(v) + " does not fit cuBLAS's int");
  return static_cast<int>(v);
}

}  // namespace llmc::gpu
