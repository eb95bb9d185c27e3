// llmc/tensor.hpp — the tensor layer without third-party adapters (include adapt_eigen.hpp /
// adapt_xtensor.hpp explicitly for those).
#pragma once

#include "llmc/tensor/adapt_mdspan.hpp"
#include "llmc/tensor/concepts.hpp"
#include "llmc/tensor/matrix.hpp"
#include "llmc/tensor/matrix_view.hpp"
#include "llmc/tensor/traits.hpp"
