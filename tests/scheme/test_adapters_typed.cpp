// Typed over scheme x adapter: the same weights quantized through every tensor adapter (and any
// memory layout) give identical codes, scales and zero points.
#include <doctest/doctest.h>

#include <tuple>

#include "llmc/core/meta.hpp"
#include "llmc/scheme.hpp"
#include "llmc/tensor.hpp"
#include "support/mdspan_like.hpp"
#include "support/random.hpp"
#if LLMC_TEST_EIGEN
#include "llmc/tensor/adapt_eigen.hpp"
#endif
#if LLMC_TEST_XTENSOR
#include "llmc/tensor/adapt_xtensor.hpp"
#endif

using namespace llmc;

namespace {
// Each adapter holds a copy of the reference weights in its own layout and hands out the adapted object.
struct via_matrix {
  static constexpr const char* name = "llmc::matrix";
  matrix<float> m;
  explicit via_matrix(const matrix<float>& w) : m(w) {}
  const auto& get() const { return m; }
};
struct via_column_major_view {
  static constexpr const char* name = "matrix_view column-major";
  std::vector<float> buf;
  matrix_view<const float> v;
  explicit via_column_major_view(const matrix<float>& w) : buf(w.size()) {
    for (std::size_t r = 0; r < w.rows(); ++r)
      for (std::size_t c = 0; c < w.cols(); ++c) buf[c * w.rows() + r] = w(r, c);
    v = matrix_view<const float>(buf.data(), w.rows(), w.cols(), 1, static_cast<std::ptrdiff_t>(w.rows()));
  }
  const auto& get() const { return v; }
};
struct via_mdspan {
  static constexpr const char* name = "mdspan-like padded";
  std::vector<float> buf;
  test_support::mdspan_like<const float> v;
  explicit via_mdspan(const matrix<float>& w)
      : buf(w.rows() * (w.cols() + 5), -1e9f), v(buf.data(), w.rows(), w.cols(), w.cols() + 5, 1) {
    for (std::size_t r = 0; r < w.rows(); ++r)
      for (std::size_t c = 0; c < w.cols(); ++c) buf[r * (w.cols() + 5) + c] = w(r, c);
  }
  const auto& get() const { return v; }
};
#if LLMC_TEST_EIGEN
struct via_eigen_col_major {
  static constexpr const char* name = "Eigen::MatrixXf";
  Eigen::MatrixXf m;
  explicit via_eigen_col_major(const matrix<float>& w) : m(w.rows(), w.cols()) {
    for (std::size_t r = 0; r < w.rows(); ++r)
      for (std::size_t c = 0; c < w.cols(); ++c) m(static_cast<Eigen::Index>(r), static_cast<Eigen::Index>(c)) = w(r, c);
  }
  const auto& get() const { return m; }
};
struct via_eigen_block {
  static constexpr const char* name = "Eigen block of a larger row-major matrix";
  Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> big;
  explicit via_eigen_block(const matrix<float>& w) : big(w.rows() + 3, w.cols() + 2) {
    big.setConstant(1e9f);
    for (std::size_t r = 0; r < w.rows(); ++r)
      for (std::size_t c = 0; c < w.cols(); ++c) big(static_cast<Eigen::Index>(r + 2), static_cast<Eigen::Index>(c + 1)) = w(r, c);
  }
  auto get() const { return big.block(2, 1, big.rows() - 3, big.cols() - 2); }
};
#endif
#if LLMC_TEST_XTENSOR
struct via_xtensor {
  static constexpr const char* name = "xt::xtensor column-major";
  xt::xtensor<float, 2, xt::layout_type::column_major> t;
  explicit via_xtensor(const matrix<float>& w) : t({w.rows(), w.cols()}) {
    for (std::size_t r = 0; r < w.rows(); ++r)
      for (std::size_t c = 0; c < w.cols(); ++c) t(r, c) = w(r, c);
  }
  const auto& get() const { return t; }
};
#endif

using adapters = type_list<via_matrix, via_column_major_view, via_mdspan
#if LLMC_TEST_EIGEN
                           , via_eigen_col_major, via_eigen_block
#endif
#if LLMC_TEST_XTENSOR
                           , via_xtensor
#endif
                           >;
using schemes = type_list<presets::W8A8, presets::W4A16, presets::W4A16_ASYM, presets::W8A16, presets::W4A8, presets::FP8,
                          presets::FP8_DYNAMIC, presets::FP8_BLOCK, presets::NVFP4A16, presets::MXFP4A16>;
}  // namespace

TEST_CASE_TEMPLATE_DEFINE("every adapter gives identical bytes", Pair, scheme_x_adapter) {
  using Scheme = typename Pair::first_type;
  using Adapter = typename Pair::second_type;
  CAPTURE(Adapter::name);
  const matrix<float> w = test_support::random_weights(130, 256, 42, 0.02f, 5.0f);
  const auto reference = quantize_weight(Scheme{}, w);
  Adapter adapted(w);
  const auto q = quantize_weight(Scheme{}, adapted.get());
  CHECK(q.codes == reference.codes);
  CHECK(q.params.scale == reference.params.scale);
  CHECK(q.params.zero_point == reference.params.zero_point);
  CHECK(q.params.global_scale == reference.params.global_scale);
  // Dequantizing into a matrix gives the same values whichever adapter the weights came through.
  CHECK(dequantize<float>(q) == dequantize<float>(reference));
}
TEST_CASE_TEMPLATE_APPLY(scheme_x_adapter, as_tuple_t<type_product_t<schemes, adapters>>);
