// Seeded generators for test data (reproducible across runs and machines).
#pragma once

#include <cstdint>
#include <random>

#include "llmc/tensor/matrix.hpp"

namespace test_support {
/// Normal(0, sigma) weights with a few outlier columns scaled by `outlier`, as in real LLM weights.
inline llmc::matrix<float> random_weights(std::size_t rows, std::size_t cols, std::uint32_t seed, float sigma = 0.02f,
                                          float outlier = 1.0f) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> d(0.0f, sigma);
  llmc::matrix<float> m(rows, cols);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t c = 0; c < cols; ++c) m(r, c) = d(gen) * ((c % 17 == 3) ? outlier : 1.0f);
  return m;
}
}  // namespace test_support
