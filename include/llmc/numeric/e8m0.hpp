// llmc/numeric/e8m0.hpp — float8_e8m0: the shared power-of-two scale of the MX formats (MXFP4,
// MXFP8), stored on disk as a uint8 `weight_scale` (spec §4.6, §8.3), and the rule computing it.
//
// Value: 2^(bits - 127); bits 0xFF is NaN; there is no zero and no sign (OCP MX spec v1.0 §5.4.1).
// mx_scale_from_absmax follows compressed-tensors exactly ([CT] src/compressed_tensors/quantization/
// utils/mxfp_utils.py, generate_mx_scales + round_to_power_2, read at commit 4b993cb; the uint8
// conversion is round_to_quantized_type_dtype in quant_args.py, called from calculate_qparams in
// quantization/utils/helpers.py):
//   1. p2 = bits(absmax) + 2^(mantissa_bits - 2), masked to sign+exponent: VAL_TO_ADD is
//      1 << (mantissa - FP4_E2M1_DATA.mantissa - 1) with FP4's mantissa = 1, i.e. 2^21 for float32
//      (2^5 for bfloat16: the same rule on the same value). Only a significand >= 1.75 carries into
//      the exponent, so p2 is absmax rounded DOWN to a power of two unless it is within 1/8 below
//      the next one. For the same reason a float32 subnormal absmax gives p2 = 0 unless it is
//      >= 0.75 * 2^-126 (then p2 = 2^-126), and significand >= 1.75 at 2^127 gives p2 = inf.
//   2. e = 127 + floor(log2(p2)) - offset, offset = floor(log2(element max)): FP4 2, FP8 e4m3 8.
//   3. uint8: round(clamp(e, 0, 255)). So p2 == 0 (absmax 0, tiny subnormals) -> log2 = -inf -> 0,
//      p2 == inf -> 255, and exponents that fall outside [0, 255] saturate.
// NaN absmax -> 255 (E8M0 NaN). CT's result for NaN depends on the NaN's payload (canonical NaN
// gives 255), so we fix the canonical answer. absmax is a magnitude: its sign bit is ignored.
#pragma once

#include <cstdint>

#include "llmc/core/config.hpp"
#include "llmc/numeric/bfloat16.hpp"
#include "llmc/numeric/float16.hpp"
#include "llmc/numeric/float_bits.hpp"

namespace llmc {

/// E8M0 exponent-only scale: value 2^(bits-127), 0xFF = NaN.
struct float8_e8m0 {
  std::uint8_t bits = 0;

  static constexpr int bias = 127;

  LLMC_HOST_DEVICE static constexpr float8_e8m0 from_bits(std::uint8_t b) noexcept {
    float8_e8m0 r;
    r.bits = b;
    return r;
  }
  constexpr float8_e8m0() noexcept = default;

  /// Unbiased exponent bits - 127 (meaningless for the NaN code 0xFF).
  LLMC_HOST_DEVICE constexpr int exponent() const noexcept { return static_cast<int>(bits) - bias; }

  /// 2^(bits-127), exact (bits 0 is the float32 subnormal 2^-127); 0xFF -> quiet NaN.
  LLMC_HOST_DEVICE constexpr explicit operator float() const noexcept {
    const std::uint32_t b = bits;
    const std::uint32_t f = b == 0u ? 0x00400000u : (b == 0xFFu ? detail::f32_qnan_bits : b << 23);
    return detail::bits_to_float(f);
  }
};

/// floor(log2(T::max_finite)): the `offset` compressed-tensors subtracts for element type T
/// (float4_e2m1: 2, float8_e4m3fn: 8), read from the exponent field of max_finite.
template <class T>
inline constexpr int mx_element_max_exponent_v =
    static_cast<int>((detail::float_to_bits(T::max_finite) >> 23) & 0xFFu) - 127;

namespace detail {
/// Steps 2-3 of the rule, given the biased exponent field of p2 in a format with exponent bias
/// `src_bias` and all-ones exponent `src_inf`.
LLMC_HOST_DEVICE constexpr float8_e8m0 mx_scale_from_p2_exponent(
    std::uint32_t p2_field, int src_bias, std::uint32_t src_inf, bool nan,
    int element_max_exponent) noexcept {
  const int e = 127 + static_cast<int>(p2_field) - src_bias - element_max_exponent;
  const int clamped = e < 0 ? 0 : (e > 255 ? 255 : e);
  const int finite = p2_field == 0u ? 0 : clamped;  // p2 == 0: log2 is -inf, clamps to 0
  return float8_e8m0::from_bits(
      static_cast<std::uint8_t>((nan || p2_field == src_inf) ? 255 : finite));
}
}  // namespace detail

/// The E8M0 scale compressed-tensors stores for a group whose float32 (or bfloat16-valued) absmax is
/// `absmax`, for an element type with floor(log2(max_finite)) == element_max_exponent (FP4: 2,
/// FP8 e4m3: 8; see mx_element_max_exponent_v). Examples, FP4: absmax 6 -> 127 (scale 1),
/// absmax 7 -> 128 (7 = 1.75 * 2^2 rounds up to 8), absmax 0 -> 0.
LLMC_HOST_DEVICE constexpr float8_e8m0 mx_scale_from_absmax(float absmax,
                                                            int element_max_exponent) noexcept {
  const std::uint32_t a = detail::float_to_bits(absmax) & detail::f32_abs_mask;
  const bool nan = a > detail::f32_inf_bits;
  // a <= 0x7F800000 for non-NaN, so the add cannot carry into the sign bit.
  const std::uint32_t p2 = ((nan ? 0u : a) + (1u << 21)) & 0x7F800000u;
  return detail::mx_scale_from_p2_exponent(p2 >> 23, 127, 0xFFu, nan, element_max_exponent);
}

/// Same as the float overload: bfloat16 values round to the same power of two in either dtype.
LLMC_HOST_DEVICE constexpr float8_e8m0 mx_scale_from_absmax(bfloat16 absmax,
                                                            int element_max_exponent) noexcept {
  return mx_scale_from_absmax(static_cast<float>(absmax), element_max_exponent);
}

/// For a float16 absmax (fp16 models) CT rounds in float16 (add 2^8, keep 5 exponent bits), which
/// differs from float32 at the ends: significand >= 1.75 at 2^15 becomes inf -> 255, and float16
/// subnormals below 0.75 * 2^-14 become 0 -> 0.
LLMC_HOST_DEVICE constexpr float8_e8m0 mx_scale_from_absmax(float16 absmax,
                                                            int element_max_exponent) noexcept {
  const std::uint32_t a = absmax.bits & 0x7FFFu;
  const bool nan = a > 0x7C00u;
  const std::uint32_t p2 = ((nan ? 0u : a) + (1u << 8)) & 0x7C00u;
  return detail::mx_scale_from_p2_exponent(p2 >> 10, 15, 0x1Fu, nan, element_max_exponent);
}

static_assert(sizeof(float8_e8m0) == 1);
static_assert(mx_scale_from_absmax(6.0f, 2).bits == 127);
static_assert(mx_scale_from_absmax(7.0f, 2).bits == 128);
static_assert(static_cast<float>(float8_e8m0::from_bits(130)) == 8.0f);

}  // namespace llmc
