// llmc/tensor/adapt_mdspan.hpp — adapter for rank-2 std::mdspan and mdspan-like views.
//
// Any type with rank() == 2, extent(r), stride(r) and data_handle() — std::mdspan (C++23),
// Kokkos' reference mdspan (std::experimental::mdspan) — is matrix_like, whatever its layout
// (layout_right, layout_left, layout_stride), as long as its accessor yields plain references.
// The backend is the host unless the type specializes tensor_traits itself.
#pragma once

#include <cstddef>
#include <type_traits>

#include "llmc/tensor/matrix_view.hpp"

namespace llmc {

template <class M>
concept mdspan_like_2d = requires(const M& m, std::size_t r) {
  { M::rank() } -> std::convertible_to<std::size_t>;
  { m.extent(r) } -> std::convertible_to<std::size_t>;
  { m.stride(r) } -> std::convertible_to<std::ptrdiff_t>;
  { m.data_handle() };
  requires std::is_pointer_v<std::remove_cvref_t<decltype(m.data_handle())>>;
} && (M::rank() == 2);

template <class M>
  requires(mdspan_like_2d<M> && !requires { typename M::backend; })
struct tensor_traits<M> {
  static constexpr bool specialized = true;
  using value_type = std::remove_pointer_t<std::remove_cvref_t<decltype(std::declval<const M&>().data_handle())>>;
  using backend = host_backend;
  static auto data(const M& m) noexcept { return m.data_handle(); }
  static std::size_t rows(const M& m) noexcept { return static_cast<std::size_t>(m.extent(0)); }
  static std::size_t cols(const M& m) noexcept { return static_cast<std::size_t>(m.extent(1)); }
  static std::ptrdiff_t row_stride(const M& m) noexcept { return static_cast<std::ptrdiff_t>(m.stride(0)); }
  static std::ptrdiff_t col_stride(const M& m) noexcept { return static_cast<std::ptrdiff_t>(m.stride(1)); }
};

}  // namespace llmc
