// Tests for float4_e2m1 (compressed-tensors thresholds, sign rule, saturation, decode) and for the
// MX scale rule mx_scale_from_absmax / float8_e8m0.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "llmc/numeric/e8m0.hpp"
#include "llmc/numeric/float4.hpp"
#include "llmc/numeric/float8.hpp"
#include "numeric/reference.hpp"

using llmc::float4_e2m1;
using llmc_test::bits_of;
using llmc_test::float_of;

namespace {

/// Independent FP4 model: nearest of {0, .5, 1, 1.5, 2, 3, 4, 6}, ties to the even index, anything
/// above 6 saturates to 6, sign bit iff x < 0 (torch.sign semantics), NaN -> 0.
std::uint8_t ref_fp4(float x) {
  static const double mags[8] = {0, 0.5, 1, 1.5, 2, 3, 4, 6};
  if (std::isnan(x)) return 0;
  const double a = std::fabs(static_cast<double>(x));
  int best = 7;
  if (a <= 6.0) {
    best = 0;
    for (int i = 1; i < 8; ++i) {
      const double d = std::fabs(a - mags[i]);
      const double db = std::fabs(a - mags[best]);
      if (d < db || (d == db && i % 2 == 0)) best = i;
    }
  }
  return static_cast<std::uint8_t>(best | (x < 0.0f ? 8 : 0));
}

}  // namespace

TEST_CASE("float4_e2m1: every compressed-tensors threshold and its float neighbours") {
  struct row {
    float threshold;
    std::uint8_t at, below, above;
  };
  // <=0.25 -> 0 | (0.25,0.75) -> 0.5 | [0.75,1.25] -> 1 | (1.25,1.75) -> 1.5 | [1.75,2.5] -> 2 |
  // (2.5,3.5) -> 3 | [3.5,5] -> 4 | >5 -> 6  (codes: index into {0,.5,1,1.5,2,3,4,6})
  const row rows[] = {
      {0.25f, 0, 0, 1}, {0.75f, 2, 1, 2}, {1.25f, 2, 2, 3}, {1.75f, 4, 3, 4},
      {2.5f, 4, 4, 5},  {3.5f, 6, 5, 6},  {5.0f, 6, 6, 7},
  };
  for (const row& r : rows) {
    CAPTURE(r.threshold);
    CHECK(float4_e2m1(r.threshold).bits == r.at);
    CHECK(float4_e2m1(std::nextafter(r.threshold, 0.0f)).bits == r.below);
    CHECK(float4_e2m1(std::nextafter(r.threshold, 100.0f)).bits == r.above);
    CHECK(float4_e2m1(-r.threshold).bits == (r.at | 8));
    CHECK(float4_e2m1(-std::nextafter(r.threshold, 0.0f)).bits == (r.below | 8));
    CHECK(float4_e2m1(-std::nextafter(r.threshold, 100.0f)).bits == (r.above | 8));
  }
}

TEST_CASE("float4_e2m1: sign, saturation, NaN") {
  CHECK(float4_e2m1(-0.1f).bits == 0x8u);   // small negative -> negative zero code
  CHECK(float4_e2m1(0.1f).bits == 0x0u);
  CHECK(float4_e2m1(0.0f).bits == 0x0u);
  CHECK(float4_e2m1(-0.0f).bits == 0x0u);   // torch.sign(-0.0) == +0: CT stores 0x0
  CHECK(float4_e2m1(6.0f).bits == 0x7u);
  CHECK(float4_e2m1(1e30f).bits == 0x7u);   // saturates
  CHECK(float4_e2m1(-7.0f).bits == 0xFu);
  CHECK(float4_e2m1(INFINITY).bits == 0x7u);
  CHECK(float4_e2m1(-INFINITY).bits == 0xFu);
  CHECK(float4_e2m1(std::numeric_limits<float>::quiet_NaN()).bits == 0x0u);  // documented choice
  CHECK(float4_e2m1(-std::numeric_limits<float>::quiet_NaN()).bits == 0x0u);
  CHECK(float4_e2m1::from_bits(0xF3u).bits == 0x3u);  // only the low nibble is kept
}

TEST_CASE("float4_e2m1: all 16 codes decode; positive codes round-trip") {
  const float expect[16] = {0, 0.5f, 1, 1.5f, 2, 3, 4, 6, -0.0f, -0.5f, -1, -1.5f, -2, -3, -4, -6};
  for (std::uint8_t c = 0; c < 16; ++c) {
    CAPTURE(int(c));
    const float v = static_cast<float>(float4_e2m1::from_bits(c));
    CHECK(bits_of(v) == bits_of(expect[c]));  // code 8 decodes to -0.0 (sign bit set)
    const std::uint8_t back = float4_e2m1(v).bits;
    CHECK(back == (c == 8 ? 0u : c));  // -0.0 re-encodes as 0x0 (x < 0 is false)
  }
}

