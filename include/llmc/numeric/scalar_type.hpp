// llmc/numeric/scalar_type.hpp — a runtime name for every element type llmc stores.
//
// Quantized results carry the scalar_type of their codes and scales so that the I/O layer can
// write them (as safetensors dtypes) without knowing the compile-time scheme. The enumerators
// cover the dtypes compressed-tensors checkpoints use (spec §8.3).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace llmc {

enum class scalar_type : std::uint8_t {
  float64, float32, bfloat16, float16, float8_e4m3fn, float8_e5m2, float8_e8m0, float4_e2m1,
  int64, int32, int16, int8, uint8, boolean
};

/// Bits per element (4 for the sub-byte types).
constexpr std::size_t bits_of(scalar_type t) noexcept {
  switch (t) {
    case scalar_type::float64: case scalar_type::int64: return 64;
    case scalar_type::float32: case scalar_type::int32: return 32;
    case scalar_type::bfloat16: case scalar_type::float16: case scalar_type::int16: return 16;
    case scalar_type::float4_e2m1: return 4;
    default: return 8;
  }
}

constexpr std::string_view to_string(scalar_type t) noexcept {
  switch (t) {
    case scalar_type::float64: return "float64";
    case scalar_type::float32: return "float32";
    case scalar_type::bfloat16: return "bfloat16";
    case scalar_type::float16: return "float16";
    case scalar_type::float8_e4m3fn: return "float8_e4m3fn";
    case scalar_type::float8_e5m2: return "float8_e5m2";
    case scalar_type::float8_e8m0: return "float8_e8m0";
    case scalar_type::float4_e2m1: return "float4_e2m1";
    case scalar_type::int64: return "int64";
    case scalar_type::int32: return "int32";
    case scalar_type::int16: return "int16";
    case scalar_type::int8: return "int8";
    case scalar_type::uint8: return "uint8";
    case scalar_type::boolean: return "bool";
  }
  return "?";
}

}  // namespace llmc
