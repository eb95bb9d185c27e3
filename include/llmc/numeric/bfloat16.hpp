// llmc/numeric/bfloat16.hpp — bfloat16: the upper 16 bits of an IEEE float32 (1 sign, 8 exponent,
// 7 mantissa bits), the dtype most checkpoints and compressed-tensors scales use.
//
// Invariants: float -> bfloat16 rounds to nearest, ties to even, on the float32 bit pattern, exactly
// as torch's c10::BFloat16 (c10/util/BFloat16.h round_to_nearest_even): subnormals round like normals
// (same exponent range), overflow becomes +-inf, NaN becomes the quiet NaN 0x7FC0 with the input's
// sign kept (torch drops the sign; no quantization result depends on a NaN's sign).
// bfloat16 -> float is exact. Spec §4.2/§4.3: scales and x/scale are evaluated in bf16, so
// round_to_bfloat16 is the step that makes the C++ arithmetic bit-identical to the eager path.
#pragma once

#include <cstdint>

#include "llmc/core/config.hpp"
#include "llmc/numeric/float_bits.hpp"

namespace llmc {

namespace detail {
/// bfloat16 bits of float32 bits u, round-to-nearest-even (integer ops only). Rounds the magnitude,
/// masks in the NaN pattern for NaN inputs and ORs the sign: bit ops instead of a select on the
/// rounded value, so loops that feed the result into further float work still vectorize
/// (see float_bits.hpp).
LLMC_HOST_DEVICE constexpr std::uint32_t bf16_round_f32_bits(std::uint32_t u) noexcept {
  const std::uint32_t a = u & f32_abs_mask;
  // Carry out of the mantissa walks into the exponent, so the largest finite values round to inf.
  // (For NaN inputs the add may even carry out of bit 30; the NaN mask replaces that result.)
  const std::uint32_t rounded = (a + 0x7FFFu + ((a >> 16) & 1u)) & 0x7FFF0000u;
  const std::uint32_t nan = 0u - static_cast<std::uint32_t>(a > f32_inf_bits);  // all-ones for NaN
  return (u & f32_sign_mask) | (rounded & ~nan) | (f32_qnan_bits & nan);
}

/// bfloat16 bits of float32 bits u.
LLMC_HOST_DEVICE constexpr std::uint16_t bf16_bits_from_f32_bits(std::uint32_t u) noexcept {
  return static_cast<std::uint16_t>(bf16_round_f32_bits(u) >> 16);
}
}  // namespace detail

/// 16-bit brain float; a storage type (no arithmetic: convert to float, compute, convert back).
struct bfloat16 {
  std::uint16_t bits = 0;

  /// The value whose bit pattern is b.
  LLMC_HOST_DEVICE static constexpr bfloat16 from_bits(std::uint16_t b) noexcept {
    bfloat16 r;
    r.bits = b;
    return r;
  }

  constexpr bfloat16() noexcept = default;

  /// Nearest bfloat16, ties to even; overflow -> inf; NaN -> quiet NaN (sign kept).
  LLMC_HOST_DEVICE constexpr explicit bfloat16(float f) noexcept
      : bits(detail::bf16_bits_from_f32_bits(detail::float_to_bits(f))) {}

  /// Exact.
  LLMC_HOST_DEVICE constexpr explicit operator float() const noexcept {
    return detail::bits_to_float(static_cast<std::uint32_t>(bits) << 16);
  }

  static constexpr float max_finite = 0x1.FEp127f;  // 0x7F7F = (2 - 2^-7) * 2^127
};

/// float(bfloat16(x)) without leaving float32 registers: integer add, mask and OR only.
LLMC_HOST_DEVICE constexpr float round_to_bfloat16(float x) noexcept {
  return detail::bits_to_float(detail::bf16_round_f32_bits(detail::float_to_bits(x)));
}

static_assert(sizeof(bfloat16) == 2, "llmc: bfloat16 must be exactly 16 bits");
static_assert(bfloat16(1.0f).bits == 0x3F80u);
static_assert(static_cast<float>(bfloat16::from_bits(0x7F7Fu)) == bfloat16::max_finite);

}  // namespace llmc
