// llmc/tensor/concepts.hpp — concepts every algorithm uses to accept a matrix.
//
// matrix_like<T>: tensor_traits<T> is specialized (see traits.hpp). host_matrix<T> adds that the
// memory is host-addressable. Algorithms are written against these concepts and lower their
// arguments to one matrix_view (matrix_view.hpp), so each kernel exists once.
#pragma once

#include <concepts>
#include <cstddef>

#include "llmc/tensor/traits.hpp"

namespace llmc {

template <class T>
concept matrix_like = requires(T& t) {
  typename tensor_traits_of<T>::value_type;
  typename tensor_traits_of<T>::backend;
  { tensor_traits_of<T>::data(t) };
  { tensor_traits_of<T>::rows(t) } -> std::convertible_to<std::size_t>;
  { tensor_traits_of<T>::cols(t) } -> std::convertible_to<std::size_t>;
  { tensor_traits_of<T>::row_stride(t) } -> std::convertible_to<std::ptrdiff_t>;
  { tensor_traits_of<T>::col_stride(t) } -> std::convertible_to<std::ptrdiff_t>;
};

template <class T>
concept host_matrix = matrix_like<T> && std::same_as<backend_of_t<T>, host_backend>;

template <class T>
concept device_matrix = matrix_like<T> && std::same_as<backend_of_t<T>, cuda_backend>;

/// A matrix whose elements may be written through the adapter.
template <class T>
concept mutable_matrix = matrix_like<T> && !std::is_const_v<element_of_t<T>>;

/// Fails with a readable message when a type has not opted in; use in static_assert contexts.
template <class T>
constexpr bool require_matrix_like() {
  static_assert(matrix_like<T>,
                "llmc: this type is not a matrix for llmc. Specialize llmc::tensor_traits<T> "
                "(value_type, backend, data, rows, cols, row_stride, col_stride) or include the "
                "adapter header for its library (llmc/tensor/adapt_eigen.hpp, adapt_xtensor.hpp, "
                "adapt_mdspan.hpp). See examples/02_custom_tensor_adapter.");
  return true;
}

}  // namespace llmc
