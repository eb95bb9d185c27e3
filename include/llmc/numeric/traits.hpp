// llmc/numeric/traits.hpp — sizeof_bits_v<T>: the number of bits a value of T occupies in storage.
//
// Invariant: for sub-byte types (float4_e2m1, int4, uint4) this is the packed width (4), not
// sizeof(T) * CHAR_BIT, because those types hold one value in a byte but are stored two to a byte
// (FP4, spec §8.5) or eight to an int32 word (int4, spec §8.4). A type opts in by declaring
// `static constexpr int value_bits`; every other type gets sizeof(T) * CHAR_BIT (float: 32,
// bfloat16: 16, float8_e4m3fn: 8, float8_e8m0: 8). Follows cutlass:include/cutlass/numeric_size.h.
#pragma once

#include <climits>
#include <concepts>
#include <type_traits>

namespace llmc {

namespace detail {
template <class T>
concept declares_value_bits = requires {
  { T::value_bits } -> std::convertible_to<int>;
};
}  // namespace detail

/// Storage width of T in bits; specialize (or declare T::value_bits) for packed types.
template <class T>
struct sizeof_bits : std::integral_constant<int, static_cast<int>(sizeof(T) * CHAR_BIT)> {};

template <detail::declares_value_bits T>
struct sizeof_bits<T> : std::integral_constant<int, static_cast<int>(T::value_bits)> {};

/// Storage width of T in bits, e.g. sizeof_bits_v<float4_e2m1> == 4, sizeof_bits_v<float> == 32.
template <class T>
inline constexpr int sizeof_bits_v = sizeof_bits<std::remove_cv_t<T>>::value;

}  // namespace llmc
