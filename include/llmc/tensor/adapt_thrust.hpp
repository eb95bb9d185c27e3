// llmc/tensor/adapt_thrust.hpp — device matrices: Thrust device vectors, device views, opt-in types.
//
// thrust_matrix<T> is llmc's owning row-major device matrix (a thrust::device_vector<T> plus
// extents); its views, a raw device pointer with extents (matrix_view<T, cuda_backend>), a
// thrust::device_vector viewed with device_view(v, rows, cols), an mdspan-like type that declares
// `using backend = llmc::cuda_backend`, and any user type whose tensor_traits name cuda_backend are
// all device_matrix (tensor/concepts.hpp), which is what selects the backend/thrust overloads of
// quantize_weight, dequantize, pack_* with no change at the call site (issue 7).
// Invariants: "device" is Thrust's device system. Compiled by nvcc it is CUDA memory; compiled by
// a host compiler with THRUST_DEVICE_SYSTEM=CPP or OMP (target llmc::thrust_host / thrust_omp) it
// is host memory, which is how the same kernels are checked on machines without a GPU. Device
// memory is only dereferenced inside Thrust algorithms; this header copies only in the explicit
// from_host/to_host. Only translation units that include it see Thrust.
#pragma once

#if !defined(__CUDACC__) && !defined(THRUST_DEVICE_SYSTEM)
#error "llmc/tensor/adapt_thrust.hpp: compile with nvcc, or with a host compiler and THRUST_DEVICE_SYSTEM=THRUST_DEVICE_SYSTEM_CPP (or _OMP): link llmc::thrust_host (or llmc::thrust_omp)"
#endif

#include <cstddef>
#include <string>
#include <type_traits>
#include <vector>

#include <thrust/copy.h>
#include <thrust/device_vector.h>

#include "llmc/core/backend_tag.hpp"
#include "llmc/core/error.hpp"
#include "llmc/tensor/adapt_mdspan.hpp"
#include "llmc/tensor/concepts.hpp"
#include "llmc/tensor/matrix.hpp"
#include "llmc/tensor/matrix_view.hpp"

namespace llmc {

/// Raw pointer to a device vector's storage (a device address under CUDA).
template <class T>
T* device_data(thrust::device_vector<T>& v) noexcept {
  return thrust::raw_pointer_cast(v.data());
}
template <class T>
const T* device_data(const thrust::device_vector<T>& v) noexcept {
  return thrust::raw_pointer_cast(v.data());
}

/// A device vector viewed as a row-major rows x cols matrix (no copy).
/// @throws shape_error llmc.tensor.020 when the sizes differ.
template <class T>
matrix_view<T, cuda_backend> device_view(thrust::device_vector<T>& v, std::size_t rows, std::size_t cols) {
  if (v.size() != rows * cols)
    LLMC_THROW(shape_error, "llmc.tensor.020",
               "device_view: a device vector of " + std::to_string(v.size()) + " elements cannot be viewed as " +
                   std::to_string(rows) + "x" + std::to_string(cols));
  return {device_data(v), rows, cols};
}
template <class T>
matrix_view<const T, cuda_backend> device_view(const thrust::device_vector<T>& v, std::size_t rows, std::size_t cols) {
  if (v.size() != rows * cols)
    LLMC_THROW(shape_error, "llmc.tensor.020",
               "device_view: a device vector of " + std::to_string(v.size()) + " elements cannot be viewed as " +
                   std::to_string(rows) + "x" + std::to_string(cols));
  return {device_data(v), rows, cols};
}

/// Owning row-major device matrix. (The name device_matrix is the concept of tensor/concepts.hpp.)
template <class T>
class thrust_matrix {
 public:
  using value_type = T;
  using backend = cuda_backend;

  thrust_matrix() = default;
  thrust_matrix(std::size_t rows, std::size_t cols, const T& fill = T{}) : rows_(rows), cols_(cols), data_(rows * cols, fill) {}
  /// Takes a device vector of rows * cols elements. @throws shape_error llmc.tensor.021.
  thrust_matrix(std::size_t rows, std::size_t cols, thrust::device_vector<T> data)
      : rows_(rows), cols_(cols), data_(std::move(data)) {
    if (data_.size() != rows * cols)
      LLMC_THROW(shape_error, "llmc.tensor.021",
                 "thrust_matrix: " + std::to_string(data_.size()) + " values given for a " + std::to_string(rows) + "x" +
                     std::to_string(cols) + " matrix");
  }

