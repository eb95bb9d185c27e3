// llmc/tensor/matrix_view.hpp — the non-owning strided 2-D view every kernel is written against.
//
// matrix_view<T, Backend> is mdspan-shaped (extent(r), stride(r), data_handle(), rank()) so that
// code written for std::mdspan reads naturally, and it is itself matrix_like. view(t) lowers any
// matrix_like adapter to it without copying. Invariants: strides are in elements; the view never
// owns memory; a view of a host matrix is only dereferenced on the host.
#pragma once

#include <cstddef>
#include <span>
#include <type_traits>

#include "llmc/core/config.hpp"
#include "llmc/core/error.hpp"
#include "llmc/tensor/concepts.hpp"

namespace llmc {

template <class T, class Backend = host_backend>
class matrix_view {
 public:
  using value_type = T;
  using element_type = T;
  using backend = Backend;

  constexpr matrix_view() noexcept = default;
  constexpr matrix_view(T* data, std::size_t rows, std::size_t cols, std::ptrdiff_t row_stride,
                        std::ptrdiff_t col_stride) noexcept
      : data_(data), rows_(rows), cols_(cols), row_stride_(row_stride), col_stride_(col_stride) {}
  /// Row-major view of a contiguous buffer.
  constexpr matrix_view(T* data, std::size_t rows, std::size_t cols) noexcept
      : matrix_view(data, rows, cols, static_cast<std::ptrdiff_t>(cols), 1) {}
  /// Row-major view of a span with the given extents; throws shape_error when they do not fit.
  matrix_view(std::span<T> data, std::size_t rows, std::size_t cols)
      : matrix_view(data.data(), rows, cols) {
    if (rows * cols != data.size()) {
      LLMC_THROW(shape_error, "llmc.tensor.001",
                 "matrix_view: span of " + std::to_string(data.size()) + " elements cannot be viewed as " +
                     std::to_string(rows) + "x" + std::to_string(cols));
    }
  }
  /// A view of T converts to a view of const T.
  template <class U>
    requires(std::is_same_v<const U, T> && !std::is_same_v<U, T>)
  constexpr matrix_view(const matrix_view<U, Backend>& other) noexcept
      : matrix_view(other.data_handle(), other.rows(), other.cols(), other.stride(0), other.stride(1)) {}

  LLMC_HOST_DEVICE static constexpr std::size_t rank() noexcept { return 2; }
  [[nodiscard]] LLMC_HOST_DEVICE constexpr std::size_t extent(std::size_t r) const noexcept { return r == 0 ? rows_ : cols_; }
  [[nodiscard]] LLMC_HOST_DEVICE constexpr std::ptrdiff_t stride(std::size_t r) const noexcept {
    return r == 0 ? row_stride_ : col_stride_;
  }
  [[nodiscard]] LLMC_HOST_DEVICE constexpr T* data_handle() const noexcept { return data_; }
  [[nodiscard]] LLMC_HOST_DEVICE constexpr std::size_t rows() const noexcept { return rows_; }
  [[nodiscard]] LLMC_HOST_DEVICE constexpr std::size_t cols() const noexcept { return cols_; }
  [[nodiscard]] LLMC_HOST_DEVICE constexpr std::size_t size() const noexcept { return rows_ * cols_; }
  [[nodiscard]] constexpr bool empty() const noexcept { return size() == 0; }
  /// True when rows are contiguous and adjacent (one flat row-major block).
  [[nodiscard]] constexpr bool is_row_major_contiguous() const noexcept {
    return col_stride_ == 1 && (rows_ <= 1 || row_stride_ == static_cast<std::ptrdiff_t>(cols_));
  }
  LLMC_HOST_DEVICE constexpr T& operator()(std::size_t r, std::size_t c) const noexcept {
    return data_[static_cast<std::ptrdiff_t>(r) * row_stride_ + static_cast<std::ptrdiff_t>(c) * col_stride_];
  }
  /// Pointer to the first element of row r (elements of the row are col_stride apart).
  [[nodiscard]] LLMC_HOST_DEVICE constexpr T* row(std::size_t r) const noexcept {
    return data_ + static_cast<std::ptrdiff_t>(r) * row_stride_;
  }
  /// Sub-matrix [r0, r0+nr) x [c0, c0+nc), sharing memory.
  [[nodiscard]] LLMC_HOST_DEVICE constexpr matrix_view block(std::size_t r0, std::size_t c0, std::size_t nr, std::size_t nc) const noexcept {
    return matrix_view(&(*this)(r0, c0), nr, nc, row_stride_, col_stride_);
  }
  /// The transpose, sharing memory.
  [[nodiscard]] LLMC_HOST_DEVICE constexpr matrix_view transposed() const noexcept {
    return matrix_view(data_, cols_, rows_, col_stride_, row_stride_);
  }

 private:
  T* data_ = nullptr;
  std::size_t rows_ = 0;
  std::size_t cols_ = 0;
  std::ptrdiff_t row_stride_ = 0;
  std::ptrdiff_t col_stride_ = 0;
};

template <class T, class Backend>
struct tensor_traits<matrix_view<T, Backend>> {
  static constexpr bool specialized = true;
  using value_type = T;
  using backend = Backend;
  static constexpr T* data(const matrix_view<T, Backend>& v) noexcept { return v.data_handle(); }
  static constexpr std::size_t rows(const matrix_view<T, Backend>& v) noexcept { return v.rows(); }
  static constexpr std::size_t cols(const matrix_view<T, Backend>& v) noexcept { return v.cols(); }
  static constexpr std::ptrdiff_t row_stride(const matrix_view<T, Backend>& v) noexcept { return v.stride(0); }
  static constexpr std::ptrdiff_t col_stride(const matrix_view<T, Backend>& v) noexcept { return v.stride(1); }
};

/// Lowers any matrix_like to its matrix_view (no copy). The element type keeps its constness.
template <class M>
  requires matrix_like<M>
constexpr auto view(M&& m) {
  using traits = tensor_traits_of<M>;
  using element = std::remove_reference_t<decltype(*traits::data(m))>;
  return matrix_view<element, typename traits::backend>(
      traits::data(m), static_cast<std::size_t>(traits::rows(m)), static_cast<std::size_t>(traits::cols(m)),
      static_cast<std::ptrdiff_t>(traits::row_stride(m)), static_cast<std::ptrdiff_t>(traits::col_stride(m)));
}

/// Read-only view of any matrix_like.
template <class M>
  requires matrix_like<M>
constexpr auto cview(const M& m) {
  auto v = view(const_cast<M&>(m));
  using element = std::add_const_t<typename decltype(v)::value_type>;
  return matrix_view<element, typename decltype(v)::backend>(v.data_handle(), v.rows(), v.cols(), v.stride(0),
                                                             v.stride(1));
}

}  // namespace llmc
