// llmc/tensor/adapt_eigen.hpp — adapter for Eigen dense expressions with direct access.
//
// Eigen::Matrix (row- or column-major), Map (with any Stride), Ref and Block are matrix_like when
// their flags carry DirectAccessBit; strides come from Eigen's rowStride()/colStride(), so no copy
// happens. Expressions without direct access (products, sums) must be evaluated first: they do not
// satisfy the concept. Opt-in: requires Eigen (target llmc::eigen).
#pragma once

#include <Eigen/Core>
#include <cstddef>
#include <type_traits>

#include "llmc/tensor/matrix_view.hpp"

namespace llmc {

template <class E>
concept eigen_direct_dense = std::is_base_of_v<Eigen::DenseBase<E>, E> &&
                             ((static_cast<unsigned>(E::Flags) & static_cast<unsigned>(Eigen::DirectAccessBit)) != 0);

template <class E>
  requires eigen_direct_dense<E>
struct tensor_traits<E> {
  static constexpr bool specialized = true;
  static constexpr bool writable =
      (static_cast<unsigned>(E::Flags) & static_cast<unsigned>(Eigen::LvalueBit)) != 0;
  using scalar = typename E::Scalar;
  using value_type = std::conditional_t<writable, scalar, const scalar>;
  using backend = host_backend;
  static auto data(E& e) noexcept {
    if constexpr (writable) return e.data(); else return static_cast<const scalar*>(e.data());
  }
  static const scalar* data(const E& e) noexcept { return e.data(); }
  static std::size_t rows(const E& e) noexcept { return static_cast<std::size_t>(e.rows()); }
  static std::size_t cols(const E& e) noexcept { return static_cast<std::size_t>(e.cols()); }
  static std::ptrdiff_t row_stride(const E& e) noexcept { return static_cast<std::ptrdiff_t>(e.rowStride()); }
  static std::ptrdiff_t col_stride(const E& e) noexcept { return static_cast<std::ptrdiff_t>(e.colStride()); }
};

}  // namespace llmc
