// llmc/numeric/float8.hpp — the two OCP 8-bit floats: float8_e4m3fn (FP8 weights/activations and
// NVFP4 block scales) and float8_e5m2.
//
// Invariants (match torch's casts, c10/util/Float8_e4m3fn.h and Float8_e5m2.h):
//  - float -> fp8 rounds to nearest, ties to even, for every input: normals, subnormals (e4m3fn step
//    2^-9, e5m2 step 2^-16), the subnormal/normal boundary, round-up into the next binade; -0 keeps
//    its sign.
//  - e4m3fn has no inf: the cast is NON-saturating, so magnitudes that round above 448 (|x| > 464,
//    inf included) become NaN 0x7F|sign. e5m2 follows IEEE: |x| >= 61440 rounds to +-inf (0x7C).
//  - NaN -> 0x7F|sign for both types; every NaN code decodes to a quiet float NaN with its sign,
//    so the e5m2 NaN codes 0x7D/0x7E (0xFD/0xFE) round-trip to 0x7F (0xFF); all others round-trip.
// Spec §4.1/§4.3: compressed-tensors clamps to +-448 before casting; that is saturate_cast /
// round_to_float8_e4m3fn. Format: OCP OFP8 rev 1.0 §5.
#pragma once

#include <concepts>
#include <cstdint>

#include "llmc/core/config.hpp"
#include "llmc/numeric/float_bits.hpp"

namespace llmc {

namespace detail {
// As in float16.hpp, the rounded code only goes through min() and OR (no select on it), so loops
// over these conversions vectorize (see float_bits.hpp).
LLMC_HOST_DEVICE constexpr std::uint8_t e4m3fn_bits_from_f32_bits(std::uint32_t u) noexcept {
  const std::uint32_t a = u & f32_abs_mask;
  const std::uint32_t code = rne_magnitude_code<3, 7>(a);
  // Codes only grow with |x|, so everything from the would-be code 0x7F up (overflow, inf and the
  // huge codes NaN inputs produce) collapses onto the NaN code 0x7F.
  return static_cast<std::uint8_t>(((u & f32_sign_mask) >> 24) | (code < 0x7Fu ? code : 0x7Fu));
}

LLMC_HOST_DEVICE constexpr std::uint32_t f32_bits_from_e4m3fn_bits(std::uint8_t b) noexcept {
  const std::uint32_t sign = (static_cast<std::uint32_t>(b) & 0x80u) << 24;
  const std::uint32_t mag = static_cast<std::uint32_t>(b) & 0x7Fu;
  // 0x7F's finite pattern is 480.0f (0x43F00000); OR-ing the quiet NaN over it gives 0x7FF00000.
  const std::uint32_t nan = mag == 0x7Fu ? f32_qnan_bits : 0u;
  return sign | finite_magnitude_to_bits<3, 7>(mag) | nan;
}

LLMC_HOST_DEVICE constexpr std::uint8_t e5m2_bits_from_f32_bits(std::uint32_t u) noexcept {
  const std::uint32_t a = u & f32_abs_mask;
  const std::uint32_t code = rne_magnitude_code<2, 15>(a);
  const std::uint32_t finite_or_inf = code < 0x7Cu ? code : 0x7Cu;  // NaN inputs land here too
  const std::uint32_t nan = a > f32_inf_bits ? 0x03u : 0u;           // ... and become 0x7F
  return static_cast<std::uint8_t>(((u & f32_sign_mask) >> 24) | finite_or_inf | nan);
}

LLMC_HOST_DEVICE constexpr std::uint32_t f32_bits_from_e5m2_bits(std::uint8_t b) noexcept {
  const std::uint32_t sign = (static_cast<std::uint32_t>(b) & 0x80u) << 24;
  const std::uint32_t mag = static_cast<std::uint32_t>(b) & 0x7Fu;
  const std::uint32_t inf = mag >= 0x7Cu ? f32_inf_bits : 0u;
  const std::uint32_t quiet = mag > 0x7Cu ? 0x00400000u : 0u;
  return sign | finite_magnitude_to_bits<2, 15>(mag) | inf | quiet;
}
}  // namespace detail

/// FP8 E4M3 "fn" (finite + NaN, no inf): bias 7, max 448, min subnormal 2^-9.
struct float8_e4m3fn {
  std::uint8_t bits = 0;

  LLMC_HOST_DEVICE static constexpr float8_e4m3fn from_bits(std::uint8_t b) noexcept {
    float8_e4m3fn r;
    r.bits = b;
    return r;
  }

