// llmc/numeric/int4.hpp — int4 (-8..7) and uint4 (0..15): one 4-bit integer held in a byte.
//
// Invariants: `value` is always in range. Construction from int wraps modulo 16 (two's complement
// for int4), like a cast to a 4-bit integer and like cutlass integer_subbyte; use `clamped` when a
// value may be out of range. In storage these types are packed eight to an int32 word with an offset
// of +8 for int4 (compressed-tensors pack-quantized, spec §8.4; see numeric/packing.hpp), so
// sizeof_bits_v is 4. Follows cutlass:include/cutlass/integer_subbyte.h.
#pragma once

#include <cstdint>

#include "llmc/core/config.hpp"

namespace llmc {

/// Signed 4-bit integer, -8..7.
struct int4 {
  std::int8_t value = 0;

  static constexpr int value_bits = 4;
  static constexpr int min = -8;
  static constexpr int max = 7;

  constexpr int4() noexcept = default;
  /// v modulo 16, as two's complement: int4(8) == -8, int4(-9) == 7.
  LLMC_HOST_DEVICE constexpr explicit int4(int v) noexcept
      : value(static_cast<std::int8_t>(((v & 0xF) ^ 0x8) - 0x8)) {}

  /// The value whose two's-complement nibble is b & 0xF.
  LLMC_HOST_DEVICE static constexpr int4 from_bits(std::uint8_t b) noexcept { return int4(b); }
  /// v clamped to [-8, 7].
  LLMC_HOST_DEVICE static constexpr int4 clamped(int v) noexcept {
    return int4(v < min ? min : (v > max ? max : v));
  }

  /// Two's-complement nibble (0..15).
  LLMC_HOST_DEVICE constexpr std::uint8_t bits() const noexcept {
    return static_cast<std::uint8_t>(value & 0xF);
  }
  LLMC_HOST_DEVICE constexpr explicit operator int() const noexcept { return value; }
  friend constexpr bool operator==(int4, int4) noexcept = default;
};

/// Unsigned 4-bit integer, 0..15.
struct uint4 {
  std::uint8_t value = 0;

  static constexpr int value_bits = 4;
  static constexpr int min = 0;
  static constexpr int max = 15;

  constexpr uint4() noexcept = default;
  /// v modulo 16: uint4(16) == 0, uint4(-1) == 15.
  LLMC_HOST_DEVICE constexpr explicit uint4(int v) noexcept
      : value(static_cast<std::uint8_t>(v & 0xF)) {}

  LLMC_HOST_DEVICE static constexpr uint4 from_bits(std::uint8_t b) noexcept { return uint4(b); }
  /// v clamped to [0, 15].
  LLMC_HOST_DEVICE static constexpr uint4 clamped(int v) noexcept {
    return uint4(v < min ? min : (v > max ? max : v));
  }

  LLMC_HOST_DEVICE constexpr std::uint8_t bits() const noexcept { return value; }
  LLMC_HOST_DEVICE constexpr explicit operator int() const noexcept { return value; }
  friend constexpr bool operator==(uint4, uint4) noexcept = default;
};

static_assert(sizeof(int4) == 1 && sizeof(uint4) == 1);
static_assert(static_cast<int>(int4(7)) == 7 && static_cast<int>(int4(8)) == -8);
static_assert(int4(-1).bits() == 0xF && static_cast<int>(uint4(17)) == 1);

}  // namespace llmc
