// llmc/tensor/traits.hpp — the one seam through which any matrix type enters the library.
//
// A type T is a matrix for llmc when tensor_traits<T> is specialized with:
//   value_type            element type (float, bfloat16, float16, int8_t, ...; const for read-only)
//   backend               llmc::host_backend or llmc::cuda_backend (selects kernels)
//   data(t)               pointer to element (0, 0)
//   rows(t), cols(t)      extents
//   row_stride(t), col_stride(t)   distance in elements between neighbours along each dimension
// Invariants: strides may be any positive values (row-major, column-major, padded, sliced), but
// the backend names where data(t) points; no adapter copies. Adapters for Eigen, xtensor, spans
// and mdspan-like views live in adapt_*.hpp, each opt-in.
#pragma once

#include <cstddef>
#include <type_traits>

#include "llmc/core/backend_tag.hpp"
#include "llmc/core/meta.hpp"

namespace llmc {

/// Primary template: deliberately incomplete in its members, so that using an unadapted type
/// fails with a message naming the seam (see matrix_like in concepts.hpp).
template <class T, class Enable = void>
struct tensor_traits {
  static constexpr bool specialized = false;
};

template <class T>
using tensor_traits_of = tensor_traits<std::remove_cvref_t<T>>;

/// The backend tag a tensor type lives on.
template <class T>
using backend_of_t = typename tensor_traits_of<T>::backend;

/// The element type of a tensor type (const-qualified when the view is read-only).
template <class T>
using element_of_t = typename tensor_traits_of<T>::value_type;

}  // namespace llmc
