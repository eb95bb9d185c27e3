// llmc/io/dtype.hpp — the element types a safetensors file can hold, as llmc reads and writes them.
//
// Invariants: the enumerators are declared in the order of the Rust safetensors `Dtype` enum
// (huggingface/safetensors safetensors/src/tensor.rs, `pub enum Dtype`, "MUST be in increasing
// alignment order"); the writer sorts tensors by this order, descending, so our files match the
// library's byte for byte. Names are the header strings ("F32", "BF16", "F8_E4M3", ...).
// Sub-byte (F4, F6_*), FNUZ fp8 and complex dtypes are not supported and are rejected by name.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <type_traits>

#include "llmc/numeric/bfloat16.hpp"
#include "llmc/numeric/e8m0.hpp"
#include "llmc/numeric/float16.hpp"
#include "llmc/numeric/float8.hpp"
#include "llmc/numeric/scalar_type.hpp"

namespace llmc {

/// Element type of a stored tensor. Declaration order = the Rust library's order (see above).
enum class dtype : std::uint8_t {
  boolean,   ///< "BOOL": one byte, 0 or 1
  u8,        ///< "U8"
  i8,        ///< "I8"
  f8_e5m2,   ///< "F8_E5M2" (llmc::float8_e5m2)
  f8_e4m3,   ///< "F8_E4M3" (llmc::float8_e4m3fn; torch.float8_e4m3fn)
  f8_e8m0,   ///< "F8_E8M0" (llmc::float8_e8m0; torch.float8_e8m0fnu, MX scales)
  i16,       ///< "I16"
  u16,       ///< "U16"
  f16,       ///< "F16" (llmc::float16)
  bf16,      ///< "BF16" (llmc::bfloat16)
  i32,       ///< "I32"
  u32,       ///< "U32"
  f32,       ///< "F32"
  f64,       ///< "F64"
  i64,       ///< "I64"
  u64,       ///< "U64"
};

/// Every supported dtype, in declaration order (handy for tests and diagnostics).
inline constexpr dtype all_dtypes[] = {dtype::boolean, dtype::u8,  dtype::i8,   dtype::f8_e5m2,
                                       dtype::f8_e4m3, dtype::f8_e8m0, dtype::i16, dtype::u16,
                                       dtype::f16,     dtype::bf16, dtype::i32,  dtype::u32,
                                       dtype::f32,     dtype::f64,  dtype::i64,  dtype::u64};

/// Size of one element in bytes.
constexpr std::size_t dtype_size(dtype t) noexcept {
  switch (t) {
    case dtype::boolean:
    case dtype::u8:
    case dtype::i8:
    case dtype::f8_e5m2:
    case dtype::f8_e4m3:
    case dtype::f8_e8m0:
      return 1;
    case dtype::i16:
    case dtype::u16:
    case dtype::f16:
    case dtype::bf16:
      return 2;
    case dtype::i32:
    case dtype::u32:
    case dtype::f32:
      return 4;
    case dtype::f64:
    case dtype::i64:
    case dtype::u64:
      return 8;
  }
  return 0;
}

/// The header string of a dtype ("F32", "BF16", ...).
constexpr std::string_view dtype_name(dtype t) noexcept {
  switch (t) {
    case dtype::boolean: return "BOOL";
    case dtype::u8: return "U8";
    case dtype::i8: return "I8";
    case dtype::f8_e5m2: return "F8_E5M2";
    case dtype::f8_e4m3: return "F8_E4M3";
    case dtype::f8_e8m0: return "F8_E8M0";
    case dtype::i16: return "I16";
    case dtype::u16: return "U16";
    case dtype::f16: return "F16";
    case dtype::bf16: return "BF16";
    case dtype::i32: return "I32";
    case dtype::u32: return "U32";
    case dtype::f32: return "F32";
    case dtype::f64: return "F64";
    case dtype::i64: return "I64";
    case dtype::u64: return "U64";
  }
  return "?";
}

/// Parses a header dtype string; std::nullopt for anything unknown or unsupported (case-sensitive,
/// as the Rust library's serde derive is).
constexpr std::optional<dtype> dtype_from_name(std::string_view s) noexcept {
  for (dtype t : all_dtypes) {
    if (dtype_name(t) == s) return t;
  }
  return std::nullopt;
}

/// The supported names, comma-separated, for error messages.
inline constexpr const char* supported_dtype_names =
    "BOOL, U8, I8, F8_E5M2, F8_E4M3, F8_E8M0, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64";

/// True for the floating-point dtypes to_float32() converts.
constexpr bool is_floating(dtype t) noexcept {
  return t == dtype::f8_e5m2 || t == dtype::f8_e4m3 || t == dtype::f8_e8m0 || t == dtype::f16 ||
         t == dtype::bf16 || t == dtype::f32 || t == dtype::f64;
}

/// The stored dtype of a numeric-layer scalar_type; std::nullopt for float4_e2m1, which has no
/// safetensors dtype of its own (compressed-tensors stores FP4 packed two per byte as U8).
constexpr std::optional<dtype> to_dtype(scalar_type t) noexcept {
  switch (t) {
    case scalar_type::float64: return dtype::f64;
    case scalar_type::float32: return dtype::f32;
    case scalar_type::bfloat16: return dtype::bf16;
    case scalar_type::float16: return dtype::f16;
    case scalar_type::float8_e4m3fn: return dtype::f8_e4m3;
    case scalar_type::float8_e5m2: return dtype::f8_e5m2;
    case scalar_type::float8_e8m0: return dtype::f8_e8m0;
    case scalar_type::float4_e2m1: return std::nullopt;
    case scalar_type::int64: return dtype::i64;
    case scalar_type::int32: return dtype::i32;
    case scalar_type::int16: return dtype::i16;
    case scalar_type::int8: return dtype::i8;
    case scalar_type::uint8: return dtype::u8;
    case scalar_type::boolean: return dtype::boolean;
  }
  return std::nullopt;
}

/// The numeric-layer scalar_type of a stored dtype; std::nullopt for U16, U32 and U64, which llmc
/// reads and writes but never computes with.
constexpr std::optional<scalar_type> to_scalar_type(dtype t) noexcept {
  switch (t) {
    case dtype::boolean: return scalar_type::boolean;
    case dtype::u8: return scalar_type::uint8;
    case dtype::i8: return scalar_type::int8;
    case dtype::f8_e5m2: return scalar_type::float8_e5m2;
    case dtype::f8_e4m3: return scalar_type::float8_e4m3fn;
    case dtype::f8_e8m0: return scalar_type::float8_e8m0;
    case dtype::i16: return scalar_type::int16;
    case dtype::f16: return scalar_type::float16;
    case dtype::bf16: return scalar_type::bfloat16;
    case dtype::i32: return scalar_type::int32;
    case dtype::f32: return scalar_type::float32;
    case dtype::f64: return scalar_type::float64;
    case dtype::i64: return scalar_type::int64;
    case dtype::u16:
    case dtype::u32:
    case dtype::u64: return std::nullopt;
  }
  return std::nullopt;
}

namespace detail {
template <class T>
struct dtype_of_impl {};
template <> struct dtype_of_impl<bool> { static constexpr dtype value = dtype::boolean; };
template <> struct dtype_of_impl<std::uint8_t> { static constexpr dtype value = dtype::u8; };
template <> struct dtype_of_impl<std::int8_t> { static constexpr dtype value = dtype::i8; };
template <> struct dtype_of_impl<float8_e5m2> { static constexpr dtype value = dtype::f8_e5m2; };
template <> struct dtype_of_impl<float8_e4m3fn> { static constexpr dtype value = dtype::f8_e4m3; };
template <> struct dtype_of_impl<float8_e8m0> { static constexpr dtype value = dtype::f8_e8m0; };
template <> struct dtype_of_impl<std::int16_t> { static constexpr dtype value = dtype::i16; };
template <> struct dtype_of_impl<std::uint16_t> { static constexpr dtype value = dtype::u16; };
template <> struct dtype_of_impl<float16> { static constexpr dtype value = dtype::f16; };
template <> struct dtype_of_impl<bfloat16> { static constexpr dtype value = dtype::bf16; };
template <> struct dtype_of_impl<std::int32_t> { static constexpr dtype value = dtype::i32; };
template <> struct dtype_of_impl<std::uint32_t> { static constexpr dtype value = dtype::u32; };
template <> struct dtype_of_impl<float> { static constexpr dtype value = dtype::f32; };
template <> struct dtype_of_impl<double> { static constexpr dtype value = dtype::f64; };
template <> struct dtype_of_impl<std::int64_t> { static constexpr dtype value = dtype::i64; };
template <> struct dtype_of_impl<std::uint64_t> { static constexpr dtype value = dtype::u64; };
}  // namespace detail

/// Element types that map to exactly one dtype and whose bytes are the on-disk little-endian bytes.
template <class T>
concept storable_element = requires { detail::dtype_of_impl<std::remove_cv_t<T>>::value; } &&
                           std::is_trivially_copyable_v<T> &&
                           (sizeof(T) == dtype_size(detail::dtype_of_impl<std::remove_cv_t<T>>::value));

/// The dtype stored for C++ element type T, e.g. dtype_of_v<float> == dtype::f32.
template <storable_element T>
inline constexpr dtype dtype_of_v = detail::dtype_of_impl<std::remove_cv_t<T>>::value;

}  // namespace llmc