TEST_CASE("float4_e2m1: agrees with nearest/ties-to-even-index on random and grid inputs") {
  std::vector<float> xs;
  // a 1/128 grid: every threshold and tie is on it, exactly
  for (int i = -1000; i <= 1000; ++i) xs.push_back(static_cast<float>(i) / 128.0f);
  std::mt19937 rng(7u);
  std::uniform_real_distribution<float> wide(-9.0f, 9.0f);
  for (int i = 0; i < 200000; ++i) xs.push_back(wide(rng));
  std::size_t bad = 0;
  float first = 0;
  for (const float x : xs) {
    if (float4_e2m1(x).bits != ref_fp4(x) && bad++ == 0) first = x;
  }
  CAPTURE(first);
  CHECK(bad == 0u);
}

TEST_CASE("float4_e2m1: ct_cast_to_fp4 rounds to bfloat16 before the thresholds") {
  CHECK(float4_e2m1(0.2505f).bits == 0x1u);
  CHECK(llmc::ct_cast_to_fp4(0.2505f).bits == 0x0u);   // bf16(0.2505) == 0.25 -> 0
  CHECK(llmc::ct_cast_to_fp4(-0.2505f).bits == 0x8u);
  CHECK(llmc::ct_cast_to_fp4(2.505f).bits == 0x4u);    // bf16(2.505) == 2.5 -> 2 (not 3)
  CHECK(float4_e2m1(2.505f).bits == 0x5u);
  CHECK(llmc::ct_cast_to_fp4(5.01f).bits == 0x6u);     // bf16(5.01) == 5.0 -> 4 (not 6!)
  CHECK(float4_e2m1(5.01f).bits == 0x7u);
  CHECK(llmc::ct_cast_to_fp4(float_of(0x80000001u)).bits == 0x0u);  // bf16 -> -0.0 -> +0 code
  CHECK(llmc::round_to_float4_e2m1(-2.7f) == -3.0f);
}

// ---- MX scales -------------------------------------------------------------------------------

namespace {

/// Independent model of CT's generate_mx_scales for a float32 absmax, in doubles and integers:
/// p2 = 2^E where E = floor(log2 a), bumped to E+1 when the significand a / 2^E is >= 1.75;
/// float32 subnormals (a < 2^-126) become 2^-126 when a >= 0.75 * 2^-126 and 0 otherwise;
/// p2 >= 2^128 is inf. Then e = 127 + log2(p2) - offset, clamped to [0, 255];
/// p2 = 0 -> 0; inf -> 255.
int ref_mx(float absmax, int offset) {
  const double a = static_cast<double>(absmax);
  if (std::isnan(a) || std::isinf(a)) return 255;
  if (a == 0.0) return 0;
  int log2p2;
  if (a < std::ldexp(1.0, -126)) {
    if (a < 0.75 * std::ldexp(1.0, -126)) return 0;  // p2 == 0, log2 = -inf
    log2p2 = -126;
  } else {
    int exp = 0;
    const double frac = std::frexp(a, &exp);  // a = frac * 2^exp, frac in [0.5, 1)
    log2p2 = exp - 1;
    if (frac * 2.0 >= 1.75) ++log2p2;
  }
  if (log2p2 >= 128) return 255;  // p2 overflowed to inf
  const int e = 127 + log2p2 - offset;
  return e < 0 ? 0 : (e > 255 ? 255 : e);
}

}  // namespace