  /// Uploads any host matrix (any layout) as a row-major device matrix of the same element type.
  template <class M>
    requires host_matrix<M>
  static thrust_matrix from_host(const M& m) {
    auto v = cview(m);
    if (v.is_row_major_contiguous()) {
      thrust::device_vector<T> d(v.data_handle(), v.data_handle() + v.size());
      return thrust_matrix(v.rows(), v.cols(), std::move(d));
    }
    const matrix<T> dense = matrix<T>::from(m, [](const auto& x) { return static_cast<T>(x); });
    return from_host(dense);
  }
  /// Downloads into a row-major host matrix.
  [[nodiscard]] matrix<T> to_host() const {
    std::vector<T> h(data_.size());
    thrust::copy(data_.begin(), data_.end(), h.begin());
    return matrix<T>(rows_, cols_, std::move(h));
  }

  [[nodiscard]] std::size_t rows() const noexcept { return rows_; }
  [[nodiscard]] std::size_t cols() const noexcept { return cols_; }
  [[nodiscard]] std::size_t size() const noexcept { return data_.size(); }
  [[nodiscard]] bool empty() const noexcept { return data_.empty(); }
  /// Device address of element (0, 0).
  T* data() noexcept { return device_data(data_); }
  const T* data() const noexcept { return device_data(data_); }
  thrust::device_vector<T>& storage() noexcept { return data_; }
  const thrust::device_vector<T>& storage() const noexcept { return data_; }
  matrix_view<T, cuda_backend> view() noexcept { return {data(), rows_, cols_}; }
  matrix_view<const T, cuda_backend> view() const noexcept { return {data(), rows_, cols_}; }

 private:
  std::size_t rows_ = 0;
  std::size_t cols_ = 0;
  thrust::device_vector<T> data_;
};

template <class T>
struct tensor_traits<thrust_matrix<T>> {
  static constexpr bool specialized = true;
  using value_type = T;
  using backend = cuda_backend;
  static T* data(thrust_matrix<T>& m) noexcept { return m.data(); }
  static const T* data(const thrust_matrix<T>& m) noexcept { return m.data(); }
  static std::size_t rows(const thrust_matrix<T>& m) noexcept { return m.rows(); }
  static std::size_t cols(const thrust_matrix<T>& m) noexcept { return m.cols(); }
  static std::ptrdiff_t row_stride(const thrust_matrix<T>& m) noexcept { return static_cast<std::ptrdiff_t>(m.cols()); }
  static std::ptrdiff_t col_stride(const thrust_matrix<T>&) noexcept { return 1; }
};

namespace detail {
template <class M>
inline constexpr bool is_matrix_view_v = false;
template <class T, class B>
inline constexpr bool is_matrix_view_v<matrix_view<T, B>> = true;
}  // namespace detail

/// mdspan-like rank-2 views of device memory opt in by declaring `using backend = llmc::cuda_backend`.
template <class M>
  requires(mdspan_like_2d<M> && !detail::is_matrix_view_v<M> && requires { typename M::backend; } &&
           std::is_same_v<typename M::backend, cuda_backend>)
struct tensor_traits<M> {
  static constexpr bool specialized = true;
  using value_type = std::remove_pointer_t<std::remove_cvref_t<decltype(std::declval<const M&>().data_handle())>>;
  using backend = cuda_backend;
  static auto data(const M& m) noexcept { return m.data_handle(); }
  static std::size_t rows(const M& m) noexcept { return static_cast<std::size_t>(m.extent(0)); }
  static std::size_t cols(const M& m) noexcept { return static_cast<std::size_t>(m.extent(1)); }
  static std::ptrdiff_t row_stride(const M& m) noexcept { return static_cast<std::ptrdiff_t>(m.stride(0)); }
  static std::ptrdiff_t col_stride(const M& m) noexcept { return static_cast<std::ptrdiff_t>(m.stride(1)); }
};

}  // namespace llmc
