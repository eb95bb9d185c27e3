// Helpers shared by the tests that run methods on the fixture model's real Linear inputs
// (shared/fixtures/models/stories260k/activations_calib.safetensors).
#pragma once

#include <doctest/doctest.h>

#include <cstddef>
#include <string>

#include "llmc/backend/kernels.hpp"
#include "llmc/io/safetensors.hpp"
#include "llmc/tensor/matrix.hpp"

namespace test_support {

/// A 2-D tensor of a safetensors file as an fp32 matrix.
inline llmc::matrix<float> load_matrix(const llmc::safetensors_file& f, const std::string& name) {
  const llmc::tensor_view v = f.tensor(name);
  REQUIRE(v.shape.size() == 2);
  return llmc::matrix<float>(static_cast<std::size_t>(v.shape[0]), static_cast<std::size_t>(v.shape[1]), llmc::to_float32(v));
}

/// sum over tokens and outputs of ((W - Q) x)^2 = || X (W - Q)^T ||_F^2, with X [tokens, in].
inline double output_error(const llmc::matrix<float>& w, const llmc::matrix<float>& q, const llmc::matrix<float>& x) {
  llmc::matrix<float> dw(w.rows(), w.cols());
  for (std::size_t i = 0; i < w.size(); ++i) dw.data()[i] = w.data()[i] - q.data()[i];
  llmc::matrix<float> y(x.rows(), w.rows());
  llmc::gemm(1.0f, x, llmc::cview(dw).transposed(), 0.0f, y);
  double e = 0.0;
  for (float v : y.storage()) e += static_cast<double>(v) * v;
  return e;
}

}  // namespace test_support