TEST_CASE("mx_scale_from_absmax: hand-derived values from compressed-tensors' rule") {
  using llmc::mx_scale_from_absmax;
  const int fp4 = llmc::mx_element_max_exponent_v<llmc::float4_e2m1>;
  const int fp8 = llmc::mx_element_max_exponent_v<llmc::float8_e4m3fn>;
  CHECK(fp4 == 2);  // floor(log2(6))
  CHECK(fp8 == 8);  // floor(log2(448))
  // 6 = 1.5 * 2^2: significand bits 0x400000 + 0x200000 does not carry, p2 = 4, e = 127 + 2 - 2.
  CHECK(mx_scale_from_absmax(6.0f, fp4).bits == 127);
  // 7 = 1.75 * 2^2: 0x600000 + 0x200000 carries into the exponent, p2 = 8, e = 127 + 3 - 2.
  CHECK(mx_scale_from_absmax(7.0f, fp4).bits == 128);
  // Just below 7 the significand is < 1.75: p2 = 4 -> 127.
  CHECK(mx_scale_from_absmax(std::nextafter(7.0f, 0.0f), fp4).bits == 127);
  // 1.75 = 1.75 * 2^0 -> p2 = 2 -> 127 + 1 - 2 = 126; just below -> p2 = 1 -> 125.
  CHECK(mx_scale_from_absmax(1.75f, fp4).bits == 126);
  CHECK(mx_scale_from_absmax(std::nextafter(1.75f, 0.0f), fp4).bits == 125);
  // 4 -> p2 = 4 -> 127: the group max 4 is scaled by 1, stays <= 6.
  CHECK(mx_scale_from_absmax(4.0f, fp4).bits == 127);
  // FP8: 448 = 1.75 * 2^8 -> p2 = 512 -> 127 + 9 - 8 = 128; 1 -> 127 + 0 - 8 = 119.
  CHECK(mx_scale_from_absmax(448.0f, fp8).bits == 128);
  CHECK(mx_scale_from_absmax(1.0f, fp8).bits == 119);
  // absmax 0: p2 = 0, log2 = -inf, clamp -> 0.
  CHECK(mx_scale_from_absmax(0.0f, fp4).bits == 0);
  // 2^-120 -> 127 - 120 - 2 = 5; 2^-126 -> -1 -> clamped to 0.
  CHECK(mx_scale_from_absmax(0x1p-120f, fp4).bits == 5);
  CHECK(mx_scale_from_absmax(0x1p-126f, fp4).bits == 0);
  // Subnormals, seen with offset 0 so the clamp does not hide them: 0.75 * 2^-126 carries into
  // the exponent field (p2 = 2^-126, e = 1); anything smaller masks to 0 (e = 0).
  CHECK(mx_scale_from_absmax(0x1.8p-127f, 0).bits == 1);
  CHECK(mx_scale_from_absmax(std::nextafter(0x1.8p-127f, 0.0f), 0).bits == 0);
  // Huge: 2^127 -> 127 + 127 - 2 = 252 (FP4), 246 (FP8); 1.75 * 2^127 rounds to inf -> 255.
  CHECK(mx_scale_from_absmax(0x1p127f, fp4).bits == 252);
  CHECK(mx_scale_from_absmax(0x1p127f, fp8).bits == 246);
  CHECK(mx_scale_from_absmax(0x1.cp127f, fp4).bits == 255);
  CHECK(mx_scale_from_absmax(std::numeric_limits<float>::max(), fp4).bits == 255);
  CHECK(mx_scale_from_absmax(INFINITY, fp4).bits == 255);
  CHECK(mx_scale_from_absmax(std::numeric_limits<float>::quiet_NaN(), fp4).bits == 255);
  // A negative offset pushes large exponents past 255: clamped.
  CHECK(mx_scale_from_absmax(0x1p127f, -10).bits == 255);
  // bfloat16 input: same value, same answer.
  CHECK(mx_scale_from_absmax(llmc::bfloat16(7.0f), fp4).bits == 128);
}

TEST_CASE("mx_scale_from_absmax: float16 absmax rounds in float16 like CT") {
  using llmc::float16;
  using llmc::mx_scale_from_absmax;
  CHECK(mx_scale_from_absmax(float16(7.0f), 2).bits == 128);
  CHECK(mx_scale_from_absmax(float16(6.0f), 2).bits == 127);
  // 60000 = 1.83 * 2^15: in float16 the carry overflows the exponent -> inf -> 255 (float32: 141).
  CHECK(mx_scale_from_absmax(float16(60000.0f), 2).bits == 255);
  CHECK(mx_scale_from_absmax(60000.0f, 2).bits == 141);
  // 2^-20 is a float16 subnormal below 0.75 * 2^-14 -> p2 = 0 -> 0 (float32: 127 - 20 - 2 = 105).
  CHECK(mx_scale_from_absmax(float16(0x1p-20f), 2).bits == 0);
  CHECK(mx_scale_from_absmax(0x1p-20f, 2).bits == 105);
  // 0.75 * 2^-14 carries to 2^-14 -> 127 - 14 - 0 = 113 with offset 0.
  CHECK(mx_scale_from_absmax(float16(0x1.8p-15f), 0).bits == 113);
  CHECK(mx_scale_from_absmax(float16::from_bits(0x7E00u), 2).bits == 255);
}

TEST_CASE("mx_scale_from_absmax: agrees with an independent model over random magnitudes") {
  std::mt19937 rng(99u);
  std::uniform_int_distribution<std::uint32_t> bits(0u, 0x7FFFFFFFu);
  std::size_t bad = 0;
  std::uint32_t first = 0;
  for (int i = 0; i < 500000; ++i) {
    const float a = float_of(bits(rng));
    for (const int off : {2, 8, 0}) {
      if (llmc::mx_scale_from_absmax(a, off).bits != ref_mx(a, off) && bad++ == 0) {
        first = bits_of(a);
      }
    }
  }
  CAPTURE(first);
  CHECK(bad == 0u);
}

TEST_CASE("float8_e8m0: decode") {
  using llmc::float8_e8m0;
  CHECK(static_cast<float>(float8_e8m0::from_bits(127)) == 1.0f);
  CHECK(static_cast<float>(float8_e8m0::from_bits(128)) == 2.0f);
  CHECK(static_cast<float>(float8_e8m0::from_bits(119)) == 0x1p-8f);
  CHECK(static_cast<float>(float8_e8m0::from_bits(1)) == 0x1p-126f);
  CHECK(static_cast<float>(float8_e8m0::from_bits(0)) == 0x1p-127f);  // float32 subnormal
  CHECK(static_cast<float>(float8_e8m0::from_bits(254)) == 0x1p127f);
  CHECK(std::isnan(static_cast<float>(float8_e8m0::from_bits(255))));
  CHECK(float8_e8m0::from_bits(130).exponent() == 3);
  for (int b = 0; b < 255; ++b) {
    CHECK(static_cast<float>(float8_e8m0::from_bits(static_cast<std::uint8_t>(b))) ==
          std::ldexp(1.0f, b - 127));
  }
}
