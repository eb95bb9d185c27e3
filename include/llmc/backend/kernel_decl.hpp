// llmc/backend/kernel_decl.hpp — the dense linear-algebra kernels every backend provides.
//
// GPTQ needs four level-3 kernels: GEMM (the lazy batch update of the sweep), SYRK (the Hessian,
// half the FLOPs of a GEMM), a Cholesky factorization and a triangular inverse (the inverse-Hessian
// factor). dense_kernels<Backend> names them; backends specialize it (backend/kernels.hpp for the
// host; a CUDA backend adds its own), and an unmatched backend fails to compile with a message
// saying what to include. Conventions of every implementation (BLAS's, so cblas can serve them):
//   gemm:     C = alpha * A * B + beta * C            (beta == 0 overwrites C, NaNs included)
//   syrk:     C = alpha * A * A^T + beta * C on one triangle of C; the other one is not touched
//   cholesky: A = L * L^T in place on the lower triangle; returns 0, or j + 1 when the leading
//             minor of order j + 1 is not positive definite (LAPACK potrf's info); the strictly
//             upper triangle is not read
//   invert_lower: L := L^-1 in place on the lower triangle (L must be non-singular)
// Views may have any strides (a transposed operand is a view with swapped strides).
#pragma once

#include <cstddef>
#include <cstdint>

#include "llmc/core/meta.hpp"

namespace llmc {

/// Which triangle of a symmetric or triangular matrix holds the data.
enum class triangle : std::uint8_t { upper, lower };

/// Dense kernels for a backend tag. The primary template is never usable.
template <class Backend>
struct dense_kernels {
  static_assert(dependent_false<Backend>,
                "llmc: no dense kernels for this backend; include llmc/backend/kernels.hpp for host tensors "
                "(a CUDA backend specializes llmc::dense_kernels<cuda_backend> in llmc/backend/cuda/)");
};

}  // namespace llmc
