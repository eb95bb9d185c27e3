// llmc/numeric/float16.hpp — float16: IEEE 754 binary16 (1 sign, 5 exponent, 10 mantissa bits,
// bias 15), the dtype of fp16 checkpoints and of fp16 scales.
//
// Invariants: float -> float16 rounds to nearest, ties to even, everywhere: normals, subnormals
// (step 2^-24), the subnormal/normal boundary and round-up into the next binade. Magnitudes that
// round above 65504 become +-inf (|x| >= 65520), as IEEE and torch (c10/util/Half.h
// fp16_ieee_from_fp32_value) do; NaN becomes the quiet NaN 0x7E00 with the input's sign kept.
// float16 -> float is exact; every NaN code decodes to a quiet float NaN with its sign.
#pragma once

#include <cstdint>

#include "llmc/core/config.hpp"
#include "llmc/numeric/float_bits.hpp"

namespace llmc {

namespace detail {
/// float16 bits of float32 bits u, round-to-nearest-even. Only min() and OR touch the rounded code
/// (no select on it), which keeps loops over this function vectorizable (see float_bits.hpp).
LLMC_HOST_DEVICE constexpr std::uint16_t f16_bits_from_f32_bits(std::uint32_t u) noexcept {
  const std::uint32_t a = u & f32_abs_mask;
  const std::uint32_t sign = (u & f32_sign_mask) >> 16;
  const std::uint32_t code = rne_magnitude_code<10, 15>(a);
  const std::uint32_t finite_or_inf = code < 0x7C00u ? code : 0x7C00u;  // NaN inputs land here too
  const std::uint32_t quiet = a > f32_inf_bits ? 0x0200u : 0u;          // ... and become 0x7E00
  return static_cast<std::uint16_t>(sign | finite_or_inf | quiet);
}

/// float32 bits of float16 bits h (exact). Codes 0x7C00.. OR the float32 inf exponent over the
/// finite pattern: 0x7C00 -> inf, others -> NaN with the quiet bit set and the payload kept.
LLMC_HOST_DEVICE constexpr std::uint32_t f32_bits_from_f16_bits(std::uint16_t h) noexcept {
  const std::uint32_t sign = (static_cast<std::uint32_t>(h) & 0x8000u) << 16;
  const std::uint32_t mag = static_cast<std::uint32_t>(h) & 0x7FFFu;
  const std::uint32_t inf = mag >= 0x7C00u ? f32_inf_bits : 0u;
  const std::uint32_t quiet = mag > 0x7C00u ? 0x00400000u : 0u;
  return sign | finite_magnitude_to_bits<10, 15>(mag) | inf | quiet;
}
}  // namespace detail

/// IEEE binary16 storage type (no arithmetic: convert to float, compute, convert back).
struct float16 {
  std::uint16_t bits = 0;

  /// The value whose bit pattern is b.
  LLMC_HOST_DEVICE static constexpr float16 from_bits(std::uint16_t b) noexcept {
    float16 r;
    r.bits = b;
    return r;
  }

  constexpr float16() noexcept = default;

  /// Nearest float16, ties to even; overflow -> inf; NaN -> quiet NaN (sign kept).
  LLMC_HOST_DEVICE constexpr explicit float16(float f) noexcept
      : bits(detail::f16_bits_from_f32_bits(detail::float_to_bits(f))) {}

  /// Exact.
  LLMC_HOST_DEVICE constexpr explicit operator float() const noexcept {
    return detail::bits_to_float(detail::f32_bits_from_f16_bits(bits));
  }

  static constexpr float max_finite = 65504.0f;
};

/// float(float16(x)).
LLMC_HOST_DEVICE constexpr float round_to_float16(float x) noexcept {
  return static_cast<float>(float16(x));
}

static_assert(sizeof(float16) == 2, "llmc: float16 must be exactly 16 bits");
static_assert(float16(1.0f).bits == 0x3C00u);
static_assert(float16(65520.0f).bits == 0x7C00u);  // the tie above 65504 goes to even: inf
static_assert(static_cast<float>(float16::from_bits(0x0001u)) == 0x1p-24f);

}  // namespace llmc
