// Tensor adapters: every adapter lowers to the same matrix_view, sees the same elements, and
// writes through to the adapted memory.
#include <doctest/doctest.h>

#include <array>
#include <numeric>
#include <vector>

#include "llmc/tensor.hpp"
#include "support/mdspan_like.hpp"
#if LLMC_TEST_EIGEN
#include <Eigen/Core>
#include "llmc/tensor/adapt_eigen.hpp"
#endif
#if LLMC_TEST_XTENSOR
#include <xtensor/xadapt.hpp>
#include "llmc/tensor/adapt_xtensor.hpp"
#endif

using namespace llmc;

namespace {
// Element (r, c) of the reference matrix used everywhere: distinct values, so any index mistake shows.
float ref(std::size_t r, std::size_t c) { return static_cast<float>(10 * r + c) + 0.5f; }

template <class V>
void check_reference(const V& v, std::size_t rows, std::size_t cols) {
  REQUIRE(v.rows() == rows);
  REQUIRE(v.cols() == cols);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t c = 0; c < cols; ++c) CHECK(v(r, c) == ref(r, c));
}
}  // namespace

TEST_CASE("matrix_view over a span: extents, strides, block, transpose") {
  std::vector<float> buf(3 * 4);
  for (std::size_t r = 0; r < 3; ++r)
    for (std::size_t c = 0; c < 4; ++c) buf[r * 4 + c] = ref(r, c);
  matrix_view<float> v(std::span<float>(buf), 3, 4);
  check_reference(v, 3, 4);
  CHECK(v.is_row_major_contiguous());
  auto b = v.block(1, 2, 2, 2);
  CHECK(b(0, 0) == ref(1, 2));
  CHECK(b(1, 1) == ref(2, 3));
  CHECK_FALSE(b.is_row_major_contiguous());
  auto t = v.transposed();
  CHECK(t.rows() == 4);
  CHECK(t(3, 2) == ref(2, 3));
  b(0, 0) = -1.0f;
  CHECK(buf[1 * 4 + 2] == -1.0f);
  matrix_view<const float> cv = v;  // const conversion
  CHECK(cv(0, 1) == ref(0, 1));
  try {
    matrix_view<float> bad(std::span<float>(buf), 5, 4);
    FAIL("a 12-element span must not be viewable as 5x4");
  } catch (const shape_error& e) {
    CHECK(e.id() == "llmc.tensor.001");
  }
}

TEST_CASE("llmc::matrix is matrix_like and copies any layout") {
  static_assert(matrix_like<matrix<float>>);
  static_assert(host_matrix<const matrix<float>>);
  static_assert(mutable_matrix<matrix<float>>);
  static_assert(!matrix_like<std::vector<float>>);
  matrix<float> m(3, 4);
  for (std::size_t r = 0; r < 3; ++r)
    for (std::size_t c = 0; c < 4; ++c) m(r, c) = ref(r, c);
  check_reference(view(m), 3, 4);
  const matrix<float>& cm = m;
  auto cv = view(cm);
  static_assert(std::is_same_v<decltype(cv)::value_type, const float>);
  // A column-major view copied into a row-major matrix keeps the logical elements.
  std::vector<float> colmajor(12);
  for (std::size_t r = 0; r < 3; ++r)
    for (std::size_t c = 0; c < 4; ++c) colmajor[c * 3 + r] = ref(r, c);
  matrix_view<float> cmv(colmajor.data(), 3, 4, 1, 3);
  check_reference(matrix<float>::from(cmv), 3, 4);
  try {
    matrix<float> bad(2, 2, std::vector<float>(3));
    FAIL("3 values cannot fill a 2x2 matrix");
  } catch (const shape_error& e) {
    CHECK(e.id() == "llmc.tensor.002");
  }
}

TEST_CASE("llmc::matrix grows row by row: append_row, reserve_rows, a wrong width refused") {
  matrix<float> m(0, 4);
  CHECK(m.empty());
  m.reserve_rows(3);
  const float* const before = m.storage().data();
  for (std::size_t r = 0; r < 3; ++r) {
    std::vector<float> row(4);
    for (std::size_t c = 0; c < 4; ++c) row[c] = ref(r, c);
    m.append_row(row);
  }
  CHECK(m.storage().data() == before);  // reserved: no reallocation
  check_reference(view(m), 3, 4);
  try {
    m.append_row(std::vector<float>(5));
    FAIL("a 5-value row cannot join a 4-column matrix");
  } catch (const shape_error& e) {
    CHECK(e.id() == "llmc.tensor.003");
  }
  CHECK(m.rows() == 3);
}

