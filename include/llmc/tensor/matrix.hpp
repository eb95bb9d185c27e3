// llmc/tensor/matrix.hpp — llmc's own owning row-major host matrix.
//
// The library returns results (codes, scales, Hessians) in matrix<T>. It is a thin wrapper over
// std::vector<T> with extents; it is matrix_like, and view()/cview() give matrix_views of it.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "llmc/tensor/matrix_view.hpp"

namespace llmc {

template <class T>
class matrix {
 public:
  using value_type = T;
  matrix() = default;
  matrix(std::size_t rows, std::size_t cols, const T& fill = T{}) : rows_(rows), cols_(cols), data_(rows * cols, fill) {}
  matrix(std::size_t rows, std::size_t cols, std::vector<T> data) : rows_(rows), cols_(cols), data_(std::move(data)) {
    if (data_.size() != rows * cols) {
      LLMC_THROW(shape_error, "llmc.tensor.002",
                 "matrix: " + std::to_string(data_.size()) + " values given for a " + std::to_string(rows) + "x" +
                     std::to_string(cols) + " matrix");
    }
  }
  /// Copies any host matrix_like (any layout) into a row-major matrix, converting elements with Convert.
  template <class M, class Convert>
    requires host_matrix<M>
  static matrix from(const M& m, Convert convert) {
    auto v = cview(m);
    matrix out(v.rows(), v.cols());
    for (std::size_t r = 0; r < v.rows(); ++r)
      for (std::size_t c = 0; c < v.cols(); ++c) out(r, c) = convert(v(r, c));
    return out;
  }
  template <class M>
    requires host_matrix<M>
  static matrix from(const M& m) {
    return from(m, [](const auto& x) { return static_cast<T>(x); });
  }

  [[nodiscard]] std::size_t rows() const noexcept { return rows_; }
  [[nodiscard]] std::size_t cols() const noexcept { return cols_; }
  [[nodiscard]] std::size_t size() const noexcept { return data_.size(); }
  [[nodiscard]] bool empty() const noexcept { return data_.empty(); }
  T* data() noexcept { return data_.data(); }
  const T* data() const noexcept { return data_.data(); }
  std::span<T> span() noexcept { return data_; }
  std::span<const T> span() const noexcept { return data_; }
  std::vector<T>& storage() noexcept { return data_; }
  const std::vector<T>& storage() const noexcept { return data_; }
  T& operator()(std::size_t r, std::size_t c) noexcept { return data_[r * cols_ + c]; }
  const T& operator()(std::size_t r, std::size_t c) const noexcept { return data_[r * cols_ + c]; }
  matrix_view<T> view() noexcept { return {data_.data(), rows_, cols_}; }
  matrix_view<const T> view() const noexcept { return {data_.data(), rows_, cols_}; }
  bool operator==(const matrix& o) const = default;

  /// Capacity for `rows` rows in all (as std::vector::reserve): appending up to there does not
  /// reallocate. A matrix that grows row by row (cached calibration inputs) should know its size.
  void reserve_rows(std::size_t rows) { data_.reserve(rows * cols_); }
  /// Appends one row (amortized O(cols): the storage grows geometrically, never row by row).
  /// @throws shape_error llmc.tensor.003 when the row's length is not cols().
  void append_row(std::span<const T> row) {
    if (row.size() != cols_)
      LLMC_THROW(shape_error, "llmc.tensor.003",
                 "matrix::append_row: a row of " + std::to_string(row.size()) + " values for a matrix of " + std::to_string(cols_) +
                     " columns");
    data_.insert(data_.end(), row.begin(), row.end());
    ++rows_;
  }

 private:
  std::size_t rows_ = 0;
  std::size_t cols_ = 0;
  std::vector<T> data_;
};

template <class T>
struct tensor_traits<matrix<T>> {
  static constexpr bool specialized = true;
  using value_type = T;
  using backend = host_backend;
  static T* data(matrix<T>& m) noexcept { return m.data(); }
  static const T* data(const matrix<T>& m) noexcept { return m.data(); }
  static std::size_t rows(const matrix<T>& m) noexcept { return m.rows(); }
  static std::size_t cols(const matrix<T>& m) noexcept { return m.cols(); }
  static std::ptrdiff_t row_stride(const matrix<T>& m) noexcept { return static_cast<std::ptrdiff_t>(m.cols()); }
  static std::ptrdiff_t col_stride(const matrix<T>&) noexcept { return 1; }
};

}  // namespace llmc
