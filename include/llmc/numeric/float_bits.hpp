// llmc/numeric/float_bits.hpp — bit-level kernels shared by the narrow float types
// (bfloat16, float16, float8_e4m3fn, float8_e5m2): float32 -> narrow code with round-to-nearest-even,
// and narrow code -> float32, both exact and branch-free.
//
// Invariants: everything is constexpr (std::bit_cast) and uses only integer ops plus one float add
// (the subnormal "magic number" trick, which relies on the default round-to-nearest-even mode, the
// only mode C++ constant evaluation and CUDA use). Both the normal and subnormal candidates are
// always computed and combined with bit masks rather than `?:` on their values, so loops over these
// functions auto-vectorize with GCC and Clang at -O3 under the default -ftrapping-math (a select lets
// GCC sink the float add into a branch it then cannot if-convert).
// Format facts: OCP 8-bit Floating Point Specification (OFP8) rev 1.0 §5 for E4M3/E5M2; IEEE 754
// binary16; the magic-number technique is the one used by FP16 libraries (Maratyszcza/FP16).
#pragma once

#include <bit>
#include <cstdint>

#include "llmc/core/config.hpp"

namespace llmc::detail {

/// float32 bit pattern of x (constexpr).
LLMC_HOST_DEVICE constexpr std::uint32_t float_to_bits(float x) noexcept {
  return std::bit_cast<std::uint32_t>(x);
}
/// float32 with bit pattern b (constexpr).
LLMC_HOST_DEVICE constexpr float bits_to_float(std::uint32_t b) noexcept {
  return std::bit_cast<float>(b);
}

inline constexpr std::uint32_t f32_sign_mask = 0x80000000u;
inline constexpr std::uint32_t f32_abs_mask = 0x7FFFFFFFu;
inline constexpr std::uint32_t f32_inf_bits = 0x7F800000u;
inline constexpr std::uint32_t f32_qnan_bits = 0x7FC00000u;

/// Layout of a narrow binary float with ManBits stored mantissa bits and exponent bias Bias.
/// Only the mantissa width and bias matter for rounding; the exponent width only decides where
/// overflow starts, which each type handles itself (inf, NaN or saturation differ per format).
template <int ManBits, int Bias>
struct narrow_layout {
  static_assert(ManBits >= 1 && ManBits <= 22, "llmc: narrow float mantissa must be 1..22 bits");
  /// float32 mantissa bits dropped when rounding to this format's normal range.
  static constexpr int shift = 23 - ManBits;
  /// float32 bits of the smallest normal value 2^(1-Bias).
  static constexpr std::uint32_t min_normal_bits = static_cast<std::uint32_t>(127 - Bias + 1) << 23;
  /// float32 bits of 2^(24-Bias-ManBits): its ulp is the format's subnormal step 2^(1-Bias-ManBits),
  /// so adding it to any |x| below the normal range rounds |x| to a whole number of steps.
  static constexpr std::uint32_t magic_bits = static_cast<std::uint32_t>(127 + 24 - Bias - ManBits)
                                              << 23;
  /// Exponent rebias from float32 to this format, positioned at float32's exponent field.
  static constexpr std::uint32_t rebias = static_cast<std::uint32_t>(127 - Bias) << 23;
  static constexpr std::uint32_t mantissa_mask = (1u << ManBits) - 1u;
};

/// Magnitude code (no sign) of |x| rounded to nearest-even in the format, given a = |x|'s float32
/// bits. Unbounded above: codes past the format's largest finite value (and for inf/NaN inputs) are
/// returned as large numbers for the caller to clamp with min(), which keeps every result "used"
/// (see below). The carry of a round-up propagates from the mantissa into the exponent, so rounding
/// into the next binade (and from the largest subnormal into the smallest normal) needs no special
/// case.
template <int ManBits, int Bias>
LLMC_HOST_DEVICE constexpr std::uint32_t rne_magnitude_code(std::uint32_t a) noexcept {
  using L = narrow_layout<ManBits, Bias>;
  // All-ones when |x| is below the normal range.
  const std::uint32_t sub = 0u - static_cast<std::uint32_t>(a < L::min_normal_bits);
  // Subnormal range: the FPU performs the round-to-nearest-even for us. Other inputs are masked to
  // +0, for which the add yields code 0, so the two candidates can be OR-ed. Masking (instead of
  // `cond ? sub_code : norm_code`) matters: with a select, GCC sinks the float add into a branch and,
  // under the default -ftrapping-math, can then no longer vectorize the caller's loop. It also keeps
  // inf/NaN out of the add, so the function stays usable in constant expressions for every input.
  const std::uint32_t sub_code =
      float_to_bits(bits_to_float(a & sub) + bits_to_float(L::magic_bits)) - L::magic_bits;
  // Normal range: add half an ulp minus one plus the lowest kept bit (ties go to even), then drop.
  const std::uint32_t odd = (a >> L::shift) & 1u;
  const std::uint32_t norm_code = (a - L::rebias + ((1u << (L::shift - 1)) - 1u) + odd) >> L::shift;
  return sub_code | (norm_code & ~sub);
}

/// float32 bits of a magnitude code (no sign) of the format: exact for finite codes. For codes with
/// an all-ones exponent field the result is the finite pattern 2^(emax+1) * (1 + m/2^ManBits);
/// callers OR in 0x7F800000 (and the quiet bit) to turn it into inf/NaN without a select.
template <int ManBits, int Bias>
LLMC_HOST_DEVICE constexpr std::uint32_t finite_magnitude_to_bits(std::uint32_t code) noexcept {
  using L = narrow_layout<ManBits, Bias>;
  // All-ones for subnormal codes (exponent field 0).
  const std::uint32_t sub = 0u - static_cast<std::uint32_t>((code >> ManBits) == 0u);
  // Normal: move the fields into place and rebias the exponent.
  const std::uint32_t normal = (code << L::shift) + L::rebias;
  // Subnormal: (magic + m steps) - magic == m * 2^(1-Bias-ManBits), exactly; normal codes are masked
  // to m = 0, giving +0, so the candidates can be OR-ed (see rne_magnitude_code for why no select).
  const std::uint32_t mant = code & L::mantissa_mask & sub;
  const std::uint32_t sub_bits =
      float_to_bits(bits_to_float(L::magic_bits | mant) - bits_to_float(L::magic_bits));
  return sub_bits | (normal & ~sub);
}

}  // namespace llmc::detail