TEST_CASE("mdspan-like views of any layout are matrix_like") {
  std::vector<float> right(12), left(12);
  for (std::size_t r = 0; r < 3; ++r)
    for (std::size_t c = 0; c < 4; ++c) {
      right[r * 4 + c] = ref(r, c);
      left[c * 3 + r] = ref(r, c);
    }
  test_support::mdspan_like<float> a(right.data(), 3, 4, 4, 1);
  test_support::mdspan_like<float> b(left.data(), 3, 4, 1, 3);
  static_assert(matrix_like<test_support::mdspan_like<float>>);
  check_reference(view(a), 3, 4);
  check_reference(view(b), 3, 4);
  view(b)(2, 3) = 0.0f;
  CHECK(left[3 * 3 + 2] == 0.0f);
}

#if LLMC_TEST_EIGEN
TEST_CASE("Eigen Matrix, Map, Ref and Block are matrix_like without copies") {
  Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> rm(3, 4);
  Eigen::MatrixXf cm(3, 4);
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 4; ++c) rm(r, c) = cm(r, c) = ref(r, c);
  static_assert(host_matrix<decltype(rm)>);
  check_reference(view(rm), 3, 4);
  check_reference(view(cm), 3, 4);
  CHECK(view(rm).data_handle() == rm.data());
  CHECK(view(cm).stride(0) == 1);

  // Map with an outer stride (a padded buffer) and a Block of it.
  std::vector<float> padded(3 * 6, -7.0f);
  for (std::size_t r = 0; r < 3; ++r)
    for (std::size_t c = 0; c < 4; ++c) padded[r * 6 + c] = ref(r, c);
  Eigen::Map<Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>, 0, Eigen::OuterStride<>> map(
      padded.data(), 3, 4, Eigen::OuterStride<>(6));
  check_reference(view(map), 3, 4);
  auto blk = cm.block(1, 1, 2, 3);
  auto bv = view(blk);
  CHECK(bv(0, 0) == ref(1, 1));
  CHECK(bv(1, 2) == ref(2, 3));
  bv(1, 2) = 99.0f;
  CHECK(cm(2, 3) == 99.0f);
  Eigen::Ref<const Eigen::MatrixXf> cref(cm);
  auto rv = view(cref);
  static_assert(std::is_const_v<decltype(rv)::value_type>);
  CHECK(rv(2, 3) == 99.0f);
  // Expressions without direct access are not matrices: they must be evaluated first.
  static_assert(!matrix_like<decltype(cm + cm)>);
}
#endif

#if LLMC_TEST_XTENSOR
TEST_CASE("xtensor containers and adapted buffers are matrix_like") {
  xt::xtensor<float, 2> t({3, 4});
  xt::xtensor<float, 2, xt::layout_type::column_major> tc({3, 4});
  xt::xarray<float> a = xt::zeros<float>({3, 4});
  for (std::size_t r = 0; r < 3; ++r)
    for (std::size_t c = 0; c < 4; ++c) t(r, c) = tc(r, c) = a(r, c) = ref(r, c);
  check_reference(view(t), 3, 4);
  check_reference(view(tc), 3, 4);
  check_reference(view(a), 3, 4);
  std::vector<float> buf(12);
  for (std::size_t i = 0; i < 12; ++i) buf[i] = ref(i / 4, i % 4);
  auto adapted = xt::adapt(buf.data(), 12, xt::no_ownership(), std::array<std::size_t, 2>{3, 4});
  check_reference(view(adapted), 3, 4);
  view(adapted)(0, 0) = 5.0f;
  CHECK(buf[0] == 5.0f);
  xt::xarray<float> rank3 = xt::zeros<float>({2, 2, 2});
  try {
    (void)view(rank3);
    FAIL("a rank-3 xarray must be refused");
  } catch (const shape_error& e) {
    CHECK(e.id() == "llmc.tensor.010");
  }
}
#endif