  constexpr float8_e4m3fn() noexcept = default;

  /// Round to nearest even; |x| > 464 (after rounding: above 448), inf and NaN -> NaN (0x7F|sign).
  LLMC_HOST_DEVICE constexpr explicit float8_e4m3fn(float x) noexcept
      : bits(detail::e4m3fn_bits_from_f32_bits(detail::float_to_bits(x))) {}

  /// Exact; 0x7F/0xFF -> quiet NaN.
  LLMC_HOST_DEVICE constexpr explicit operator float() const noexcept {
    return detail::bits_to_float(detail::f32_bits_from_e4m3fn_bits(bits));
  }

  static constexpr float max_finite = 448.0f;
  static constexpr float min_subnormal = 0x1p-9f;
};

/// FP8 E5M2 (IEEE-like, with inf): bias 15, max 57344, min subnormal 2^-16.
struct float8_e5m2 {
  std::uint8_t bits = 0;

  LLMC_HOST_DEVICE static constexpr float8_e5m2 from_bits(std::uint8_t b) noexcept {
    float8_e5m2 r;
    r.bits = b;
    return r;
  }

  constexpr float8_e5m2() noexcept = default;

  /// Round to nearest even; |x| >= 61440 -> +-inf (0x7C); NaN -> 0x7F|sign.
  LLMC_HOST_DEVICE constexpr explicit float8_e5m2(float x) noexcept
      : bits(detail::e5m2_bits_from_f32_bits(detail::float_to_bits(x))) {}

  /// Exact; 0x7C -> inf, 0x7D..0x7F -> quiet NaN (sign kept).
  LLMC_HOST_DEVICE constexpr explicit operator float() const noexcept {
    return detail::bits_to_float(detail::f32_bits_from_e5m2_bits(bits));
  }

  static constexpr float max_finite = 57344.0f;
  static constexpr float min_subnormal = 0x1p-16f;
};

/// The 8-bit float types saturate_cast accepts.
template <class T>
concept float8_type = std::same_as<T, float8_e4m3fn> || std::same_as<T, float8_e5m2>;

/// Clamp x to [-max_finite, max_finite] and then round to nearest even: never produces inf or the
/// overflow NaN. NaN stays NaN. The clamp works on the magnitude's bit pattern (which orders like
/// the magnitude for non-NaN floats), keeping the whole cast in vectorizable integer ops.
template <float8_type F8>
LLMC_HOST_DEVICE constexpr F8 saturate_cast(float x) noexcept {
  const std::uint32_t u = detail::float_to_bits(x);
  const std::uint32_t a = u & detail::f32_abs_mask;
  constexpr std::uint32_t hi = detail::float_to_bits(F8::max_finite);
  const std::uint32_t clamped = (a > hi && a <= detail::f32_inf_bits) ? hi : a;
  return F8(detail::bits_to_float((u & detail::f32_sign_mask) | clamped));
}

/// Value of the nearest float8_e4m3fn after clamping to +-448: what compressed-tensors does for FP8
/// (clamp to the fp8 range, then `.to(torch.float8_e4m3fn)`, spec §4.3). NaN stays NaN.
LLMC_HOST_DEVICE constexpr float round_to_float8_e4m3fn(float x) noexcept {
  return static_cast<float>(saturate_cast<float8_e4m3fn>(x));
}

/// Value of the nearest float8_e5m2 after clamping to +-57344. NaN stays NaN.
LLMC_HOST_DEVICE constexpr float round_to_float8_e5m2(float x) noexcept {
  return static_cast<float>(saturate_cast<float8_e5m2>(x));
}

static_assert(sizeof(float8_e4m3fn) == 1 && sizeof(float8_e5m2) == 1,
              "llmc: 8-bit float types must be exactly one byte");
static_assert(float8_e4m3fn(448.0f).bits == 0x7Eu);
static_assert(float8_e4m3fn(464.0f).bits == 0x7Eu);  // tie between 448 (even) and the NaN slot
static_assert(float8_e4m3fn(-0x1p-9f).bits == 0x81u);
static_assert(float8_e5m2(57344.0f).bits == 0x7Bu);
static_assert(float8_e5m2(61440.0f).bits == 0x7Cu);  // tie goes to even: inf
static_assert(static_cast<float>(float8_e4m3fn::from_bits(0x7Eu)) == 448.0f);

}  // namespace llmc
