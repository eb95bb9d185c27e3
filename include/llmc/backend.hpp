// llmc/backend.hpp — host dense kernels (GEMM, SYRK, Cholesky, triangular inverse): the generic
// reference and the optimized CPU backend selected by the backend tag.
#pragma once

#include "llmc/backend/kernels.hpp"
