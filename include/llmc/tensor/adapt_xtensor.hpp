// llmc/tensor/adapt_xtensor.hpp — adapter for xtensor containers and adapted buffers.
//
// xt::xtensor<T, 2>, xt::xarray<T> and xt::adapt(...) results (any layout) are matrix_like through
// their data(), shape() and strides() (in elements). An xarray's rank is only known at run time:
// a rank other than 2 throws llmc::shape_error ("llmc.tensor.010") when it is viewed.
// Opt-in: requires xtensor (target llmc::xtensor).
#pragma once

#include <cstddef>
#include <string>
#include <type_traits>
#include <xtensor/xarray.hpp>
#include <xtensor/xtensor.hpp>

#include "llmc/tensor/matrix_view.hpp"

namespace llmc {

namespace detail {
template <class X>
concept xtensor_container = std::is_base_of_v<xt::xcontiguous_iterable<X>, X> && requires(X& x) {
  { x.data() };
  { x.shape() };
  { x.strides() };
  { x.dimension() } -> std::convertible_to<std::size_t>;
};

template <class X>
void require_rank2(const X& x) {
  if (x.dimension() != 2) {
    LLMC_THROW(shape_error, "llmc.tensor.010",
               "xtensor adapter: expected a 2-D expression, got rank " + std::to_string(x.dimension()) +
                   "; reshape it (xt::reshape_view) before passing it to llmc");
  }
}
}  // namespace detail

template <class X>
  requires detail::xtensor_container<X>
struct tensor_traits<X> {
  static constexpr bool specialized = true;
  using value_type = typename X::value_type;
  using backend = host_backend;
  static auto data(X& x) { detail::require_rank2(x); return x.data(); }
  static auto data(const X& x) { detail::require_rank2(x); return x.data(); }
  static std::size_t rows(const X& x) { detail::require_rank2(x); return x.shape()[0]; }
  static std::size_t cols(const X& x) { detail::require_rank2(x); return x.shape()[1]; }
  // xtensor reports stride 0 for extents of 1 (broadcasting); any value is valid then.
  static std::ptrdiff_t row_stride(const X& x) { return static_cast<std::ptrdiff_t>(x.strides()[0]); }
  static std::ptrdiff_t col_stride(const X& x) { return static_cast<std::ptrdiff_t>(x.strides()[1]); }
};

}  // namespace llmc
