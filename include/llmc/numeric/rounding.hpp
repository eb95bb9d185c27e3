// llmc/numeric/rounding.hpp — round_half_even: torch.round for float32 (nearest integer, ties to
// even), the integer rounding of every compressed-tensors int quantizer (spec §4.2 step 9, §4.3).
//
// Invariants: exact for every float; |x| >= 2^23 is already an integer and is returned unchanged;
// -0.4 -> -0.0 and -0.5 -> -0.0 (the sign survives, as in torch); NaN and inf pass through.
// Implementation: (|x| + 2^23) - 2^23 rounds |x| to an integer in the FPU's default round-to-nearest-
// even mode (the only mode constant evaluation and CUDA use), so it is constexpr, libm-free and
// vectorizes (two adds, a compare and bit ops). Do not compile with -ffast-math / -fassociative-math:
// they may fold the add/sub pair away.
#pragma once

#include <bit>
#include <cstdint>
#include <type_traits>

#include "llmc/core/config.hpp"

namespace llmc {

/// Nearest integer to x, ties to even (torch.round / std::nearbyint in the default mode).
LLMC_HOST_DEVICE constexpr float round_half_even(float x) noexcept {
  constexpr float two23 = 8388608.0f;  // 2^23: from here on floats have no fractional bits
  const std::uint32_t u = std::bit_cast<std::uint32_t>(x);
  const float a = std::bit_cast<float>(u & 0x7FFFFFFFu);
  // (a + m) - m with m = 2^23 rounds a to an integer; with m = 0 (a >= 2^23, inf, NaN: a < 2^23 is
  // false for NaN) it returns a unchanged. Selecting the constant m rather than the result keeps the
  // adds unconditional, which GCC needs to vectorize a loop over this under -ftrapping-math.
  const float m = a < two23 ? two23 : 0.0f;
  // Constant evaluation (Clang) rejects arithmetic that produces a NaN; nothing to round there.
  if (std::is_constant_evaluated() && !(a < two23)) return x;
  const float r = (a + m) - m;
  return std::bit_cast<float>(std::bit_cast<std::uint32_t>(r) | (u & 0x80000000u));
}

/// round_half_even(x) as an int32. @pre |x| < 2^31 and x is not NaN.
LLMC_HOST_DEVICE constexpr std::int32_t round_half_even_to_int(float x) noexcept {
  return static_cast<std::int32_t>(round_half_even(x));
}

/// The integer quantizer's rounding step: round_half_even(x) clamped to [lo, hi], as an int32.
/// compressed-tensors computes round(clamp(x, q_min, q_max)) (spec §4.3); rounding first and then
/// clamping gives the same result because lo and hi are integers, and it is the order that keeps a
/// loop vectorized when lo/hi are compile-time constants (clamping first lets GCC thread the
/// constant paths through the rounding and give up on vectorizing). NaN -> 0 (what torch's
/// `.to(int8)` produces on x86). @pre lo and hi are integers with |lo|, |hi| < 2^31.
LLMC_HOST_DEVICE constexpr std::int32_t round_clamp_to_int(float x, float lo, float hi) noexcept {
  const std::uint32_t u = std::bit_cast<std::uint32_t>(x);
  const std::uint32_t not_nan = 0u - static_cast<std::uint32_t>((u & 0x7FFFFFFFu) <= 0x7F800000u);
  float r = round_half_even(std::bit_cast<float>(u & not_nan));
  r = r < lo ? lo : r;
  r = r > hi ? hi : r;
  return static_cast<std::int32_t>(r);
}

static_assert(round_half_even(2.5f) == 2.0f && round_half_even(3.5f) == 4.0f);
static_assert(round_clamp_to_int(7.5f, -8.0f, 7.0f) == 7);
static_assert(round_clamp_to_int(-8.5f, -8.0f, 7.0f) == -8);
static_assert(round_half_even(-2.5f) == -2.0f && round_half_even(0.49999997f) == 0.0f);
static_assert(round_half_even(8388607.5f) == 8388608.0f);

}  // namespace llmc
