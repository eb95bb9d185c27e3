// llmc/numeric/float4.hpp — float4_e2m1: the FP4 element of NVFP4 and MXFP4 (spec §4.1, 4.3, 8.5).
//
// Code layout (low 4 bits of `bits`): bit 3 = sign, bits 0-2 = index into
// {0, 0.5, 1, 1.5, 2, 3, 4, 6}. Rounding follows compressed-tensors' cast_to_fp4
// ([CT] src/compressed_tensors/quantization/utils/fp4_utils.py): |x| <= 0.25 -> 0,
// (0.25,0.75) -> 0.5, [0.75,1.25] -> 1, (1.25,1.75) -> 1.5, [1.75,2.5] -> 2, (2.5,3.5) -> 3,
// [3.5,5] -> 4, > 5 -> 6. Those thresholds are exactly round-to-nearest with ties to the even
// index, saturating at 6 (inf -> 6).
// Sign: CT multiplies the rounded magnitude by torch.sign(x), and the packer
// ([CT] .../nvfp4/helpers.py) takes the IEEE sign bit of that product. So every x < 0 gets bit 3,
// including small negatives that round to zero (-0.1 -> 0x8, "negative zero"), while +0 AND -0.0
// give 0x0 (torch.sign(-0.0) == +0). NaN -> 0x0 (torch.sign(NaN) == 0 on the CPU path; CT leaves
// the magnitude unspecified, we pick 0). CT also casts x to bfloat16 before comparing;
// ct_cast_to_fp4 reproduces that, the constructor does not.
#pragma once

#include <cstdint>

#include "llmc/core/config.hpp"
#include "llmc/numeric/bfloat16.hpp"
#include "llmc/numeric/float_bits.hpp"

namespace llmc {

/// FP4 E2M1 code, one per byte (packed two per byte only by pack_fp4).
struct float4_e2m1 {
  std::uint8_t bits = 0;  ///< low nibble only; the high nibble is always 0

  static constexpr int value_bits = 4;
  static constexpr float max_finite = 6.0f;

  /// The value whose 4-bit code is b & 0xF.
  LLMC_HOST_DEVICE static constexpr float4_e2m1 from_bits(std::uint8_t b) noexcept {
    float4_e2m1 r;
    r.bits = static_cast<std::uint8_t>(b & 0x0Fu);
    return r;
  }

  constexpr float4_e2m1() noexcept = default;

  /// compressed-tensors thresholds (see the header comment); sign set iff x < 0; saturates at +-6.
  LLMC_HOST_DEVICE constexpr explicit float4_e2m1(float x) noexcept : bits(encode(x)) {}

  /// 0, 0.5, 1, 1.5, 2, 3, 4, 6 with the sign of bit 3 (code 0x8 decodes to -0.0).
  LLMC_HOST_DEVICE constexpr explicit operator float() const noexcept {
    // Index i = (e << 1) | m is E2M1 itself: for i >= 2 the value 2^(e-1) * (1 + m/2) has float32
    // bits (i << 22) + (126 << 23); i = 1 is the subnormal 0.5 and i = 0 is zero. Integer ops only
    // (no variable shift, no int -> float), so decode loops vectorize.
    const std::uint32_t i = bits & 0x7u;
    const std::uint32_t mag = i < 2u ? i * 0x3F000000u : (i << 22) + 0x3F000000u;
    return detail::bits_to_float(mag |
                                 (static_cast<std::uint32_t>(bits & 0x8u) << 28));
  }

 private:
  LLMC_HOST_DEVICE static constexpr std::uint8_t encode(float x) noexcept {
    const float a = detail::bits_to_float(detail::float_to_bits(x) & detail::f32_abs_mask);
    // Sum of comparisons: compiles to compare+subtract chains that vectorize; NaN compares false.
    const int index = static_cast<int>(a > 0.25f) + static_cast<int>(a >= 0.75f) +
                      static_cast<int>(a > 1.25f) + static_cast<int>(a >= 1.75f) +
                      static_cast<int>(a > 2.5f) + static_cast<int>(a >= 3.5f) +
                      static_cast<int>(a > 5.0f);
    return static_cast<std::uint8_t>(index | (static_cast<int>(x < 0.0f) << 3));
  }
};

/// Value of float4_e2m1(x) (thresholds applied to x itself).
LLMC_HOST_DEVICE constexpr float round_to_float4_e2m1(float x) noexcept {
  return static_cast<float>(float4_e2m1(x));
}

/// Exactly compressed-tensors' eager cast_to_fp4 followed by the packer: x is first rounded to
/// bfloat16, then the thresholds and the sign rule apply. E.g. 0.2505f -> bf16 0.25 -> code 0x0,
/// whereas float4_e2m1(0.2505f) is 0x1.
LLMC_HOST_DEVICE constexpr float4_e2m1 ct_cast_to_fp4(float x) noexcept {
  return float4_e2m1(round_to_bfloat16(x));
}

static_assert(sizeof(float4_e2m1) == 1);
static_assert(float4_e2m1(6.0f).bits == 0x7u && float4_e2m1(-0.1f).bits == 0x8u);
static_assert(static_cast<float>(float4_e2m1::from_bits(0x5u)) == 3.0f);

}  // namespace llmc
